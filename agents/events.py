"""Power events: UPS transitions recorded in the agent's SQLite file, counted, listed by API.

``EventRecorder`` (service name ``"events"``) listens to every NUT and SNMP reading in the
``StateStore``. Both sources put the same keys in ``reading.info``: ``status`` (list of NUT
flags such as ``["OB", "DISCHRG"]``) and ``replace_needed``. Transitions become ``Event``s:

=================  ===============================================  upsmon
on_battery         OB appears (also when first seen on battery)     ONBATT
on_line            OB goes away while OL is set                     ONLINE
low_battery        LB appears                                       LOWBATT
replace_battery    replace_needed becomes true                      REPLBATT
forced_shutdown    FSD appears                                      FSD
comm_lost          a failed poll after a good one                   COMMBAD
comm_restored      a good poll after a failed one                   COMMOK
=================  ===============================================  ======

Events, the last known state per UPS and the counters are written in one transaction per
change, so a restarted agent neither fires a transition twice nor loses one that happened
while it was down (it compares with the stored state). Metrics (via ``store.add_source``):
``upkeep_ups_status_changes_total{ups,flag}`` (each flag set or cleared) and
``upkeep_ups_on_battery_seconds_total{ups}``; both persist, so they stay monotonic across
restarts.

Hook for notifiers::

    recorder = find_recorder(agent)            # or: agent service named "events"
    recorder.add_listener(callback)            # callback(event: upkeep.events.Event) -> None

Callbacks run in the agent's event loop right after the event is committed, in order; they
must not block (start an ``asyncio`` task for slow work). One failing callback is logged and
does not stop the others or the recording.

In a started recorder the disk write runs on the database's writer thread
(``Database.submit``), never in the event loop: ``StateStore.put`` returns at once however
slow the disk. An event counts as acknowledged once committed; only then do the listeners (the
notifier), the metrics and the API see it. A recorder that was not started (tools, tests)
writes in the caller's thread.

``GET /api/v1/events`` is served by ``upkeep.agents.api_events``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from upkeep import events as ev
from upkeep.collectors.ups_model import STATUS_FLAGS
from upkeep.errors import StoreError
from upkeep.events import Event, PowerEventLog
from upkeep.kit.db import Database, Migration
from upkeep.metrics import Sample, counter, sample
from upkeep.reading import Reading
from upkeep.readings import ups_info

if TYPE_CHECKING:
    from upkeep.agents.runtime import Agent

log = logging.getLogger(__name__)

UPS_KINDS = frozenset({"nut", "snmp"})
#: longest gap between two on-battery readings that still counts as time on battery: beyond
#: it (agent stopped, long comm loss) we do not know, and a counter must not guess
MAX_ON_BATTERY_STEP = 300.0
#: the event metrics are recomputed when a change is recorded; this is only a safety net
SOURCE_EVERY = 300.0

STATUS_CHANGES = counter("upkeep_ups_status_changes_total",
                         "Times the UPS status flag was set or cleared, as seen by the agent.",
                         ("ups", "flag"), room="ups")
ON_BATTERY_SECONDS = counter("upkeep_ups_on_battery_seconds_total",
                             "Seconds the UPS ran on battery, as seen by the agent.", ("ups",),
                             unit="seconds", room="ups")

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS ups_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ups TEXT NOT NULL,
    kind TEXT NOT NULL,
    time REAL NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS ups_events_time ON ups_events (time);
CREATE INDEX IF NOT EXISTS ups_events_ups_time ON ups_events (ups, time);
CREATE TABLE IF NOT EXISTS ups_state (
    ups TEXT PRIMARY KEY,
    flags TEXT NOT NULL,
    comm_ok INTEGER NOT NULL,
    replace_needed INTEGER NOT NULL,
    time REAL NOT NULL,
    on_battery_seconds REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ups_status_changes (
    ups TEXT NOT NULL,
    flag TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (ups, flag)
);
"""
#: the events room's schema steps (upkeep.kit.db): version 1 is the 0.1.0 DDL; append a
#: step to change a table, never edit a released one
MIGRATIONS: tuple[Migration, ...] = (SCHEMA_V1,)


@dataclass
class UpsState:
    """What the recorder last knew of one UPS."""

    flags: frozenset[str] = frozenset()
    comm_ok: bool = True
    replace_needed: bool = False
    #: time of the last good reading (for on-battery accounting)
    time: float = 0.0
    on_battery_seconds: float = 0.0
    changes: dict[str, int] = field(default_factory=dict)


