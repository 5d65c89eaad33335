"""History the agent keeps itself: a few key series per target, for the UI's charts.

A branch office has no Grafana, yet its admin asks "has the input voltage sagged all week?".
``HistoryService`` (service name ``"history"``) listens to every reading and keeps, in the
agent's own SQLite file:

==========  ===========================================================================
UPS         ``charge`` (0-1), ``load`` (0-1), ``runtime`` (s), ``input_voltage`` (V),
            ``on_battery`` (0/1; exact periods come from the power events)
website     ``up_ipv4`` / ``up_ipv6`` (0/1), ``response_seconds``, ``cert_days``
host        ``cpu`` (busy ratio between two polls), ``memory`` (used ratio),
            ``fs:<mountpoint>`` (used ratio, at most ``MAX_FILESYSTEMS``)
==========  ===========================================================================

Resolution and retention: one point per minute (``FINE``) for 48 h, one per 15 minutes
(``COARSE``, the mean of its minutes) for 90 days. A series is sampled at most once a minute:
the first value of each minute is kept, except for the 0/1 series, whose minute keeps the worst
value seen (an on-battery or a down of 20 s still marks its minute).

Nothing here blocks the event loop: ``on_reading`` only queues rows; a writer thread commits
them every ``flush_every`` seconds in transactions of at most ``BATCH`` rows and, every
``maintain_every`` seconds, folds finished 15-minute buckets into coarse rows and deletes what
is past retention. A killed agent loses at most the rows still queued; what was committed
survives (WAL, ``synchronous=FULL``).

``GET /api/v1/history?kind=&target=&series=&range=24h|7d|90d`` (read access, served by
``upkeep.policies.api_history``) answers the
points the charts draw: ``{"step": seconds, "points": [[unix_time, value], ...]}``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from upkeep.errors import StoreError
from upkeep.kit.db import Database
from upkeep.reading import Reading

if TYPE_CHECKING:
    from upkeep.kit.agent import AgentView

log = logging.getLogger(__name__)

FINE = 60
COARSE = 900
FINE_KEEP = 48 * 3600
COARSE_KEEP = 90 * 86400
#: rows per transaction at most; more wait for the next one
BATCH = 2000
MAX_FILESYSTEMS = 8
#: 0/1 series whose minute keeps the worst value seen: max for on_battery, min for up
WORST = {"on_battery": max, "up_ipv4": min, "up_ipv6": min}
UPS_KINDS = ("nut", "snmp")
INPUT_VOLTAGE = "upkeep_ups_input_voltage_volts"
CPU_SECONDS = "upkeep_host_cpu_seconds_total"
IDLE_MODES = ("idle", "iowait")

#: range name -> (span, stored step read, step drawn: coarse rows averaged into it)
RANGES: Mapping[str, tuple[int, int, int]] = {
    "24h": (86400, FINE, FINE), "7d": (7 * 86400, COARSE, COARSE),
    "90d": (90 * 86400, COARSE, 3 * 3600)}

SCHEMA = """
CREATE TABLE IF NOT EXISTS history_series (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (kind, target, name)
);
CREATE TABLE IF NOT EXISTS history_points (
    series INTEGER NOT NULL,
    step INTEGER NOT NULL,
    t INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (series, step, t)
) WITHOUT ROWID;
"""

Key = tuple[str, str, str]  # kind, target, series name
Row = tuple[Key, int, float]  # key, minute start, value


# --- what a reading contributes (pure) -------------------------------------------------------

def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def ups_values(reading: Reading) -> dict[str, float]:
    info = reading.info
    if not reading.ok or not info:
        return {}
    out = {name: v for name, key in (("charge", "battery_charge"), ("load", "load"),
                                     ("runtime", "battery_runtime"))
           if (v := _num(info.get(key))) is not None}
    for s in reading.samples:
        if s.metric == INPUT_VOLTAGE:
            out["input_voltage"] = s.value
            break
    status = info.get("status")
    if isinstance(status, list):
        out["on_battery"] = 1.0 if "OB" in status else 0.0
    return out


def web_values(reading: Reading, now: float) -> dict[str, float]:
    info = reading.info
    out: dict[str, float] = {}
    families = info.get("families")
    if isinstance(families, dict):
        for family in ("ipv4", "ipv6"):
            if isinstance(families.get(family), dict):
                out[f"up_{family}"] = 1.0 if families[family].get("up") else 0.0
    elif not reading.ok:
        out["up_ipv4"] = 0.0
    for address in info.get("addresses") or ():
        phases = address.get("phases") if isinstance(address, dict) else None
        total = _num(phases.get("total")) if isinstance(phases, dict) else None
        if address.get("up") and total is not None:
            out["response_seconds"] = total
            break
    tls = info.get("tls")
    if isinstance(tls, dict):
        stamps = [v for k in ("not_after", "chain_earliest_expiry")
                  if (v := _num(tls.get(k))) is not None]
        if stamps:
            out["cert_days"] = (min(stamps) - now) / 86400
    return out


def cpu_totals(reading: Reading) -> tuple[float, float] | None:
    """(busy, total) CPU seconds over all CPUs, from node_exporter-style counters."""
    busy = total = 0.0
    seen = False
    for s in reading.samples:
        if s.metric == CPU_SECONDS:
            seen = True
            total += s.value
            if s.labels.get("mode") not in IDLE_MODES:
                busy += s.value
    return (busy, total) if seen else None


def host_values(reading: Reading) -> dict[str, float]:
    info = reading.info
    if not reading.ok:
        return {}
    out: dict[str, float] = {}
    total, avail = _num(info.get("memory_total_bytes")), _num(info.get("memory_available_bytes"))
    if total and avail is not None:
        out["memory"] = 1 - avail / total
    for fs in list(info.get("filesystem_list") or ())[:MAX_FILESYSTEMS]:
        size, free = _num(fs.get("size_bytes")), _num(fs.get("avail_bytes"))
        if size and free is not None and fs.get("mountpoint"):
            out[f"fs:{fs['mountpoint']}"] = 1 - free / size
    return out


class Sampler:
    """Turns readings into rows: at most one per series per minute (``WORST`` series may
    replace their minute's row when a worse value comes). Pure apart from its memory: one
    (minute, value) per series and the last CPU counters per host."""

    def __init__(self) -> None:
        self._last: dict[Key, tuple[int, float]] = {}
        self._cpu: dict[str, tuple[float, float]] = {}

    def values(self, reading: Reading) -> dict[str, float]:
        if reading.kind in UPS_KINDS or "battery_charge" in reading.info:
            return ups_values(reading)
        if reading.kind == "web":
            return web_values(reading, reading.time)
        if reading.kind == "host":
            out = host_values(reading)
            totals = cpu_totals(reading) if reading.ok else None
            if totals is not None:
                before = self._cpu.get(reading.target)
                self._cpu[reading.target] = totals
                if before is not None and totals[1] > before[1]:
                    out["cpu"] = max(0.0, min(1.0, (totals[0] - before[0])
                                              / (totals[1] - before[1])))
            return out
        return {}

    def offer(self, reading: Reading) -> list[Row]:
        minute = int(reading.time // FINE * FINE)
        rows: list[Row] = []
        for name, value in self.values(reading).items():
            key = (reading.kind, reading.target, name)
            last = self._last.get(key)
            if last is not None and last[0] == minute:
                worst = WORST.get(name)
                if worst is None or worst(last[1], value) == last[1]:
                    continue
                value = worst(last[1], value)
            elif last is not None and last[0] > minute:
                continue  # an older reading arriving late: its minute is written
            self._last[key] = (minute, value)
            rows.append((key, minute, value))
        return rows

    def forget(self, keep: Callable[[Key], bool]) -> None:
        self._last = {k: v for k, v in self._last.items() if keep(k)}


# --- the store (writer thread side) ----------------------------------------------------------

class HistoryStore:
    """The history tables: writes (from one thread) and reads (from any)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("history", SCHEMA)
        self._ids: dict[Key, int] = {}

    def _series_id(self, conn: Any, key: Key) -> int:
        found = self._ids.get(key)
        if found is None:
            conn.execute("INSERT OR IGNORE INTO history_series (kind, target, name) "
                         "VALUES (?, ?, ?)", key)
            found = int(conn.execute("SELECT id FROM history_series WHERE kind = ? AND "
                                     "target = ? AND name = ?", key).fetchone()[0])
            self._ids[key] = found
        return found

    def write(self, rows: Sequence[Row]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO history_points (series, step, t, value) "
                "VALUES (?, ?, ?, ?)",
                [(self._series_id(conn, key), FINE, t, value) for key, t, value in rows])

    def maintain(self, now: float, since: float | None = None) -> None:
        """Fold finished 15-minute buckets from ``since`` (default: the last hour) into
        coarse rows, then delete what is past retention."""
        end = int(now // COARSE * COARSE)
        start = int((end - 3600) if since is None else since // COARSE * COARSE)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO history_points (series, step, t, value) "
                "SELECT series, ?, (t / ?) * ?, avg(value) FROM history_points "
                "WHERE step = ? AND t >= ? AND t < ? GROUP BY series, t / ?",
                (COARSE, COARSE, COARSE, FINE, start, end, COARSE))
            conn.execute("DELETE FROM history_points WHERE step = ? AND t < ?",
                         (FINE, int(now) - FINE_KEEP))
            conn.execute("DELETE FROM history_points WHERE step = ? AND t < ?",
                         (COARSE, int(now) - COARSE_KEEP))

    def points(self, kind: str, target: str, name: str, since: float, until: float,
               step: int = FINE, bucket: int | None = None) -> list[tuple[float, float]]:
        """(time, value) of one series, oldest first; ``bucket`` > ``step`` averages rows."""
        bucket = bucket or step
        if bucket == step:
            sql = ("SELECT p.t, p.value FROM history_points p JOIN history_series s "
                   "ON s.id = p.series WHERE s.kind = ? AND s.target = ? AND s.name = ? "
                   "AND p.step = ? AND p.t >= ? AND p.t <= ? ORDER BY p.t")
            params: tuple[object, ...] = (kind, target, name, step, int(since), int(until))
        else:
            sql = ("SELECT (p.t / ?) * ? AS b, avg(p.value) FROM history_points p "
                   "JOIN history_series s ON s.id = p.series WHERE s.kind = ? AND "
                   "s.target = ? AND s.name = ? AND p.step = ? AND p.t >= ? AND p.t <= ? "
                   "GROUP BY b ORDER BY b")
            params = (bucket, bucket, kind, target, name, step, int(since), int(until))
        return [(float(r[0]), float(r[1])) for r in self.db.query(sql, params)]

    def series(self, kind: str, target: str) -> list[str]:
        return [str(r[0]) for r in self.db.query(
            "SELECT name FROM history_series WHERE kind = ? AND target = ? ORDER BY name",
            (kind, target))]


class Writer(threading.Thread):
    """Commits queued rows in batches and runs maintenance, off the event loop."""

    def __init__(self, store: HistoryStore, flush_every: float, maintain_every: float,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(name="upkeep-history-writer", daemon=True)
        self.store = store
        self.flush_every = flush_every
        self.maintain_every = maintain_every
        self.clock = clock
        self.queue: queue.SimpleQueue[Row | None] = queue.SimpleQueue()
        self._wake = threading.Event()  # stop only: rows wait for the next flush
        self.written = 0

    def put(self, rows: Iterable[Row]) -> None:
        """Queue rows; the writer takes them at its next flush (it is not woken per row: at
        hundreds of targets that would be a thread hand-off for every reading)."""
        for row in rows:
            self.queue.put(row)

    def stop(self, timeout: float = 10.0) -> None:
        self.queue.put(None)
        self._wake.set()
        self.join(timeout)

    def run(self) -> None:
        try:
            self.store.maintain(self.clock(), since=self.clock() - FINE_KEEP)
        except StoreError as err:
            log.error("history maintenance failed: %s", err)
        next_maintain = time.monotonic() + self.maintain_every
        deadline = time.monotonic() + self.flush_every
        stopping = False
        while not stopping:
            self._wake.wait(max(0.0, deadline - time.monotonic()))
            self._wake.clear()
            pending: list[Row] = []
            while True:
                try:
                    row = self.queue.get_nowait()
                except queue.Empty:
                    break
                if row is None:
                    stopping = True
                    break
                pending.append(row)
            for start in range(0, len(pending), BATCH):
                self._flush(pending[start:start + BATCH])
            now = time.monotonic()
            if now >= deadline:
                deadline = now + self.flush_every
            if now >= next_maintain and not stopping:
                next_maintain = now + self.maintain_every
                try:
                    self.store.maintain(self.clock())
                except StoreError as err:
                    log.error("history maintenance failed: %s", err)

    def _flush(self, rows: list[Row]) -> None:
        try:
            self.store.write(rows)
            self.written += len(rows)
        except StoreError as err:  # a full disk: the charts show a gap, the agent goes on
            log.error("history: %d points not stored: %s", len(rows), err)


# --- the service ----------------------------------------------------------------------------

class HistoryService:
    """The history part of the running agent (``agent.service(HistoryService)``)."""

    name = "history"

    def __init__(self, db: Database, *, flush_every: float = 5.0,
                 maintain_every: float = 300.0) -> None:
        self.store = HistoryStore(db)
        self.sampler = Sampler()
        self._flush_every, self._maintain_every = flush_every, maintain_every
        self.writer: Writer | None = None
        self._agent: AgentView | None = None

    async def start(self, agent: AgentView) -> None:
        self._agent = agent
        self.writer = Writer(self.store, self._flush_every, self._maintain_every)
        self.writer.start()
        agent.store.subscribe(self.on_reading)

    async def stop(self) -> None:
        if self._agent is not None:
            self._agent.store.unsubscribe(self.on_reading)
            self._agent = None
        if self.writer is not None:
            self.writer.stop()
            self.writer = None

    def on_reading(self, previous: Reading | None, reading: Reading) -> None:
        rows = self.sampler.offer(reading)
        if rows and self.writer is not None:
            self.writer.put(rows)

    def points(self, kind: str, target: str, name: str, range_name: str = "24h",
               now: float | None = None) -> Window:
        span, step, bucket = RANGES[range_name]
        until = time.time() if now is None else now
        return Window(until - span, until, bucket,
                      self.store.points(kind, target, name, until - span, until, step, bucket))


@dataclass(frozen=True)
class Window:
    """The points of one series over one range, as a chart draws them."""

    start: float
    end: float
    step: int
    points: list[tuple[float, float]]


def factory(agent: AgentView) -> HistoryService | None:
    if agent.db is None:
        log.warning("no database (%s): no history is kept", agent.db_error)
        return None
    return HistoryService(agent.db)
