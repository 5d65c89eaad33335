"""The notifier's durable outbox: one row per (power event, channel) in the agent's SQLite file.

A row is written in the same transaction that advances the watermark (the highest
``ups_events.id`` taken), so after a crash or ``kill -9`` the notifier resumes from the
events table: an event the recorder committed but the notifier never saw is picked up at the
next start, and ``UNIQUE(event_id, channel)`` keeps one seen twice from being sent twice.
Rows go ``pending`` -> ``sent`` (or ``dropped`` after ``give_up_after``, or on a permanent
error); repeats inside the dedup window are stored as ``suppressed`` for the record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from upkeep.events import Event
from upkeep.kit.db import Database, Migration

log = logging.getLogger(__name__)

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS notify_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER NOT NULL,
    channel TEXT NOT NULL,
    ups TEXT NOT NULL,
    kind TEXT NOT NULL,
    event_time REAL NOT NULL,
    event TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    done_at REAL,
    UNIQUE (event_id, channel)
);
CREATE INDEX IF NOT EXISTS notify_outbox_pending ON notify_outbox (state, channel, id);
CREATE INDEX IF NOT EXISTS notify_outbox_ups ON notify_outbox (ups, event_time);
CREATE TABLE IF NOT EXISTS notify_state (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL
);
"""
#: the notify room's schema steps (upkeep.kit.db): version 1 is the 0.1.0 DDL; append a
#: step to change a table, never edit a released one
MIGRATIONS: tuple[Migration, ...] = (SCHEMA_V1,)

WATERMARK = "watermark"
#: notify_state keys ``pruned:<state>:<channel>`` and ``pruned:failures:<channel>``
PRUNED = "pruned:"


@dataclass(frozen=True)
class Item:
    id: int
    event_id: int
    channel: str
    event: Event
    created: float
    attempts: int
    next_attempt: float
    last_error: str


def _event_json(event: Event) -> str:
    return json.dumps({"ups": event.ups, "kind": event.kind, "time": event.time,
                       "details": dict(event.details), "source": event.source, "id": event.id},
                      ensure_ascii=False, default=str)


