"""The agent's power-event notifier, in process: the real state store, event recorder, SQLite
outbox and notifier, delivering to a real HTTP receiver, a real SMTP server (aiosmtpd, also
with STARTTLS + AUTH and a trustme certificate) and a real command.

The agent running as a process, restarted while a receiver is down, is in
test_notify_restart.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from tests.alerts.stack import SmtpSink, WebhookReceiver
from tests.support import free_port
from upkeep.agents import events as events_mod
from upkeep.agents import notify as notify_mod
from upkeep.agents.notify import Notifier, backoff
from upkeep.agents.notify_templates import document, render
from upkeep.agents.runtime import Agent
from upkeep.config import ConfigError, parse_config
from upkeep.events import Event
from upkeep.kit.thai import to_bangkok
from upkeep.reading import Reading

# 2026-11-25 07:05:09 UTC = 14:05:09 in Bangkok, 25 Nov 2569 BE
WHEN = datetime(2026, 11, 25, 7, 5, 9, tzinfo=UTC).timestamp()


# --- pure parts -----------------------------------------------------------------------------

def test_messages_in_thai_and_english() -> None:
    event = Event("rack", "on_battery", WHEN, {"battery_charge": 0.8, "battery_runtime": 1500,
                                               "status": ["DISCHRG", "OB"]}, "nut", 7)
    th = render(event, "branch-a", "th")
    assert th.title == "UPS rack ที่ branch-a กำลังใช้ไฟจากแบตเตอรี่"
    assert "เวลา: 25 พ.ย. 2569 14:05:09 (เวลาประเทศไทย)" in th.body
    assert "ประจุแบตเตอรี่: 80%" in th.body
    assert "เวลาสำรองที่เหลือ: 0 ชั่วโมง 25 นาที" in th.body
    en = render(event, "branch-a", "en")
    assert en.title == "UPS rack at site branch-a is on battery"
    assert "Time: 25 Nov 2026 14:05:09 (Bangkok time)" in en.body
    assert "Battery charge: 80%" in en.body and "Runtime left: 0 h 25 min" in en.body
    both = render(event, "branch-a", "both")
    assert both.title == f"{th.title} | {en.title}"
    assert both.body.index("ประจุ") < both.body.index("Battery charge")
    doc = document(event, "branch-a", "en")
    assert doc["id"] == "branch-a:7" and doc["upsmon"] == "ONBATT"
    assert doc["severity"] == "critical" and doc["time"] == "2026-11-25T07:05:09+00:00"
    assert doc["text"] == en.body and doc["th"]["title"] == th.title
    lost = render(Event("rack", "comm_lost", WHEN, {"reason": "stale", "message": "DATA-STALE"}),
                  "hq", "en")
    assert lost.title == "Lost communication with UPS rack at site hq"
    assert "Reason: stale (DATA-STALE)" in lost.body


def test_backoff_doubles_up_to_the_maximum() -> None:
    assert [backoff(n, 5, 60) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


def test_config_errors_are_clear() -> None:
    def problems(notify: dict[str, Any]) -> str:
        with pytest.raises(ConfigError) as err:
            parse_config(yaml.safe_dump({"notify": notify}))
        return str(err.value.problems)

    assert "http:// or https://" in problems({"webhooks": [{"url": "ftp://x/"}]})
    assert "not both" in problems({"email": {"host": "m", "from": "a@b", "to": ["c@d"],
                                             "starttls": True, "tls": True}})
    assert "unknown event kinds ['power_cut']" in problems({"events": ["power_cut"],
                                                            "command": {"argv": ["x"]}})
    assert "max must not be shorter" in problems({"retry": {"initial": "1m", "max": "5s"}})
    config = parse_config(yaml.safe_dump({"notify": {"email": {
        "host": "m", "from": "a@b", "to": ["c@d"], "username": "u", "password": "s3cret"}}}))
    assert config.notify.email is not None and config.notify.email.from_ == "a@b"
    assert "s3cret" not in repr(config.notify)


# --- in process: store -> recorder -> notifier -> receivers ---------------------------------

class Harness:
    """A real Agent's store and database with the events recorder and the notifier started."""

    def __init__(self, tmp: Path, notify: dict[str, Any], site: str = "branch-a") -> None:
        self.config = parse_config(yaml.safe_dump(
            {"site": site, "data_dir": str(tmp / "data"), "notify": notify}))
        self.agent = Agent(self.config)
        self.notifier: Notifier | None = None

    async def __aenter__(self) -> Harness:
        self.agent.open_database()
        recorder = events_mod.factory(self.agent)
        assert recorder is not None
        await recorder.start(self.agent)
        self.agent.services.append(recorder)
        await self.start_notifier()
        return self

    async def start_notifier(self) -> Notifier:
        notifier = notify_mod.factory(self.agent)
        assert notifier is not None
        await notifier.start(self.agent)
        self.agent.services.append(notifier)
        self.notifier = notifier
        return notifier

    async def stop_notifier(self) -> None:
        assert self.notifier is not None
        await self.notifier.stop()
        self.agent.services.remove(self.notifier)
        self.notifier = None

    async def __aexit__(self, *exc: object) -> None:
        for service in reversed(self.agent.services):
            await service.stop()
        assert self.agent.db is not None
        self.agent.db.close()

    def ups(self, *status: str, ok: bool = True, ups: str = "rack", **info: Any) -> None:
        self.agent.store.put(Reading("nut", ups, time.time(), ok, reason="" if ok else "stale",
                                     info={"status": list(status), **info}))

    def rows(self) -> list[dict[str, Any]]:
        assert self.notifier is not None
        return self.notifier.outbox.rows()


