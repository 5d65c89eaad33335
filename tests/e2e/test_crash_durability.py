"""Crash durability: ``kill -9`` the agent 50 times while it writes, and lose nothing.

One real ``upkeep run`` process after another on the same data dir, each killed with SIGKILL
at a random moment while:

- a real upsd + dummy-ups flips the UPS between on-line and on-battery (power events);
- a TCP service check flaps (incidents opening and closing) and another is always down
  (one incident that must stay open, the same one, across every restart);
- the notifier delivers those events to a webhook receiver (durable outbox);
- a client keeps recording attestations and incident notes through the API.

After every kill: ``PRAGMA integrity_check`` is ``ok``; every write the API acknowledged
(2xx) is there; nothing is there twice; the always-down system has exactly one open incident.
At the end a last agent delivers every event it owes. Separately: a full disk and a
read-only data dir give a clear error while ``/metrics`` keeps being served.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.alerts.stack import WebhookReceiver
from tests.nut_rig import NutRig, read_dev
from tests.support import AgentProcess, free_port, skip_unless_ci, wait_for

pytestmark = pytest.mark.slow

TOKEN = "crash-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KILLS = 50


class FlappingPort:
    """A TCP listener that comes and goes (a service that keeps crashing)."""

    def __init__(self, period: float = 2.0) -> None:
        self.port = free_port()
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flap", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                with contextlib.suppress(OSError):
                    sock.bind(("127.0.0.1", self.port))
                    sock.listen(16)
                self._stop.wait(self.period)
            self._stop.wait(self.period)

    def __enter__(self) -> FlappingPort:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class PowerFlipper:
    """OL <-> OB on the dummy-ups driver, about once a second (dummy-ups sees whole seconds)."""

    def __init__(self, rig: NutRig) -> None:
        self.rig = rig
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="power", daemon=True)

    def _run(self) -> None:
        on_battery = False
        while not self._stop.wait(1.1):
            on_battery = not on_battery
            with contextlib.suppress(Exception):
                self.rig.set("ups1", "ups.status", "OB DISCHRG" if on_battery else "OL",
                             wait=False)

    def __enter__(self) -> PowerFlipper:
        self._thread.start()
        return self

    def stop(self) -> str:
        """Stop flipping; the status the UPS is left in, once upsd serves it."""
        self._stop.set()
        self._thread.join(5)
        status = read_dev(self.rig.ups["ups1"])["ups.status"]
        self.rig.wait_value("ups1", "ups.status", status)
        return status

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


class Writer:
    """Keeps writing through the API; remembers what was acknowledged."""

    def __init__(self) -> None:
        self.url = ""
        self.incident: int | None = None
        self.attested: set[str] = set()
        self.noted: set[str] = set()
        self.attempts = 0
        self._n = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=3) as client:
            while not self._stop.is_set():
                if not self.url or self.incident is None:
                    time.sleep(0.05)
                    continue
                self._n += 1
                mark = f"mark-{self._n}"
                self.attempts += 1
                with contextlib.suppress(httpx.HTTPError):
                    answer = client.post(f"{self.url}/api/v1/checklist/attest", headers=AUTH,
                                         json={"control": "P11-WEB-02", "by": "tester",
                                               "evidence_url": f"https://evidence.test/{mark}",
                                               "note": mark})
                    if answer.status_code == 201:
                        self.attested.add(mark)
                with contextlib.suppress(httpx.HTTPError):
                    answer = client.post(f"{self.url}/api/v1/incidents/{self.incident}/notes",
                                         headers=AUTH, json={"text": mark})
                    if answer.status_code == 201:
                        self.noted.add(mark)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def check_database(path: Path, writer: Writer, dead_incident: int) -> dict[str, int]:
    """What must hold after every kill (read while no agent runs)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:  # opening recovers the WAL
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        notes = [r[0] for r in conn.execute(
            "SELECT note FROM checklist_attestation WHERE attested_by = 'tester'")]
        assert len(notes) == len(set(notes)), "an attestation was recorded twice"
        missing = writer.attested - set(notes)
        assert not missing, f"acknowledged attestations lost: {sorted(missing)[:5]}"
        texts = [json.loads(r[0]).get("text") for r in conn.execute(
            "SELECT payload FROM incident_event WHERE incident_id = ? AND kind = 'note'",
            (dead_incident,))]
        assert len(texts) == len(set(texts)), "a note was recorded twice"
        missing = writer.noted - set(texts)
        assert not missing, f"acknowledged notes lost: {sorted(missing)[:5]}"
        # the always-down system: one incident, still open, the same one
        rows = conn.execute("SELECT id, status FROM incident WHERE system = 'db'").fetchall()
        assert rows == [(dead_incident, "open")], rows
        # the flapping system: never two open at once
        open_erp = conn.execute("SELECT count(*) FROM incident WHERE system = 'erp' AND "
                                "status = 'open'").fetchone()[0]
        assert open_erp <= 1
        outbox = conn.execute("SELECT event_id, channel, count(*) FROM notify_outbox "
                              "GROUP BY event_id, channel HAVING count(*) > 1").fetchall()
        assert not outbox, f"an event queued twice: {outbox}"
        events = conn.execute("SELECT count(*) FROM ups_events").fetchone()[0]
        # the detector's writes on the flapping system: opened, restored, reopened ...
        transitions = conn.execute(
            "SELECT count(*) FROM incident_event e JOIN incident i ON i.id = e.incident_id "
            "WHERE i.system = 'erp' AND e.kind != 'note'").fetchone()[0]
    return {"events": events, "incident_transitions": transitions,
            "attestations": len(notes), "notes": len(texts)}