def transition(ups: str, state: UpsState | None, reading: Reading
               ) -> tuple[UpsState, list[Event], set[str]]:
    """Pure: the new state, the events and the flags that changed, for one reading."""
    source, when = reading.kind, reading.time
    events: list[Event] = []

    def emit(kind: str, **details: Any) -> None:
        events.append(Event(ups, kind, when, details, source))

    if not reading.ok:
        if state is None:
            return UpsState(comm_ok=False, time=when), events, set()
        new = replace(state, comm_ok=False, changes=dict(state.changes))
        if state.comm_ok:
            emit(ev.COMM_LOST, reason=reading.reason, message=reading.message)
        return new, events, set()

    info = ups_info(reading)
    flags = frozenset(str(f) for f in (info["status"] or () if info else ()))
    replace_needed = bool(info and info["replace_needed"]) or "RB" in flags
    details: dict[str, Any] = {"status": sorted(flags)}
    if info and info["battery_charge"] is not None:
        details["battery_charge"] = info["battery_charge"]
    if info and info["battery_runtime"] is not None:
        details["battery_runtime"] = info["battery_runtime"]
    if state is None:
        new = UpsState(flags, True, replace_needed, when)
        first = {ev.ON_BATTERY: "OB" in flags, ev.LOW_BATTERY: "LB" in flags,
                 ev.FORCED_SHUTDOWN: "FSD" in flags, ev.REPLACE_BATTERY: replace_needed}
        for kind, present in first.items():
            if present:
                emit(kind, **details)
        return new, events, set()

    changed = set(flags ^ state.flags)
    new = UpsState(flags, True, replace_needed, when, state.on_battery_seconds,
                   dict(state.changes))
    for flag in changed:
        new.changes[flag] = new.changes.get(flag, 0) + 1
    if "OB" in state.flags and state.comm_ok and when > state.time:
        new.on_battery_seconds += min(when - state.time, MAX_ON_BATTERY_STEP)
    if not state.comm_ok:
        emit(ev.COMM_RESTORED, **details)
    if "OB" in flags and "OB" not in state.flags:
        emit(ev.ON_BATTERY, **details)
    if "OB" in state.flags and "OB" not in flags and "OL" in flags:
        emit(ev.ON_LINE, **details)
    if "LB" in flags and "LB" not in state.flags:
        emit(ev.LOW_BATTERY, **details)
    if replace_needed and not state.replace_needed:
        emit(ev.REPLACE_BATTERY, **details)
    if "FSD" in flags and "FSD" not in state.flags:
        emit(ev.FORCED_SHUTDOWN, **details)
    return new, events, changed


