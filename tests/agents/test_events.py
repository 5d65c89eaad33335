"""Power events: transitions (pure), the recorder on a real SQLite file, restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from upkeep.agents.api_events import parse_time
from upkeep.agents.events import EventRecorder, UpsState, transition
from upkeep.events import Event
from upkeep.kit.db import Database
from upkeep.reading import Reading


def ok(t: float, *flags: str, kind: str = "nut", ups: str = "rack", **info: Any) -> Reading:
    return Reading(kind, ups, t, True, info={"status": list(flags), **info})


def down(t: float, reason: str = "stale", ups: str = "rack") -> Reading:
    return Reading("nut", ups, t, False, reason=reason, message=f"upsd: ERR {reason}")


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def test_power_failure_sequence() -> None:
    state, events, _ = transition("rack", None, ok(0, "OL", "CHRG"))
    assert events == []
    steps = [(ok(10, "OB", "DISCHRG", battery_charge=0.9), ["on_battery"]),
             (ok(20, "OB", "DISCHRG", "LB"), ["low_battery"]),
             (ok(30, "OB", "DISCHRG", "LB", "FSD"), ["forced_shutdown"]),
             (ok(40, "OL", "CHRG"), ["on_line"]),
             (ok(50, "OL", "CHRG", "RB"), ["replace_battery"]),
             (ok(60, "OL", "RB"), []),
             (down(70), ["comm_lost"]),
             (down(80), []),
             (ok(90, "OL"), ["comm_restored"])]
    for reading, expected in steps:
        state, events, _ = transition("rack", state, reading)
        assert kinds(events) == expected, reading
    assert state.on_battery_seconds == 30  # 10 -> 40
    assert state.changes["OB"] == 2 and state.changes["LB"] == 2 and state.changes["FSD"] == 2


def test_first_sight_on_battery_fires_but_not_on_line() -> None:
    _, events, _ = transition("rack", None, ok(0, "OB", "LB"))
    assert kinds(events) == ["on_battery", "low_battery"]
    _, events, _ = transition("rack", None, ok(0, "OL"))
    assert events == []
    _, events, _ = transition("rack", None, down(0))  # never seen up: nothing was lost
    assert events == []


def test_replace_needed_from_snmp_info() -> None:
    state, _, _ = transition("apc", None, ok(0, "OL", kind="snmp", ups="apc"))
    _, events, _ = transition("apc", state, ok(5, "OL", kind="snmp", ups="apc",
                                               replace_needed=True))
    assert kinds(events) == ["replace_battery"] and events[0].source == "snmp"


def test_on_battery_time_does_not_guess_across_gaps() -> None:
    state = UpsState(frozenset({"OB"}), True, False, 0.0)
    state, _, _ = transition("rack", state, ok(3600, "OB"))
    assert state.on_battery_seconds == 300  # MAX_ON_BATTERY_STEP, not an hour


def test_recorder_persists_and_does_not_refire(tmp_path: Path) -> None:
    db = Database(tmp_path / "upkeep.db")
    recorder = EventRecorder(db)
    seen: list[Event] = []
    recorder.add_listener(seen.append)
    recorder.add_listener(lambda e: 1 / 0)  # a broken listener must not stop the others
    for reading in [ok(100, "OL"), ok(110, "OB", "DISCHRG"), ok(120, "OB", "DISCHRG")]:
        recorder.on_reading(None, reading)
    recorder.on_reading(None, Reading("host", "rack", 125, True))  # not a UPS: ignored
    assert kinds(seen) == ["on_battery"] and seen[0].id is not None
    db.close()

    # restart: still on battery -> no second on_battery; the power comes back -> on_line
    db = Database(tmp_path / "upkeep.db")
    recorder = EventRecorder(db)
    assert recorder.states["rack"].flags == {"OB", "DISCHRG"}
    recorder.on_reading(None, ok(130, "OB", "DISCHRG"))
    recorder.on_reading(None, ok(140, "OL", "CHRG"))
    events = recorder.events()
    assert kinds(events) == ["on_line", "on_battery"]  # newest first
    assert events[0].details["status"] == ["CHRG", "OL"]
    samples = {(s.metric, tuple(sorted(s.labels.items()))): s.value for s in recorder.samples()}
    assert samples[("upkeep_ups_on_battery_seconds_total", (("ups", "rack"),))] == 30
    assert samples[("upkeep_ups_status_changes_total", (("flag", "OB"), ("ups", "rack")))] == 2
    assert samples[("upkeep_ups_status_changes_total", (("flag", "BYPASS"), ("ups", "rack")))] == 0
    db.close()


def test_event_queries(tmp_path: Path) -> None:
    db = Database(tmp_path / "upkeep.db")
    recorder = EventRecorder(db)
    for ups in ("a", "b"):
        for t, flags in ((100, ("OL",)), (200, ("OB",)), (300, ("OL",))):
            recorder.on_reading(None, ok(t, *flags, ups=ups))
    assert len(recorder.events()) == 4
    assert {e.ups for e in recorder.events(ups=["a"])} == {"a"}
    assert [e.time for e in recorder.events(ups=["a"], since=250)] == [300]
    assert [e.time for e in recorder.events(ups=["b"], until=250)] == [200]
    assert len(recorder.events(limit=1)) == 1
    db.close()


def test_parse_time() -> None:
    assert parse_time("1700000000.5", "since") == 1700000000.5
    assert parse_time("2026-01-01T00:00:00Z", "since") == 1767225600
    assert parse_time("2026-01-01T07:00:00+07:00", "since") == 1767225600
    assert parse_time(None, "since") is None
    with pytest.raises(Exception, match="ISO 8601"):
        parse_time("yesterday", "since")
