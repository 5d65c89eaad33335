"""End to end, real processes: upsd + dummy-ups -> `upkeep run` -> Debian's prometheus (the
shipped rules, `for:` shortened in a test copy only) -> prometheus-alertmanager (the shipped
alertmanager.yml, receivers pointed here) -> a webhook receiver in this test.

Branch ``branch-a``: its UPS goes on battery and, as it would in a real power cut, its server
stops answering. ``UpsOnBattery`` for branch-a reaches the webhook; branch-a's ``HostDown`` is
inhibited (Alertmanager API v2 says ``suppressed`` and it is never notified) while ``hq``'s
``HostDown`` pages normally. The server comes back, mains returns: the resolved notification
of ``UpsOnBattery`` arrives. Cause and effect are ordered by waiting on Alertmanager, not by
the shortened ``for:`` timers alone (their gaps are below a second at this scale).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.alerts.stack import (
    ALERTS,
    SmtpSink,
    WebhookReceiver,
    alertmanager_config,
    am_alerts,
    running_alertmanager,
    running_prometheus,
    states,
)
from tests.nut_rig import NutRig
from tests.support import AgentProcess, free_port, wait_for

pytestmark = pytest.mark.slow

#: `for:` in the test copy = the shipped one / 30 (1m -> 2s, 2m -> 4s: the order is kept)
SCALE = 30
#: keep_firing_for in the test copy (10m shipped)
KEEP_FIRING = "3s"
_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(text: str) -> float:
    match = _DURATION.match(str(text))
    assert match, f"unexpected duration {text!r}"
    return int(match.group(1)) * _SECONDS[match.group(2)]


def shortened_rules(target: Path) -> list[str]:
    """Copies of alerts/*.rules.yml with every for: divided by SCALE; returns the paths."""
    target.mkdir()
    paths = []
    for path in sorted(ALERTS.glob("*.rules.yml")):
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "for" in rule and seconds(rule["for"]) > 0:
                    rule["for"] = f"{max(1, round(seconds(rule['for']) / SCALE))}s"
                if "keep_firing_for" in rule:
                    rule["keep_firing_for"] = KEEP_FIRING
        out = target / path.name
        out.write_text(yaml.safe_dump(doc, allow_unicode=True))
        paths.append(str(out))
    return paths


class HostStub:
    """A server's metrics endpoint that can be switched off (its power fails) and on again."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = b"# TYPE stub_up gauge\nstub_up 1\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None


@pytest.fixture
def host() -> Iterator[HostStub]:
    stub = HostStub()
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()


def query(prom: str, promql: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prom}/api/v1/query", params={"query": promql}, timeout=5)
    response.raise_for_status()
    return list(response.json()["data"]["result"])


def test_power_failure_pages_once_and_resolves(tmp_path: Path, host: HostStub) -> None:
    rig = NutRig(tmp_path / "nut")
    rig.add_ups("ups1", {"ups.status": "OL CHRG", "battery.charge": "100",
                         "battery.runtime": "1800", "ups.load": "20"})
    dead_hq = free_port()  # nothing listens: hq's server is down throughout (the control)
    with rig, WebhookReceiver() as hook, SmtpSink() as smtp:
        (tmp_path / "agent").mkdir()
        agent = AgentProcess(tmp_path / "agent", {
            "site": "branch-a", "host": {"interval": "30s", "timeout": "10s"},
            "ups": [{"name": "rack", "nut": {"host": "127.0.0.1", "port": rig.port,
                                             "ups": "ups1", "interval": "500ms",
                                             "timeout": "400ms"}}]}).start()
        try:
            am_tmp = tmp_path / "am"
            am_tmp.mkdir()
            with running_alertmanager(am_tmp, alertmanager_config(hook.url, smtp.port)) as am:
                am_port = am.rsplit(":", 1)[1]
                prom_config = {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                               "scrape_timeout": "900ms"},
                    "rule_files": shortened_rules(tmp_path / "rules"),
                    "alerting": {"alertmanagers": [
                        {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                    "scrape_configs": [
                        {"job_name": "upkeep", "static_configs": [
                            {"targets": [f"127.0.0.1:{agent.port}"],
                             "labels": {"site": "branch-a"}}]},
                        {"job_name": "upkeep-hosts", "static_configs": [
                            {"targets": [f"127.0.0.1:{host.port}"],
                             "labels": {"site": "branch-a"}},
                            {"targets": [f"127.0.0.1:{dead_hq}"], "labels": {"site": "hq"}}]},
                        # hq's site agent answers (Alertmanager's own /metrics stands in), so
                        # hq is not "unreachable" as a whole: its HostDown must page
                        {"job_name": "upkeep-central", "static_configs": [
                            {"targets": [f"127.0.0.1:{am_port}"], "labels": {"site": "hq"}}]},
                    ],
                }
                prom_tmp = tmp_path / "prom"
                prom_tmp.mkdir()
                with running_prometheus(prom_tmp, prom_config) as prom:
                    run_scenario(rig, agent, host, hook, am, prom)
            # critical also goes by mail to the admins (the example's second route)
            assert any("UpsOnBattery" in str(m["Subject"]) and "branch-a" in str(m["Subject"])
                       for m in smtp.messages)
        finally:
            agent.stop()


def run_scenario(rig: NutRig, agent: AgentProcess, host: HostStub, hook: WebhookReceiver,
                 am: str, prom: str) -> None:
    on_battery = 'upkeep_ups_status{flag="OB", site="branch-a", ups="rack"}'
    wait_for(lambda: [r["value"][1] for r in query(prom, on_battery)] == ["0"], 20,
             message="Prometheus scraping the agent's UPS, on line")
    assert not [a for a in hook.alerts() if a[2] == "branch-a"]

    # the power fails at branch-a: the UPS goes on battery, the server dies with it. The
    # server is stopped once Alertmanager holds UpsOnBattery: inhibition needs the cause there
    # before the effect's group flushes. In production `for:` 1m vs 2m plus group_wait 30s
    # give that order; at 1/30 scale the margin is under a second (1 s scrapes, 1 s
    # evaluations, 0.5 s polls, 1 s group_wait), which a loaded machine loses.
    rig.set_many("ups1", {"ups.status": "OB DISCHRG", "battery.charge": "90"})
    wait_for(lambda: states(am_alerts(am), alertname="UpsOnBattery", site="branch-a")
             == ["active"], 20, message="UpsOnBattery/branch-a in Alertmanager")
    host.stop()
    wait_for(lambda: ("firing", "UpsOnBattery", "branch-a") in hook.alerts(), 20,
             message="UpsOnBattery/branch-a at the webhook")
    # hq's dead server pages meanwhile: HostDown reaches the webhook when nothing inhibits it
    wait_for(lambda: ("firing", "HostDown", "hq") in hook.alerts(), 20,
             message="HostDown/hq notified")
    # pages are grouped per alert name and region (one page for a dark region); this test's
    # sites carry no region, so the group is the alert name alone
    payload = next(p for p in hook.payloads
                   if p["groupLabels"].get("alertname") == "UpsOnBattery"
                   and p["commonLabels"].get("site") == "branch-a")
    [alert] = payload["alerts"]
    assert alert["labels"]["ups"] == "rack" and alert["labels"]["severity"] == "critical"
    assert alert["labels"]["job"] == "upkeep" and alert["labels"]["flag"] == "OB"
    assert alert["annotations"]["summary"] == "UPS is running on battery."
    assert alert["annotations"]["runbook_url"].endswith("#upsonbattery")
    assert payload["receiver"] == "oncall-webhook" and payload["version"] == "4"

    # branch-a's HostDown fires in Prometheus and is inhibited in Alertmanager
    def inhibited() -> bool:
        held = am_alerts(am)
        return states(held, alertname="HostDown", site="branch-a") == ["suppressed"]

    wait_for(inhibited, 20, message="HostDown/branch-a suppressed in Alertmanager")
    held = am_alerts(am)
    [host_down] = [a for a in held if a["labels"]["alertname"] == "HostDown"
                   and a["labels"]["site"] == "branch-a"]
    assert host_down["status"]["inhibitedBy"], host_down
    assert states(held, alertname="UpsOnBattery", site="branch-a") == ["active"]
    assert states(held, alertname="HostDown", site="hq") == ["active"]
    time.sleep(2)  # two more group intervals: still not notified
    assert ("firing", "HostDown", "branch-a") not in hook.alerts()

    # the server is back (the effect goes first: once UpsOnBattery resolves, nothing inhibits
    # a HostDown still held in Alertmanager, and keep_firing_for is only 3 s in the test),
    # then mains returns: the resolved notification arrives
    host.start()
    wait_for(lambda: states(am_alerts(am), alertname="HostDown", site="branch-a") == [], 20,
             message="HostDown/branch-a gone from Alertmanager")
    rig.set_many("ups1", {"ups.status": "OL CHRG", "battery.charge": "91"})
    wait_for(lambda: ("resolved", "UpsOnBattery", "branch-a") in hook.alerts(), 30,
             message="resolved UpsOnBattery/branch-a at the webhook")
    # branch-a's host-down never paged, neither while inhibited nor after
    assert ("firing", "HostDown", "branch-a") not in hook.alerts()
    assert ("firing", "HostDown", "hq") in hook.alerts()