class EventRecorder(PowerEventLog):
    name = "events"

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("events", MIGRATIONS)
        #: what is committed and told: the metrics read it (on the event loop)
        self.states: dict[str, UpsState] = self._load_states()
        #: the writer's view: transitions are computed against it, in reading order
        self._known: dict[str, UpsState] = dict(self.states)
        self._write_lock = threading.Lock()
        #: readings per UPS handed to the writer thread and not yet written (loop side only)
        self._in_flight: dict[str, int] = {}
        self._listeners: list[Callable[[Event], None]] = []
        self._agent: Agent | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- service ---------------------------------------------------------------------------
    async def start(self, agent: Agent) -> None:
        self._agent = agent
        self._loop = asyncio.get_running_loop()
        agent.store.subscribe(self.on_reading)
        # recomputed when a change is recorded (below), not on every render
        agent.store.add_source(self.samples, every=SOURCE_EVERY)

    async def stop(self) -> None:
        if self._agent is not None:
            self._agent.store.unsubscribe(self.on_reading)
            # the readings already taken are written and told before the recorder goes
            await asyncio.wrap_future(self.db.barrier())
            self._agent.store.remove_source(self.samples)
            self._agent = None
        self._loop = None

    def add_listener(self, callback: Callable[[Event], None]) -> None:
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[Event], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    # --- recording -------------------------------------------------------------------------
    def on_reading(self, previous: Reading | None, reading: Reading) -> None:
        if reading.kind not in UPS_KINDS:
            return
        loop = self._loop
        if loop is None:
            self.record(reading)
        elif not self._nothing_to_write(reading):
            self._in_flight[reading.target] = self._in_flight.get(reading.target, 0) + 1
            self.db.submit(self._write_and_tell, loop, reading)

    def _nothing_to_write(self, reading: Reading) -> bool:
        """Most readings repeat the last state: settle those on the loop, without handing them
        to the writer thread. Only when no earlier reading of that UPS is still queued (the
        stored state is then current), and only if the lock is free at once (the writer may
        hold it across a disk write; then the reading simply goes the slow way)."""
        if self._in_flight.get(reading.target) or not self._write_lock.acquire(blocking=False):
            return False
        try:
            return self._settle(reading) is None
        finally:
            self._write_lock.release()

    def record(self, reading: Reading) -> list[Event]:
        """Record one reading in the caller's thread; returns the events it stored."""
        written = self._write(reading)
        return self._tell(*written) if written is not None else []

    def _write_and_tell(self, loop: asyncio.AbstractEventLoop, reading: Reading) -> None:
        """On the writer thread: write, then hand the committed result to the event loop."""
        written = None
        try:
            written = self._write(reading)
        finally:
            try:
                if written is not None:
                    loop.call_soon_threadsafe(self._tell, *written)
                loop.call_soon_threadsafe(self._landed, reading.target)
            except RuntimeError:  # the loop is gone (shutdown): it is stored all the same
                if written is not None:
                    log.warning("power events of %s stored but not told: the agent is "
                                "stopping", reading.target)

    def _landed(self, ups: str) -> None:
        left = self._in_flight.get(ups, 0) - 1
        if left > 0:
            self._in_flight[ups] = left
        else:
            self._in_flight.pop(ups, None)

    def _settle(self, reading: Reading) -> tuple[UpsState, list[Event], set[str]] | None:
        """The transition ``reading`` makes, or None (after noting its time) when it changes
        nothing worth a disk write. Called with the write lock held."""
        ups = reading.target
        old = self._known.get(ups)
        new, events, changed = transition(ups, old, reading)
        if old is not None and not events and not changed and (
                new.comm_ok == old.comm_ok
                and new.on_battery_seconds == old.on_battery_seconds):
            self._known[ups] = replace(old, time=new.time)
            return None
        return new, events, changed

    def _write(self, reading: Reading) -> tuple[str, UpsState, list[Event]] | None:
        with self._write_lock:
            ups = reading.target
            settled = self._settle(reading)
            if settled is None:
                return None
            new, events, changed = settled
            try:
                stored = self._store(ups, new, events, changed)
            except StoreError:
                log.exception("power events of %s not recorded", ups)
                return None
            self._known[ups] = new
            return ups, new, stored

    def _tell(self, ups: str, state: UpsState, stored: list[Event]) -> list[Event]:
        """After the commit: the metrics, then the listeners, in order."""
        self.states[ups] = state
        if self._agent is not None:
            self._agent.store.source_changed(self.samples)
        for event in stored:
            log.info("UPS %s: %s", ups, event.kind)
            for callback in list(self._listeners):
                try:
                    callback(event)
                except Exception:
                    log.exception("event listener %r failed on %s", callback, event.kind)
        return stored

    def _store(self, ups: str, state: UpsState, events: list[Event], changed: set[str]
               ) -> list[Event]:
        stored = []
        with self.db.transaction() as conn:
            for event in events:
                cursor = conn.execute(
                    "INSERT INTO ups_events (ups, kind, time, source, details) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (event.ups, event.kind, event.time, event.source,
                     json.dumps(dict(event.details), ensure_ascii=False, default=str)))
                stored.append(replace(event, id=cursor.lastrowid))
            conn.execute(
                "INSERT INTO ups_state (ups, flags, comm_ok, replace_needed, time, "
                "on_battery_seconds) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(ups) DO UPDATE SET "
                "flags=excluded.flags, comm_ok=excluded.comm_ok, "
                "replace_needed=excluded.replace_needed, time=excluded.time, "
                "on_battery_seconds=excluded.on_battery_seconds",
                (ups, json.dumps(sorted(state.flags)), int(state.comm_ok),
                 int(state.replace_needed), state.time, state.on_battery_seconds))
            for flag in changed:
                conn.execute(
                    "INSERT INTO ups_status_changes (ups, flag, count) VALUES (?, ?, ?) "
                    "ON CONFLICT(ups, flag) DO UPDATE SET count=excluded.count",
                    (ups, flag, state.changes[flag]))
        return stored

    def _load_states(self) -> dict[str, UpsState]:
        states: dict[str, UpsState] = {}
        for row in self.db.query("SELECT * FROM ups_state"):
            states[row["ups"]] = UpsState(frozenset(json.loads(row["flags"])),
                                          bool(row["comm_ok"]), bool(row["replace_needed"]),
                                          row["time"], row["on_battery_seconds"])
        for row in self.db.query("SELECT ups, flag, count FROM ups_status_changes"):
            states.setdefault(row["ups"], UpsState()).changes[row["flag"]] = row["count"]
        return states

    # --- reading back ----------------------------------------------------------------------
    def samples(self) -> Iterator[Sample]:
        for ups, state in sorted(self.states.items()):
            for flag in sorted(set(STATUS_FLAGS) | set(state.changes)):
                yield sample(STATUS_CHANGES, state.changes.get(flag, 0), ups=ups, flag=flag)
            yield sample(ON_BATTERY_SECONDS, state.on_battery_seconds, ups=ups)

    def events(self, *, ups: Iterable[str] = (), since: float | None = None,
               until: float | None = None, limit: int = 100) -> list[Event]:
        where, params = [], []  # type: list[str], list[Any]
        names = list(ups)
        if names:
            where.append(f"ups IN ({', '.join('?' for _ in names)})")
            params += names
        if since is not None:
            where.append("time >= ?")
            params.append(since)
        if until is not None:
            where.append("time <= ?")
            params.append(until)
        sql = "SELECT * FROM ups_events" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY time DESC, id DESC LIMIT ?"
        params.append(limit)
        return [Event(r["ups"], r["kind"], r["time"], json.loads(r["details"]), r["source"],
                      r["id"]) for r in self.db.query(sql, params)]


def find_recorder(agent: Agent) -> EventRecorder | None:
    return next((s for s in agent.services if isinstance(s, EventRecorder)), None)


def factory(agent: Agent) -> EventRecorder | None:
    if agent.db is None:
        log.warning("no database (%s): power events are not recorded", agent.db_error)
        return None
    return EventRecorder(agent.db)
