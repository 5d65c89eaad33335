"""Versioned schemas (upkeep.kit.db): a 0.1.0 file upgrades without losing a row, once; a file
from a newer release is refused; a step runs in its own transaction, in order, once."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from upkeep.agents.events import EventRecorder
from upkeep.agents.outbox import Outbox
from upkeep.errors import StoreError
from upkeep.kit.db import FILE_VERSION, Database, statements
from upkeep.policies.assets import AssetRegister
from upkeep.policies.attestations import AttestationLedger
from upkeep.policies.checklist_history import AssessmentLedger
from upkeep.policies.incidents import Ledger

FIXTURE = Path(__file__).parent.parent / "fixtures" / "db" / "upkeep-0.1.0.sql"
ROOMS = ("events", "notify", "incidents", "checklist_attestation", "checklist_assessment",
         "asset")


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rooms registered by a test stay in that test."""
    monkeypatch.setattr(Database, "_schemas", dict(Database._schemas))


def load_fixture(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(FIXTURE.read_text(encoding="utf-8"))
    conn.close()


def tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'schema_versions' "
            "ORDER BY name")]
        return {name: sorted(conn.execute(f'SELECT * FROM "{name}"'), key=repr)
                for name in names}
    finally:
        conn.close()


def open_every_room(path: Path) -> Database:
    db = Database(path)
    EventRecorder(db)
    Outbox(db)
    Ledger(db)
    AttestationLedger(db, path.parent / "evidence")
    AssessmentLedger(db)
    AssetRegister(db)
    return db


def test_a_0_1_0_database_upgrades_without_losing_a_row(tmp_path: Path) -> None:
    path = tmp_path / "upkeep.db"
    load_fixture(path)
    before = tables(path)
    assert all(before[t] for t in (  # the fixture has rows in every room's tables
        "ups_events", "ups_state", "ups_status_changes", "notify_outbox", "notify_state",
        "incident", "incident_event", "maintenance_window", "kpi_detector_state",
        "checklist_attestation", "checklist_assessment", "asset", "asset_value",
        "asset_import"))

    db = open_every_room(path)
    assert int(db.query("PRAGMA user_version")[0][0]) == FILE_VERSION
    assert {room: db.schema_version(room) for room in ROOMS} == dict.fromkeys(ROOMS, 1)
    # read back through the rooms: the rows still fit their dataclasses
    ledger = Ledger(db)
    incidents = ledger.incidents(include_void=True)
    assert {i.system for i in incidents} == {"erp", "mail"}
    assert sum(len(ledger.timeline(i.id)) for i in incidents) == len(before["incident_event"])
    recorder = EventRecorder(db)
    assert len(recorder.events()) == len(before["ups_events"])
    assert recorder.states["rack"].changes
    assert Outbox(db).counts()
    assert len(AttestationLedger(db, tmp_path / "evidence").history()) == 2
    assert len(AssessmentLedger(db).history()) == 3
    assert len(AssetRegister(db).assets()) == 2
    assert db.integrity_check() == "ok"
    db.close()
    after = tables(path)
    # every table of 0.1.0, row by row; rooms added since start empty
    assert {t: rows for t, rows in after.items() if t in before} == before
    assert all(not rows for t, rows in after.items() if t not in before)

    # opened again: nothing left to migrate, so the open writes nothing at all
    db = open_every_room(path)
    try:
        assert Path(f"{path}-wal").stat().st_size == 0
        assert {room: db.schema_version(room) for room in ROOMS} == dict.fromkeys(ROOMS, 1)
    finally:
        db.close()
    assert tables(path) == after


def test_a_new_database_gets_every_room_at_its_version(tmp_path: Path) -> None:
    db = open_every_room(tmp_path / "upkeep.db")
    try:
        assert {room: db.schema_version(room) for room in ROOMS} == dict.fromkeys(ROOMS, 1)
        assert db.query("SELECT COUNT(*) FROM incident")[0][0] == 0
    finally:
        db.close()


def test_a_file_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "upkeep.db"
    open_every_room(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_versions SET version = 7 WHERE room = 'incidents'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"the incidents room is at schema version 7, but this "
                       r"upkeep knows only up to 1: the file was written by a newer release"):
        open_every_room(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_versions WHERE room = 'incidents'"
                        ).fetchone() == (7,)  # not downgraded
    conn.execute(f"PRAGMA user_version = {FILE_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="the file is at schema version 2.*newer release"):
        Database(path)


def test_steps_run_in_order_once_each_in_its_own_transaction(tmp_path: Path) -> None:
    path = tmp_path / "upkeep.db"
    v1 = """CREATE TABLE IF NOT EXISTS demo (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    CREATE TRIGGER IF NOT EXISTS demo_no_delete BEFORE DELETE ON demo
    BEGIN SELECT RAISE(ABORT, 'no; really'); END;"""
    db = Database(path)
    db.ensure_schema("demo", [v1])
    with db.transaction() as conn:
        conn.execute("INSERT INTO demo (name) VALUES ('old row')")
    db.close()

    calls: list[int] = []

    def v3(conn: sqlite3.Connection) -> None:
        calls.append(db.schema_version("demo"))
        conn.execute("UPDATE demo SET colour = upper(colour)")

    broken = ["ALTER TABLE demo ADD COLUMN colour TEXT NOT NULL DEFAULT 'grey'",
              "ALTER TABLE demo ADD COLUMN oops TEXT NOT NULL"]  # no default: refused
    db = Database(path)
    with pytest.raises(StoreError, match="cannot bring the demo tables .* to schema version 2"):
        db.ensure_schema("demo", [v1, ";\n".join(broken)])
    assert db.schema_version("demo") == 1  # the half-done step was rolled back whole
    assert "colour" not in {r["name"] for r in db.query("PRAGMA table_info(demo)")}

    db.ensure_schema("demo", [v1, broken[0], v3])
    assert db.schema_version("demo") == 3 and calls == [2]
    assert [tuple(r) for r in db.query("SELECT name, colour FROM demo")] == [("old row", "GREY")]
    db.close()

    Database.register_schema("demo", [v1, broken[0], v3])  # a restart: nothing runs again
    db = Database(path)
    assert calls == [2] and db.schema_version("demo") == 3
    db.close()


def test_statements_keeps_triggers_whole() -> None:
    script = """CREATE TABLE t (a);
    CREATE TRIGGER t_x BEFORE DELETE ON t BEGIN SELECT RAISE(ABORT, 'a; b'); SELECT 1; END;
    ;"""
    parts = statements(script)
    assert len(parts) == 2 and parts[1].endswith("END;")
    assert statements("CREATE TABLE t (a);\nCREATE TABLE u (b)") == [
        "CREATE TABLE t (a);", "CREATE TABLE u (b)"]