def _event(text: str) -> Event:
    data: dict[str, Any] = json.loads(text)
    return Event(data["ups"], data["kind"], data["time"], data.get("details") or {},
                 data.get("source", ""), data.get("id"))


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("notify", MIGRATIONS)

    # --- the watermark: which recorded events the notifier has taken ----------------------
    def watermark(self) -> int | None:
        rows = self.db.query("SELECT value FROM notify_state WHERE key = ?", (WATERMARK,))
        return int(rows[0]["value"]) if rows else None

    def start_watermark(self) -> int:
        """On the very first start, skip the history already in the events table."""
        current = self.watermark()
        if current is not None:
            return current
        rows = self.db.query("SELECT COALESCE(MAX(id), 0) AS top FROM ups_events")
        top = int(rows[0]["top"])
        with self.db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO notify_state (key, value) VALUES (?, ?)",
                         (WATERMARK, top))
        return top

    def missed_events(self, after: int) -> list[Event]:
        """Recorded events the notifier has not taken yet (recorded while it was not there)."""
        rows = self.db.query("SELECT * FROM ups_events WHERE id > ? ORDER BY id", (after,))
        return [Event(r["ups"], r["kind"], r["time"], json.loads(r["details"]), r["source"],
                      r["id"]) for r in rows]

    # --- writing ---------------------------------------------------------------------------
    def enqueue(self, event: Event, channels: Iterable[str], *, now: float,
                dedup_window: float, wanted: bool = True) -> str:
        """Queue ``event`` for every channel; returns ``queued``, ``suppressed`` or ``skipped``.

        Suppressed: the previous notified event of the same UPS was the same kind, less than
        ``dedup_window`` earlier (a repeat, e.g. the UPS seen twice by a restarted agent).
        """
        if event.id is None:
            raise ValueError("only recorded events (with an id) can be queued")
        channels = list(channels)
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO notify_state (key, value) VALUES (?, ?) ON CONFLICT(key) "
                         "DO UPDATE SET value = MAX(value, excluded.value)",
                         (WATERMARK, event.id))
            if not wanted or not channels:
                return "skipped"
            previous = conn.execute(
                "SELECT kind, event_time FROM notify_outbox WHERE ups = ? AND state != "
                "'suppressed' AND event_id != ? ORDER BY event_time DESC, id DESC LIMIT 1",
                (event.ups, event.id)).fetchone()
            repeat = previous is not None and previous["kind"] == event.kind and \
                0 <= event.time - previous["event_time"] < dedup_window
            state = "suppressed" if repeat else "pending"
            for channel in channels:
                conn.execute(
                    "INSERT OR IGNORE INTO notify_outbox (event_id, channel, ups, kind, "
                    "event_time, event, state, created, next_attempt) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (event.id, channel, event.ups, event.kind, event.time, _event_json(event),
                     state, now, now))
        return "suppressed" if repeat else "queued"

    def sent(self, item: Item, now: float) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE notify_outbox SET state = 'sent', done_at = ?, "
                         "attempts = attempts + 1, last_error = '' WHERE id = ?", (now, item.id))

    def failed(self, item: Item, error: str, next_attempt: float) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE notify_outbox SET attempts = attempts + 1, last_error = ?, "
                         "next_attempt = ? WHERE id = ?", (error[:500], next_attempt, item.id))

    def dropped(self, item: Item, error: str, now: float) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE notify_outbox SET state = 'dropped', last_error = ?, "
                         "done_at = ? WHERE id = ?", (error[:500], now, item.id))

    # --- pruning ---------------------------------------------------------------------------
    def prune(self, before: float) -> int:
        """Delete rows that finished (sent, dropped, suppressed) before ``before``.

        Their numbers move into ``notify_state`` in the same transaction, so the
        ``*_total`` counters derived from the outbox never go down. Pending rows stay,
        whatever their age. Returns the number of rows deleted.
        """
        done = ("state != 'pending' AND COALESCE(done_at, created) < ?")
        with self.db.transaction() as conn:
            totals = conn.execute(
                f"SELECT channel, state, COUNT(*) AS n, SUM(attempts - (state = 'sent')) AS f "
                f"FROM notify_outbox WHERE {done} GROUP BY channel, state", (before,)).fetchall()
            for row in totals:
                for key, amount in ((f"{PRUNED}{row['state']}:{row['channel']}", row["n"]),
                                    (f"{PRUNED}failures:{row['channel']}", row["f"] or 0)):
                    conn.execute("INSERT INTO notify_state (key, value) VALUES (?, ?) ON "
                                 "CONFLICT(key) DO UPDATE SET value = value + excluded.value",
                                 (key, amount))
            deleted = conn.execute(f"DELETE FROM notify_outbox WHERE {done}", (before,)).rowcount
        return int(deleted)

    def _pruned(self) -> dict[tuple[str, str], int]:
        """(channel, state or 'failures') -> what pruned rows had counted."""
        rows = self.db.query("SELECT key, value FROM notify_state WHERE key LIKE ?",
                             (PRUNED + "%",))
        out: dict[tuple[str, str], int] = {}
        for row in rows:
            what, _, channel = row["key"][len(PRUNED):].partition(":")
            out[(channel, what)] = int(row["value"])
        return out

    # --- reading ---------------------------------------------------------------------------
    def pending(self, channel: str | None = None) -> list[Item]:
        """Pending items, oldest first (per channel the order of the events is kept)."""
        sql = "SELECT * FROM notify_outbox WHERE state = 'pending'"
        params: list[Any] = []
        if channel is not None:
            sql += " AND channel = ?"
            params.append(channel)
        rows = self.db.query(sql + " ORDER BY id", params)
        return [Item(int(r["id"]), int(r["event_id"]), str(r["channel"]), _event(r["event"]),
                     float(r["created"]), int(r["attempts"]), float(r["next_attempt"]),
                     str(r["last_error"])) for r in rows]

    def counts(self) -> dict[tuple[str, str], int]:
        """(channel, state) -> number of rows."""
        rows = self.db.query("SELECT channel, state, COUNT(*) AS n FROM notify_outbox "
                             "GROUP BY channel, state")
        out = {(c, what): n for (c, what), n in self._pruned().items() if what != "failures"}
        for r in rows:
            key = (r["channel"], r["state"])
            out[key] = out.get(key, 0) + int(r["n"])
        return out

    def failures(self) -> dict[str, int]:
        """channel -> failed delivery attempts so far (attempts that did not end in 'sent')."""
        rows = self.db.query("SELECT channel, SUM(attempts - (state = 'sent')) AS n "
                             "FROM notify_outbox GROUP BY channel")
        out = {c: n for (c, what), n in self._pruned().items() if what == "failures"}
        for r in rows:
            out[r["channel"]] = out.get(r["channel"], 0) + int(r["n"] or 0)
        return out

    def rows(self) -> list[dict[str, Any]]:
        """Everything, for tests and the API: id, event_id, channel, kind, state, attempts."""
        return [dict(r) for r in self.db.query(
            "SELECT id, event_id, channel, ups, kind, state, attempts, last_error "
            "FROM notify_outbox ORDER BY id")]