async def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def events_of(hook: WebhookReceiver) -> list[tuple[str, str]]:
    return [(p["ups"], p["event"]) for p in hook.payloads]


COMMAND = """
import json, os, sys
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps({"argv": sys.argv[2:], "type": os.environ["NOTIFYTYPE"],
                          "ups": os.environ["UPSNAME"], "site": os.environ["UPKEEP_SITE"]},
                         ensure_ascii=False) + "\\n")
"""


def test_power_event_reaches_webhook_mail_and_command(tmp_path: Path) -> None:
    script = tmp_path / "notify.py"
    script.write_text(COMMAND)
    calls = tmp_path / "calls.jsonl"

    async def scenario(hook: WebhookReceiver, smtp: SmtpSink) -> None:
        notify = {"language": "both",
                  "webhooks": [{"url": hook.url, "headers": {"Authorization": "Bearer tok-123"}}],
                  "email": {"host": "127.0.0.1", "port": smtp.port, "starttls": False,
                            "from": "upkeep@branch-a.example", "to": ["it@example.invalid"]},
                  "command": {"argv": [sys.executable, str(script), str(calls)]}}
        async with Harness(tmp_path, notify) as h:
            h.ups("OL", "CHRG")
            h.ups("OB", "DISCHRG", battery_charge=0.9, battery_runtime=1200)
            await until(lambda: hook.payloads and smtp.messages and calls.exists(), what="3 ways")
            await until(lambda: all(r["state"] == "sent" for r in h.rows()), what="all sent")
            assert len(h.rows()) == 3
            series = {(s.metric, s.labels["channel"]): s.value for s in h.notifier.samples()}
            assert series[("upkeep_notify_sent_total", "email")] == 1
            assert series[("upkeep_notify_pending", "command")] == 0

    with WebhookReceiver() as hook, SmtpSink() as smtp:
        asyncio.run(scenario(hook, smtp))

    [payload] = hook.payloads
    assert payload["event"] == "on_battery" and payload["site"] == "branch-a"
    assert payload["ups"] == "rack" and payload["details"]["battery_charge"] == 0.9
    assert "กำลังใช้ไฟจากแบตเตอรี่" in payload["title"] and "is on battery" in payload["title"]
    _, headers, _ = hook.requests[0]
    assert headers["Authorization"] == "Bearer tok-123"
    assert headers["Idempotency-Key"] == f"upkeep-branch-a-{payload['id'].split(':')[1]}"

    [mail] = smtp.messages
    assert smtp.envelopes[0] == ("upkeep@branch-a.example", ["it@example.invalid"])
    subject = str(mail["Subject"])
    assert "UPS rack ที่ branch-a กำลังใช้ไฟจากแบตเตอรี่" in subject
    assert "UPS rack at site branch-a is on battery" in subject
    body = mail.get_payload(decode=True).decode("utf-8")
    # the Thai block dates in the BE, by Bangkok's clock (not the test machine's UTC: a year
    # apart from 17:00 UTC on 31 December)
    assert f" {to_bangkok(time.time()).year + 543} " in body
    assert "Battery charge: 90%" in body and "ประจุแบตเตอรี่: 90%" in body

    [call] = [json.loads(line) for line in calls.read_text().splitlines()]
    assert call["type"] == "ONBATT" and call["ups"] == "rack" and call["site"] == "branch-a"
    assert "is on battery" in call["argv"][-1]


