"""The SQLite incident ledger: manual entries, the append-only timeline, detector events."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from upkeep.config.policy_kpi import KpiConfig
from upkeep.errors import StoreError
from upkeep.kit.db import Database
from upkeep.kit.thai import BANGKOK
from upkeep.policies.detector import Detector, DetectorParams
from upkeep.policies.incidents import Ledger, LedgerError, grade_year

H = 3600.0


def ict(*args: int) -> float:
    return datetime(*args, tzinfo=BANGKOK).timestamp()  # type: ignore[misc]


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger.open(tmp_path)
    yield led  # type: ignore[misc]
    led.close()


def test_manual_incident_lifecycle(ledger: Ledger) -> None:
    start = ict(2025, 1, 6, 8, 0)
    iid = ledger.add("jfs", start, restored_at=None, actor="somchai", at=start + 600,
                     cause_text="ฐานข้อมูลล่ม")
    inc = ledger.get(iid)
    assert (inc.source, inc.status, inc.restored_at) == ("manual", "open", None)
    assert ledger.open_incident("jfs") == inc
    ledger.acknowledge(iid, "somying", start + 700, "กำลังตรวจสอบ")
    ledger.acknowledge(iid, "other", start + 800)   # kept, first ack not overwritten
    ledger.note(iid, "somying", start + 900, "รีสตาร์ทบริการแล้ว")
    ledger.resolve(iid, "somying", start + 14 * H, restored_at=start + 13 * H,
                   cause_category="database", fix_text="กู้คืนดัชนี")
    inc = ledger.get(iid)
    assert (inc.status, inc.restored_at, inc.closed_at) == ("closed", start + 13 * H,
                                                            start + 14 * H)
    assert (inc.acknowledged_by, inc.acknowledged_at) == ("somying", start + 700)
    assert (inc.cause_category, inc.cause_text, inc.fix_text) == ("database", "ฐานข้อมูลล่ม",
                                                                  "กู้คืนดัชนี")
    kinds = [(e.kind, e.actor) for e in ledger.timeline(iid)]
    assert kinds == [("opened", "somchai"), ("ack", "somying"), ("ack", "other"),
                     ("note", "somying"), ("resolve", "somying")]
    resolve = ledger.timeline(iid)[-1].payload
    assert resolve["before"]["restored_at"] is None
    assert resolve["after"]["restored_at"] == start + 13 * H
    assert ledger.open_incident("jfs") is None


def test_timeline_is_append_only(ledger: Ledger, tmp_path: Path) -> None:
    iid = ledger.add("jfs", 1000.0, restored_at=2000.0, actor="a", at=3000.0)
    ledger.edit(iid, "reviewer", 4000.0, started_at=900.0)
    assert ledger.get(iid).started_at == 900.0 and ledger.get(iid).version == 2
    edit = ledger.timeline(iid)[-1]
    assert edit.payload == {"before": {"started_at": 1000.0}, "after": {"started_at": 900.0}}
    with pytest.raises(StoreError, match="append-only"), ledger.db.transaction() as conn:
        conn.execute("UPDATE incident_event SET actor = 'x'")
    with pytest.raises(StoreError, match="append-only"), ledger.db.transaction() as conn:
        conn.execute("DELETE FROM incident_event")
    raw = sqlite3.connect(tmp_path / "upkeep.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("DELETE FROM incident_event WHERE incident_id = ?", (iid,))
    raw.close()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"restored_at": 500.0}, "before the start"),
    ({"restored_at": None, "cause_category": "aliens"}, "unknown cause category"),
])
def test_bad_manual_input(ledger: Ledger, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(LedgerError, match=message):
        ledger.add("jfs", 1000.0, actor="a", at=1.0, **kwargs)  # type: ignore[arg-type]


def test_unknown_incident(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="no incident 99"):
        ledger.acknowledge(99, "a", 1.0)


def feed(ledger: Ledger, machine: Detector, system: str, samples: list[tuple[float, bool]]
         ) -> None:
    for at, up in samples:
        ledger.apply(system, machine.feed(at, up), machine.to_dict, at)


def test_detector_events_persist_and_resume(tmp_path: Path) -> None:
    """Open, kill (drop everything in memory), resume from the database, merge, restore."""
    params = DetectorParams(open_after=2, close_after=3, merge_gap=300, interval=10)
    t0 = ict(2025, 1, 6, 8, 0)
    ledger = Ledger.open(tmp_path)
    machine = Detector(params, ledger.load_state("jfs"))
    feed(ledger, machine, "jfs", [(t0 + i * 10, i < 3) for i in range(8)])
    [inc] = ledger.incidents("jfs")
    assert (inc.status, inc.started_at, inc.detected_at) == ("open", t0 + 30, t0 + 40)
    ledger.close()
    # a new process: state and ledger come back from disk
    ledger = Ledger.open(tmp_path)
    machine = Detector(params, ledger.load_state("jfs"))
    assert machine.current is not None and machine.current.ref == inc.id
    feed(ledger, machine, "jfs", [(t0 + 200 + i * 10, i >= 2) for i in range(6)])
    [inc] = ledger.incidents("jfs")
    assert (inc.status, inc.restored_at, inc.gap_seconds) == ("restored", t0 + 220, 120)
    # down again 30 s later: within merge_gap, the same incident reopens
    feed(ledger, machine, "jfs", [(t0 + 260 + i * 10, i >= 4) for i in range(8)])
    [inc] = ledger.incidents("jfs")
    assert (inc.started_at, inc.restored_at) == (t0 + 30, t0 + 300)
    assert inc.parts == [[t0 + 30, t0 + 220], [t0 + 260, t0 + 300]]
    kinds = [e.kind for e in ledger.timeline(inc.id)]
    assert kinds == ["opened", "restored", "reopened", "restored"]
    ledger.close()


def test_windows_and_grading(ledger: Ledger) -> None:
    start, restored = ict(2025, 3, 15, 22, 10), ict(2025, 3, 16, 12, 30)
    iid = ledger.add("jfs", start, restored_at=restored, actor="a", at=restored)
    config = KpiConfig()
    view = grade_year(ledger, config, 2568, restored + H, ["jfs", "mis"])
    assert (view.systems["jfs"].level, view.systems["mis"].level, view.office.level) == (4, 5, 4)
    # added after the outage began: not applied, the incident needs review
    wid = ledger.add_window("jfs", ict(2025, 3, 15, 22, 0), ict(2025, 3, 16, 2, 0),
                            actor="admin", at=ict(2025, 3, 16, 9, 0), reason="ย้ายเซิร์ฟเวอร์")
    assert ledger.timeline(iid)[-1].kind == "maintenance_added_late"
    view = grade_year(ledger, config, 2568, restored + H, ["jfs"])
    [(_, grade)] = view.graded
    assert (grade.level, grade.review) == (4, ("maintenance_after_start",))
    with pytest.raises(LedgerError, match="justification"):
        ledger.approve_correction(wid, "director", restored + 2 * H, " ")
    ledger.approve_correction(wid, "director", restored + 2 * H, "บันทึกข้อความ ที่ 12/2568")
    view = grade_year(ledger, config, 2568, restored + H, ["jfs"])
    [(_, grade)] = view.graded
    assert (grade.effective_seconds, grade.level, grade.review) == (37_800, 5, ())
    configured = KpiConfig.model_validate({"maintenance": [
        {"system": "jfs", "start": "2025-03-15 22:00", "end": "2025-03-16 02:00"}]})
    other = Ledger(ledger.db)
    assert grade_year(other, configured, 2568, restored, ["jfs"]).systems["jfs"].level == 5


def test_year_lists_carried_over(ledger: Ledger) -> None:
    iid = ledger.add("jfs", ict(2024, 9, 29, 20, 0), restored_at=ict(2024, 10, 2, 2, 0),
                     actor="a", at=ict(2024, 10, 2, 3, 0))
    v2567 = grade_year(ledger, KpiConfig(), 2567, ict(2025, 1, 1, 0, 0), ["jfs"])
    v2568 = grade_year(ledger, KpiConfig(), 2568, ict(2025, 1, 1, 0, 0), ["jfs"])
    assert v2567.systems["jfs"].level == 1 and v2567.carried_over() == []
    assert v2568.systems["jfs"].level == 5 and [i.id for i in v2568.carried_over()] == [iid]


def test_database_shared_with_agent(tmp_path: Path) -> None:
    db = Database(tmp_path / "upkeep.db")
    Ledger(db).add("jfs", 1.0, restored_at=2.0, actor="a", at=3.0)
    cli_side = Ledger.open(tmp_path)
    assert [i.system for i in cli_side.incidents()] == ["jfs"]
    cli_side.close()
    db.close()


def test_people_closing_first_keeps_their_restore_time(ledger: Ledger) -> None:
    params = DetectorParams(open_after=2, close_after=3, merge_gap=0, interval=10)
    machine = Detector(params)
    feed(ledger, machine, "jfs", [(1000.0 + i * 10, False) for i in range(3)])
    [inc] = ledger.incidents("jfs")
    ledger.resolve(inc.id, "somchai", 1100.0, restored_at=1050.0, fix_text="รีบูต")
    feed(ledger, machine, "jfs", [(1200.0 + i * 10, True) for i in range(3)])
    inc = ledger.get(inc.id)
    assert (inc.status, inc.restored_at) == ("closed", 1050.0)
    last = ledger.timeline(inc.id)[-1]
    assert (last.kind, last.payload) == ("restored", {"detected_restored_at": 1200.0,
                                                      "kept": True})


def test_lost_state_adopts_the_open_incident(tmp_path: Path) -> None:
    """The agent's detector state is gone but the ledger has an open auto incident."""
    from upkeep.policies.detector import Outage

    params = DetectorParams(open_after=2, close_after=3, merge_gap=0, interval=10)
    ledger = Ledger.open(tmp_path)
    machine = Detector(params)
    feed(ledger, machine, "jfs", [(1000.0 + i * 10, False) for i in range(3)])
    [inc] = ledger.incidents("jfs")
    fresh = Detector(params)   # as if kpi_detector_state were lost
    fresh.adopt(Outage(0, inc.started_at, inc.started_at, inc.started_at, ref=inc.id))
    feed(ledger, fresh, "jfs", [(1100.0 + i * 10, True) for i in range(3)])
    [inc] = ledger.incidents("jfs")
    assert (inc.status, inc.restored_at) == ("restored", 1100.0)
    ledger.close()