def stored_events(path: Path) -> set[str]:
    """The notification id of every power event in the database (readable while the agent
    runs: WAL)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {f"crash:{r[0]}" for r in conn.execute("SELECT id FROM ups_events")}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[NutRig]:
    nut = NutRig(tmp_path / "nut")
    nut.add_ups("ups1", {"ups.status": "OL", "battery.charge": "100",
                         "battery.runtime": "1800"})
    with nut:
        yield nut


# 50 agent starts: 140-155 s on the development machine, loaded or not; the suite's 300 s
# hang guard would cut it short on a machine half as fast
@pytest.mark.timeout(600)
def test_fifty_kills_lose_nothing(tmp_path: Path, rig: NutRig) -> None:
    dead_port = free_port()
    with FlappingPort() as flap, WebhookReceiver() as hook, Writer() as writer, \
            PowerFlipper(rig) as power:
        config = {
            "site": "crash",
            "web": {"api_token": TOKEN},
            "host": {"interval": "1s", "timeout": "800ms",
                     "services": {"ports": [{"name": "flappy", "port": flap.port},
                                            {"name": "dead", "port": dead_port}]}},
            "ups": [{"name": "rack", "nut": rig.nut_config("ups1", interval="500ms",
                                                            timeout="400ms")}],
            "systems": [{"name": "erp", "checks": ["service:flappy"]},
                        {"name": "db", "checks": ["service:dead"]}],
            # every outage its own incident: many incident writes in flight at kill time
            "policies": {"kpi": {"open_after": 1, "close_after": 1, "merge_gap": "100ms"}},
            "notify": {"webhooks": [{"url": hook.url, "timeout": "1s"}],
                       "retry": {"initial": "200ms", "max": "1s"}, "dedup_window": "1ms"},
        }
        (tmp_path / "agent").mkdir()
        agent = AgentProcess(tmp_path / "agent", config)
        db_path = Path(config.get("data_dir", agent.config["data_dir"])) / "upkeep.db"
        agent.start()
        dead_incident = wait_for(lambda: next(
            (i["id"] for i in agent.get("/api/v1/incidents", headers=AUTH).json()["incidents"]
             if i["system"] == "db"), None), timeout=20, message="the db system's incident")
        writer.incident = dead_incident
        rng = random.Random(10)
        stats: dict[str, int] = {}
        try:
            for _ in range(KILLS):
                writer.url = agent.url
                time.sleep(rng.uniform(0.2, 1.2))  # writes, polls, events in flight
                agent.kill9()
                writer.url = ""
                stats = check_database(db_path, writer, dead_incident)
                agent.start()
            # a last, calm life: the power stops flipping, and once the agent has seen the
            # UPS's final status no new event can appear; then everything owed is delivered.
            # (Without the calm, an event recorded just before the SIGTERM below is still
            # undelivered: stop() cancels the delivery loop, and the check fails.)
            writer.url = ""
            final = set(power.stop().split())
            wait_for(lambda: set(agent.targets()["nut:rack"]["info"]["status"]) == final,
                     timeout=15, message=f"the agent seeing the UPS settle at {final}")

            def delivered() -> bool:
                return stored_events(db_path) <= {p["id"] for p in hook.payloads}

            wait_for(delivered, timeout=30, message=f"every stored event delivered (got "
                     f"{len(hook.payloads)} payloads)")
        finally:
            agent.stop()
        stats = check_database(db_path, writer, dead_incident)
    log = agent.log_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 500:][:3000]
    # the run really exercised every kind of write, across the kills
    assert stats["events"] >= 10, stats
    assert stats["incident_transitions"] >= 10, stats
    assert len(writer.attested) >= KILLS and len(writer.noted) >= KILLS, (
        len(writer.attested), len(writer.noted))
    ids = [p["id"] for p in hook.payloads]
    stored = stored_events(db_path)
    assert stored <= set(ids), f"events never delivered: {sorted(stored - set(ids))[:5]}"
    # delivery is at-least-once: a kill between the POST and marking it sent repeats one
    # (receivers deduplicate on "id"); it must stay the exception, not the rule
    repeats = len(ids) - len(set(ids))
    assert repeats <= KILLS // 5, f"{repeats} repeated deliveries"


# --- full disk and read-only data dir ------------------------------------------------------

@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        skip_unless_ci("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                             str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        skip_unless_ci(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _attest(agent: AgentProcess, mark: str) -> httpx.Response:
    return httpx.post(f"{agent.url}/api/v1/checklist/attest", headers=AUTH, timeout=10,
                      json={"control": "P11-WEB-02", "by": "tester", "note": mark,
                            "evidence_url": f"https://evidence.test/{mark}"})


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()
    return filler


def _serving_metrics(agent: AgentProcess) -> None:
    answer = agent.get("/metrics", headers=AUTH)
    assert answer.status_code == 200 and "upkeep_up" in answer.text


def test_full_disk_is_a_clear_error_and_metrics_go_on(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "4m") as data:
        (tmp_path / "agent").mkdir()
        agent = AgentProcess(tmp_path / "agent", {"site": "full", "web": {"api_token": TOKEN},
                                                  "data_dir": str(data / "upkeep")})
        agent.start()
        try:
            assert _attest(agent, "before").status_code == 201
            filler = _fill(data)
            refused = _attest(agent, "while-full")
            assert refused.status_code == 503, (refused.status_code, refused.text)
            assert "full" in refused.text.lower(), refused.text
            _serving_metrics(agent)
            assert agent.proc is not None and agent.proc.poll() is None
            filler.unlink()  # space again: writes work again, without a restart
            assert _attest(agent, "after").status_code == 201
            _serving_metrics(agent)
        finally:
            agent.stop()
        assert "full" in agent.log_text().lower()
        with contextlib.closing(sqlite3.connect(data / "upkeep" / "upkeep.db")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            notes = {r[0] for r in conn.execute("SELECT note FROM checklist_attestation")}
        assert {"before", "after"} <= notes and "while-full" not in notes


def test_read_only_data_dir_is_a_clear_error_and_metrics_go_on(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "8m") as data:
        (tmp_path / "agent").mkdir()
        agent = AgentProcess(tmp_path / "agent", {"site": "ro", "web": {"api_token": TOKEN},
                                                  "data_dir": str(data / "upkeep")})
        agent.start()
        assert _attest(agent, "before").status_code == 201
        agent.stop()
        subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True)
        agent.start()
        try:
            health = agent.get("/healthz").json()
            assert health["database"] != "ok" and "read-only" in health["database"], health
            _serving_metrics(agent)
            refused = _attest(agent, "while-ro")
            assert refused.status_code == 503, (refused.status_code, refused.text)
            assert agent.proc is not None and agent.proc.poll() is None
        finally:
            agent.stop()
        log = agent.log_text()
        assert "read-only" in log and "Traceback" not in log, log[-3000:]