def test_receiver_down_retries_with_backoff_then_delivers_in_order(tmp_path: Path) -> None:
    async def scenario(hook: WebhookReceiver) -> None:
        notify = {"language": "en", "webhooks": [{"url": hook.url, "timeout": "2s"}],
                  "retry": {"initial": "200ms", "max": "400ms"}}
        async with Harness(tmp_path, notify) as h:
            hook.fail = True
            h.ups("OL")
            h.ups("OB", "DISCHRG")
            h.ups("OB", "DISCHRG", "LB")
            h.ups("OL", "CHRG")
            await until(lambda: any(r["attempts"] >= 4 for r in h.rows()), what="retries")
            rows = h.rows()
            # only the head of the queue is tried while the receiver is down
            assert [r["kind"] for r in rows] == ["on_battery", "low_battery", "on_line"]
            assert rows[0]["attempts"] >= 4 and rows[1]["attempts"] == rows[2]["attempts"] == 0
            assert rows[0]["last_error"] == "HTTP 503"
            assert {r["state"] for r in rows} == {"pending"}
            samples = {s.metric: s.value for s in h.notifier.samples()}
            assert samples["upkeep_notify_pending"] == 3
            assert samples["upkeep_notify_failures_total"] >= 4
            hook.fail = False
            await until(lambda: len(hook.payloads) == 3, what="delivery after recovery")
            await until(lambda: all(r["state"] == "sent" for r in h.rows()), what="marked")

    with WebhookReceiver() as hook:
        started = time.monotonic()
        asyncio.run(scenario(hook))
    assert events_of(hook) == [("rack", "on_battery"), ("rack", "low_battery"),
                               ("rack", "on_line")]
    assert time.monotonic() - started < 10


def test_repeats_within_the_dedup_window_are_sent_once(tmp_path: Path) -> None:
    async def scenario(hook: WebhookReceiver) -> None:
        notify = {"language": "en", "webhooks": [{"url": hook.url}], "dedup_window": "1h"}
        async with Harness(tmp_path, notify) as h:
            h.ups("OL")
            h.ups("OB")
            h.ups("OFF")       # leaves battery without "back on line"
            h.ups("OB")        # the same news again, minutes later: not sent twice
            await until(lambda: len(h.rows()) == 2, what="two rows")
            assert [r["state"] for r in h.rows()][1] == "suppressed"
            # the same recorded event handed over twice (listener and catch-up) queues once
            assert h.notifier is not None
            again = h.notifier.outbox.missed_events(0)[0]
            h.notifier.take(again)
            assert len(h.rows()) == 2
            h.ups("OL")        # a different event is sent at once
            await until(lambda: len(hook.payloads) == 2, what="on_line")
            await asyncio.sleep(0.3)

    with WebhookReceiver() as hook:
        asyncio.run(scenario(hook))
    assert events_of(hook) == [("rack", "on_battery"), ("rack", "on_line")]


def test_only_the_configured_event_kinds_are_sent(tmp_path: Path) -> None:
    async def scenario(hook: WebhookReceiver) -> None:
        notify = {"webhooks": [{"url": hook.url}], "events": ["on_battery", "low_battery"]}
        async with Harness(tmp_path, notify) as h:
            h.ups("OL")
            h.ups("OB")
            h.ups("OL")
            h.ups("OB", "LB")
            # on_line is not wanted, so the second outage repeats the last news sent: suppressed.
            # (The receiver holds a payload before the agent has its answer and marks the row
            # sent: wait for the rows, not for the payloads.)
            expected = [("on_battery", "sent"), ("on_battery", "suppressed"),
                        ("low_battery", "sent")]
            await until(lambda: [(r["kind"], r["state"]) for r in h.rows()] == expected,
                        what=f"rows {expected}")
            await asyncio.sleep(0.3)  # room for a wrong extra delivery, checked below

    with WebhookReceiver() as hook:
        asyncio.run(scenario(hook))
    assert events_of(hook) == [("rack", "on_battery"), ("rack", "low_battery")]


def test_a_permanent_refusal_is_dropped_without_blocking_the_queue(tmp_path: Path) -> None:
    async def scenario(hook: WebhookReceiver) -> None:
        notify = {"language": "en", "webhooks": [{"url": hook.url + "?token=SECRET-TOKEN"}],
                  "retry": {"initial": "100ms", "max": "200ms"}}
        async with Harness(tmp_path, notify) as h:
            hook.server.RequestHandlerClass.do_POST = _answer_400_once(hook)  # type: ignore[attr-defined]
            h.ups("OL")
            h.ups("OB")
            h.ups("OL")
            await until(lambda: [r["state"] for r in h.rows()] == ["dropped", "sent"],
                        what="first dropped, second sent")
            assert h.rows()[0]["last_error"] == "HTTP 400"

    with WebhookReceiver() as hook:
        asyncio.run(scenario(hook))
    assert [path for path, _, _ in hook.requests] == ["/hook?token=SECRET-TOKEN"]


