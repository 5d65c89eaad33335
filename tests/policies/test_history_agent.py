"""The history in a real agent process: retention runs at start, points are committed while it
runs, and a ``kill -9`` loses nothing committed (the file stays intact)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tests.support import AgentProcess, wait_for
from upkeep.kit.db import Database
from upkeep.policies.history import COARSE, FINE, SCHEMA


def _count(db: Path, where: str = "1", params: tuple[object, ...] = ()) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM history_points WHERE {where}",
                                params).fetchone()[0])


def test_retention_at_start_and_points_survive_kill9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db_file = data / "upkeep.db"
    now = int(time.time())
    seeded = Database(db_file)
    seeded.ensure_schema("history", SCHEMA)
    with seeded.transaction() as conn:
        conn.execute("INSERT INTO history_series (id, kind, target, name) "
                     "VALUES (1, 'host', 'localhost', 'memory')")
        conn.executemany("INSERT INTO history_points VALUES (1, ?, ?, 0.5)", [
            (FINE, now - 49 * 3600), (FINE, now - 3600),  # past 48 h; kept
            (COARSE, now - 91 * 86400 // COARSE * COARSE), (COARSE, now - 10 * 86400)])
    seeded.close()
    agent = AgentProcess(tmp_path, {"site": "hist", "host": {"interval": "1s",
                                                             "timeout": "900ms"}})
    agent.start()
    try:
        # the writer commits within its flush interval (5 s)
        wait_for(lambda: agent.get("/api/v1/history?kind=host&target=localhost&series=memory")
                 .json()["points"][-1][0] >= now - 60, timeout=30,
                 message="a fresh memory point through the API")
        assert _count(db_file, "step = ? AND t < ?", (FINE, now - 48 * 3600)) == 0
        assert _count(db_file, "step = ? AND t < ?", (COARSE, now - 90 * 86400)) == 0
        assert _count(db_file, "step = ? AND t = ?", (FINE, now - 3600)) == 1
        assert _count(db_file, "step = ? AND t = ?", (COARSE, now - 10 * 86400)) == 1
        before = _count(db_file)
    finally:
        agent.kill9()
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert _count(db_file) >= before  # nothing committed was lost
    with sqlite3.connect(db_file) as conn:  # so that a rewrite of this minute shows
        conn.execute("DELETE FROM history_points WHERE t >= ?", (now - 600,))
    agent.start()  # and the agent starts again on that file and keeps writing
    try:
        wait_for(lambda: _count(db_file, "t >= ?", (now - 600,)) > 0, timeout=30,
                 message="new points after restart")
    finally:
        agent.stop()