def _answer_400_once(hook: WebhookReceiver) -> Callable[[Any], None]:
    original = hook.server.RequestHandlerClass.do_POST  # type: ignore[attr-defined]
    state = {"refused": False}

    def do_post(handler: Any) -> None:
        if not state["refused"]:
            state["refused"] = True
            handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
            handler.send_response(400)
            handler.end_headers()
            return
        original(handler)

    return do_post


def test_old_finished_rows_are_pruned_and_the_counters_keep_counting(tmp_path: Path) -> None:
    async def scenario(hook: WebhookReceiver) -> None:
        notify = {"language": "en", "webhooks": [{"url": hook.url}], "dedup_window": "1h",
                  "keep_history": "2d", "retry": {"initial": "100ms", "max": "200ms"}}
        async with Harness(tmp_path, notify) as h:
            assert h.notifier is not None
            hook.server.RequestHandlerClass.do_POST = _answer_400_once(hook)  # type: ignore[attr-defined]
            h.ups("OL")
            h.ups("OB")        # refused for good: dropped
            h.ups("OL")        # sent
            h.ups("OB")        # sent
            h.ups("OFF")
            h.ups("OB")        # a repeat: suppressed
            await until(lambda: [r["state"] for r in h.rows()] == [
                "dropped", "sent", "sent", "suppressed"], what="four finished rows")

            def totals() -> dict[str, float]:
                assert h.notifier is not None
                return {s.metric: s.value for s in h.notifier.samples()}

            before = totals()
            assert before["upkeep_notify_sent_total"] == 2
            assert before["upkeep_notify_dropped_total"] == 1
            assert before["upkeep_notify_failures_total"] == 1
            hook.fail = True
            h.ups("OL")        # stays pending while the receiver is down
            await until(lambda: any(r["attempts"] for r in h.rows()
                                    if r["state"] == "pending"), what="a pending retry")
            # nothing is young enough to go yet...
            assert h.notifier.prune(time.time()) == 0
            # ...two days and a bit later every finished row goes, the pending one stays
            assert h.notifier.prune(time.time() + 2 * 86400 + 60) == 4
            assert [(r["kind"], r["state"]) for r in h.rows()] == [("on_line", "pending")]
            after = totals()
            assert after["upkeep_notify_sent_total"] == 2
            assert after["upkeep_notify_dropped_total"] == 1
            assert after["upkeep_notify_failures_total"] >= 2
            assert after["upkeep_notify_pending"] == 1
            # the totals are kept in the database: a restarted notifier reports the same
            await h.stop_notifier()
            await h.start_notifier()
            hook.fail = False
            await until(lambda: h.rows() and h.rows()[0]["state"] == "sent", what="delivered")
            restarted = totals()
            assert restarted["upkeep_notify_sent_total"] == 3
            assert restarted["upkeep_notify_dropped_total"] == 1

    with WebhookReceiver() as hook:
        asyncio.run(scenario(hook))
    assert events_of(hook) == [("rack", "on_line"), ("rack", "on_battery"), ("rack", "on_line")]


def test_keep_history_must_outlast_the_dedup_window() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(yaml.safe_dump({"notify": {"command": {"argv": ["x"]},
                                                "dedup_window": "2h", "keep_history": "1h"}}))
    assert "keep_history must be longer than dedup_window" in str(err.value.problems)
    config = parse_config(yaml.safe_dump({"notify": {"command": {"argv": ["x"]}}}))
    assert config.notify.keep_history == 90 * 86400


def test_events_recorded_while_the_notifier_was_away_are_sent(tmp_path: Path) -> None:
    async def scenario(hook: WebhookReceiver) -> None:
        notify = {"language": "en", "webhooks": [{"url": hook.url}]}
        async with Harness(tmp_path, notify) as h:
            h.ups("OL")
            await h.stop_notifier()      # as if it crashed between the recorder and the queue
            h.ups("OB")
            h.ups("OB", "LB")
            assert hook.payloads == []
            await h.start_notifier()
            await until(lambda: len(hook.payloads) == 2, what="catch-up")

    with WebhookReceiver() as hook:
        asyncio.run(scenario(hook))
    assert events_of(hook) == [("rack", "on_battery"), ("rack", "low_battery")]


def test_history_before_the_first_start_is_not_sent(tmp_path: Path) -> None:
    async def scenario(hook: WebhookReceiver) -> None:
        async with Harness(tmp_path, {"webhooks": [{"url": hook.url}]}) as h:
            await h.stop_notifier()
            h.ups("OB")
            h.ups("OL")
        # a new agent with notifications configured for the first time, on an old database
        db = tmp_path / "data" / "upkeep.db"
        assert db.exists()
        import contextlib
        import sqlite3

        # `with connect()` alone commits but never closes (a ResourceWarning since 3.13)
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("DELETE FROM notify_state")
        async with Harness(tmp_path, {"webhooks": [{"url": hook.url}]}) as h:
            await asyncio.sleep(0.3)
            h.ups("OB")
            await until(lambda: len(hook.payloads) == 1, what="only the new event")

    with WebhookReceiver() as hook:
        asyncio.run(scenario(hook))
    assert events_of(hook) == [("rack", "on_battery")]


def test_mail_refused_for_good_is_dropped_refused_for_now_is_retried(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    class Picky:
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                              address: str, options: Any) -> str:
            if address.startswith("gone@"):
                return "550 5.1.1 no such mailbox"
            if address.startswith("full@"):
                return "452 4.2.2 mailbox full, try later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    controller = Controller(Picky(), hostname="127.0.0.1", port=free_port())

    async def scenario(to: str) -> list[dict[str, Any]]:
        notify = {"email": {"host": "127.0.0.1", "port": controller.port, "starttls": False,
                            "from": "upkeep@example.invalid", "to": [to], "timeout": "2s"},
                  "retry": {"initial": "100ms", "max": "200ms"}}
        async with Harness(tmp_path / to.split("@")[0], notify) as h:
            h.ups("OL")
            h.ups("OB")
            # the event is queued once the writer thread committed it
            await until(lambda: h.rows() and (h.rows()[0]["state"] == "dropped"
                                              or h.rows()[0]["attempts"] >= 2),
                        what="a verdict")
            return h.rows()

    controller.start()
    try:
        gone = asyncio.run(scenario("gone@example.invalid"))
        full = asyncio.run(scenario("full@example.invalid"))
    finally:
        controller.stop()
    assert gone[0]["state"] == "dropped" and "550" in gone[0]["last_error"]
    assert full[0]["state"] == "pending" and "452" in full[0]["last_error"]


# --- e-mail with STARTTLS and AUTH, and no secret in the logs -------------------------------

class AuthSmtp(SmtpSink):
    """aiosmtpd demanding STARTTLS (trustme certificate) and AUTH as upkeep / ``password``."""

    def __init__(self, ca: trustme.CA, password: str) -> None:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                          auth_data: Any) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"upkeep" and \
                auth_data.password == password.encode()
            return AuthResult(success=ok)

        super().__init__(tls_context=context, require_starttls=True,
                         authenticator=authenticator, auth_required=True)


def test_starttls_and_login_and_no_secret_in_logs(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    caplog.set_level(logging.DEBUG)

    async def scenario(smtp: AuthSmtp, password: str) -> list[dict[str, Any]]:
        notify = {"language": "th",
                  "email": {"host": "127.0.0.1", "port": smtp.port, "starttls": True,
                            "ca_file": str(ca_file), "username": "upkeep",
                            "password": password, "from": "upkeep@example.invalid",
                            "to": ["oncall@example.invalid"], "timeout": "1s"},
                  "retry": {"initial": "100ms", "max": "200ms"}}
        async with Harness(tmp_path / password, notify) as h:
            h.ups("OL")
            h.ups("OB")
            if password == "right-pass-42":
                await until(lambda: smtp.messages, what="mail over STARTTLS")
            else:
                await until(lambda: h.rows() and h.rows()[0]["attempts"] >= 2, 20,
                            what="auth retries")
            return h.rows()

    with AuthSmtp(ca, "right-pass-42") as smtp:
        rows = asyncio.run(scenario(smtp, "right-pass-42"))
        assert smtp.messages[0]["Subject"] == "[upkeep] UPS rack ที่ branch-a กำลังใช้ไฟจากแบตเตอรี่"
        rows = asyncio.run(scenario(smtp, "wrong-pass-77"))
        # refused (535), or smtplib's fallback to AUTH LOGIN timing out: retried either way
        assert rows[0]["state"] == "pending" and rows[0]["last_error"], rows
        assert len(smtp.messages) == 1
    assert "right-pass-42" not in caplog.text and "wrong-pass-77" not in caplog.text
