"""The incident ledger in the agent's SQLite file.

Tables (docs/background.md section 1.3: trimmed to what upkeep uses):

- ``incident``: one row per outage of a system, opened automatically from the detector
  (``source`` auto), entered by people (manual) or reconstructed from Prometheus (rebuilt).
  Times are Unix seconds (UTC); ``started_earliest`` / ``restored_earliest`` carry the
  data-gap bounds, ``gap_seconds`` the bridged silence.
- ``incident_event``: the append-only timeline. Every change to an incident (opened,
  restored, reopened by a merge, acknowledged, a note, an edit with before/after values,
  resolved) is a row here; triggers refuse UPDATE and DELETE so history cannot be rewritten.
- ``maintenance_window``: approved windows added through the CLI or API, with their creation
  time (a window created after an outage began is not applied without a correction approval).
- ``kpi_detector_state``: the detector's state per system, written in the same transaction as
  the incident changes it causes, so a killed agent resumes exactly where it stopped.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from upkeep.config.policy_kpi import KpiConfig
from upkeep.errors import UpkeepError
from upkeep.kit.db import Database, Migration, db_path
from upkeep.kit.thai import fiscal_year, fiscal_year_bounds
from upkeep.policies.detector import Event
from upkeep.policies.kpi import (
    Grade,
    IncidentFacts,
    Scale,
    Window,
    YearResult,
    carried_over,
    config_windows,
    grade_incident,
    office_year,
    scale_for,
    scales_from_config,
    system_year,
)

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS incident (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    system TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('auto', 'manual', 'rebuilt')),
    status TEXT NOT NULL CHECK (status IN ('open', 'restored', 'closed', 'void')),
    started_at REAL NOT NULL,
    started_earliest REAL,
    detected_at REAL,
    acknowledged_at REAL,
    acknowledged_by TEXT,
    restored_at REAL,
    restored_earliest REAL,
    closed_at REAL,
    cause_category TEXT NOT NULL DEFAULT 'unknown',
    cause_text TEXT NOT NULL DEFAULT '',
    fix_text TEXT NOT NULL DEFAULT '',
    gap_seconds REAL NOT NULL DEFAULT 0,
    parts TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS incident_system_start ON incident (system, started_at);
CREATE TABLE IF NOT EXISTS incident_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incident (id),
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS incident_event_incident ON incident_event (incident_id, id);
CREATE TRIGGER IF NOT EXISTS incident_event_no_update BEFORE UPDATE ON incident_event
BEGIN SELECT RAISE(ABORT, 'the incident timeline is append-only'); END;
CREATE TRIGGER IF NOT EXISTS incident_event_no_delete BEFORE DELETE ON incident_event
BEGIN SELECT RAISE(ABORT, 'the incident timeline is append-only'); END;
CREATE TABLE IF NOT EXISTS maintenance_window (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    system TEXT,
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    requested_by TEXT NOT NULL,
    approved_by TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    correction INTEGER NOT NULL DEFAULT 0,
    correction_by TEXT,
    correction_note TEXT,
    CHECK (ends_at > starts_at)
);
CREATE TABLE IF NOT EXISTS kpi_detector_state (
    system TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""
#: the incidents room's schema steps (upkeep.kit.db): version 1 is the 0.1.0 DDL; append a
#: step to change a table, never edit a released one
MIGRATIONS: tuple[Migration, ...] = (SCHEMA_V1,)

CAUSE_CATEGORIES: dict[str, tuple[str, str]] = {
    "power_ups": ("ไฟฟ้า/UPS", "power / UPS"),
    "network_isp": ("เครือข่าย/ผู้ให้บริการ", "network / ISP"),
    "hardware": ("ฮาร์ดแวร์", "hardware"),
    "os": ("ระบบปฏิบัติการ", "operating system"),
    "application": ("โปรแกรมประยุกต์", "application"),
    "database": ("ฐานข้อมูล", "database"),
    "security": ("ความมั่นคงปลอดภัย", "security"),
    "human": ("การปฏิบัติงานของบุคคล", "human error"),
    "external": ("ปัจจัยภายนอก", "external"),
    "unknown": ("ไม่ทราบสาเหตุ", "unknown"),
}
SOURCES = ("auto", "manual", "rebuilt")


class LedgerError(UpkeepError):
    """A ledger request that cannot be done (no such incident, bad times, bad category)."""


@dataclass(frozen=True)
class Incident:
    id: int
    system: str
    source: str
    status: str
    started_at: float
    started_earliest: float | None
    detected_at: float | None
    acknowledged_at: float | None
    acknowledged_by: str | None
    restored_at: float | None
    restored_earliest: float | None
    closed_at: float | None
    cause_category: str
    cause_text: str
    fix_text: str
    gap_seconds: float
    parts: list[list[float | None]]
    created_at: float
    updated_at: float
    version: int

    def facts(self) -> IncidentFacts:
        return IncidentFacts(self.system, self.started_at, self.restored_at,
                             self.started_earliest, self.restored_earliest, self.id,
                             self.source, self.gap_seconds)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TimelineEntry:
    id: int
    incident_id: int
    at: float
    actor: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class MaintenanceWindow:
    id: int
    system: str | None
    starts_at: float
    ends_at: float
    reason: str
    requested_by: str
    approved_by: str
    created_at: float
    correction: bool
    correction_by: str | None
    correction_note: str | None

    def window(self) -> Window:
        return Window(self.starts_at, self.ends_at, self.system, self.id, self.created_at,
                      self.correction)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _incident(row: sqlite3.Row) -> Incident:
    values = dict(row)
    values["parts"] = json.loads(values["parts"] or "[]")
    return Incident(**values)


def _window(row: sqlite3.Row) -> MaintenanceWindow:
    values = dict(row)
    values["correction"] = bool(values["correction"])
    return MaintenanceWindow(**values)


class Ledger:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("incidents", MIGRATIONS)

    @classmethod
    def open(cls, data_dir: str | Path) -> Ledger:
        """The ledger in a data dir (the CLI writes the agent's file directly; WAL allows it)."""
        return cls(Database(db_path(data_dir)))

    def close(self) -> None:
        self.db.close()

    # --- reading -----------------------------------------------------------------------
    def get(self, incident_id: int) -> Incident:
        rows = self.db.query("SELECT * FROM incident WHERE id = ?", (incident_id,))
        if not rows:
            raise LedgerError(f"no incident {incident_id}")
        return _incident(rows[0])

    def incidents(self, system: str | None = None, *, since: float | None = None,
                  until: float | None = None, status: str | None = None,
                  include_void: bool = False) -> list[Incident]:
        """Incidents that overlap ``[since, until)`` (open ones overlap every later time)."""
        sql, params = "SELECT * FROM incident WHERE 1=1", list[object]()
        if system is not None:
            sql += " AND system = ?"
            params.append(system)
        if until is not None:
            sql += " AND started_at < ?"
            params.append(until)
        if since is not None:
            sql += " AND (restored_at IS NULL OR restored_at >= ?)"
            params.append(since)
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        elif not include_void:
            sql += " AND status != 'void'"
        return [_incident(r) for r in self.db.query(sql + " ORDER BY started_at, id", params)]

    def open_incident(self, system: str) -> Incident | None:
        rows = self.db.query("SELECT * FROM incident WHERE system = ? AND restored_at IS NULL "
                             "AND status = 'open' ORDER BY started_at DESC LIMIT 1", (system,))
        return _incident(rows[0]) if rows else None

    def timeline(self, incident_id: int) -> list[TimelineEntry]:
        rows = self.db.query("SELECT * FROM incident_event WHERE incident_id = ? ORDER BY id",
                             (incident_id,))
        return [TimelineEntry(r["id"], r["incident_id"], r["at"], r["actor"], r["kind"],
                              json.loads(r["payload"])) for r in rows]

    # --- writing (every change also appends to the timeline) ----------------------------
    @staticmethod
    def _event(conn: sqlite3.Connection, incident_id: int, at: float, actor: str, kind: str,
               payload: dict[str, Any]) -> None:
        conn.execute("INSERT INTO incident_event (incident_id, at, actor, kind, payload) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (incident_id, at, actor, kind, json.dumps(payload, ensure_ascii=False)))

    def _update(self, conn: sqlite3.Connection, incident: Incident, at: float, actor: str,
                kind: str, changes: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        before = {k: getattr(incident, k) for k in changes}
        sets = ", ".join(f"{k} = ?" for k in changes)
        values = [json.dumps(v) if k == "parts" else v for k, v in changes.items()]
        conn.execute(f"UPDATE incident SET {sets}, updated_at = ?, version = version + 1 "
                     "WHERE id = ?", (*values, at, incident.id))
        self._event(conn, incident.id, at, actor, kind,
                    {"before": before, "after": changes, **(extra or {})})

    def add(self, system: str, started_at: float, *, restored_at: float | None, actor: str,
            at: float, source: str = "manual", cause_category: str = "unknown",
            cause_text: str = "", fix_text: str = "", started_earliest: float | None = None,
            restored_earliest: float | None = None, gap_seconds: float = 0.0,
            detected_at: float | None = None) -> int:
        """Record an incident people saw (or one rebuilt from history); returns its id."""
        check_category(cause_category)
        if source not in SOURCES:
            raise LedgerError(f"unknown source {source!r}")
        if restored_at is not None and restored_at < started_at:
            raise LedgerError("restored time is before the start")
        with self.db.transaction() as conn:
            return self._insert(conn, system, source, started_at, started_earliest,
                                detected_at if detected_at is not None else at, restored_at,
                                restored_earliest, gap_seconds, cause_category, cause_text,
                                fix_text, actor, at)

    def _insert(self, conn: sqlite3.Connection, system: str, source: str, started_at: float,
                started_earliest: float | None, detected_at: float | None,
                restored_at: float | None, restored_earliest: float | None,
                gap_seconds: float, cause_category: str, cause_text: str, fix_text: str,
                actor: str, at: float, parts: Sequence[Sequence[float | None]] | None = None
                ) -> int:
        status = "open" if restored_at is None else "restored"
        cursor = conn.execute(
            "INSERT INTO incident (system, source, status, started_at, started_earliest, "
            "detected_at, restored_at, restored_earliest, gap_seconds, cause_category, "
            "cause_text, fix_text, parts, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (system, source, status, started_at, started_earliest, detected_at, restored_at,
             restored_earliest, gap_seconds, cause_category, cause_text, fix_text,
             json.dumps(list(parts or [[started_at, restored_at]])), at, at))
        incident_id = int(cursor.lastrowid or 0)
        self._event(conn, incident_id, at, actor, "opened",
                    {"source": source, "started_at": started_at,
                     "started_earliest": started_earliest, "restored_at": restored_at,
                     "cause_category": cause_category, "cause_text": cause_text,
                     "fix_text": fix_text})
        return incident_id

    def acknowledge(self, incident_id: int, actor: str, at: float, note: str = "") -> None:
        incident = self.get(incident_id)
        with self.db.transaction() as conn:
            if incident.acknowledged_at is None:
                self._update(conn, incident, at, actor, "ack",
                             {"acknowledged_at": at, "acknowledged_by": actor}, {"note": note})
            else:  # a second acknowledgement is recorded, the first one kept
                self._event(conn, incident_id, at, actor, "ack", {"note": note, "repeat": True})

    def note(self, incident_id: int, actor: str, at: float, text: str) -> None:
        self.get(incident_id)
        if not text.strip():
            raise LedgerError("a note needs text")
        with self.db.transaction() as conn:
            self._event(conn, incident_id, at, actor, "note", {"text": text})

    def resolve(self, incident_id: int, actor: str, at: float, *,
                restored_at: float | None = None, cause_category: str | None = None,
                cause_text: str | None = None, fix_text: str | None = None) -> None:
        """Close the paperwork: cause and fix recorded, ``closed_at`` set (restored if needed)."""
        incident = self.get(incident_id)
        changes: dict[str, Any] = {"status": "closed", "closed_at": at}
        if restored_at is not None or incident.restored_at is None:
            restored = restored_at if restored_at is not None else at
            if restored < incident.started_at:
                raise LedgerError("restored time is before the start")
            changes["restored_at"] = restored
            changes["restored_earliest"] = None
        if cause_category is not None:
            changes["cause_category"] = check_category(cause_category)
        if cause_text is not None:
            changes["cause_text"] = cause_text
        if fix_text is not None:
            changes["fix_text"] = fix_text
        with self.db.transaction() as conn:
            self._update(conn, incident, at, actor, "resolve", changes)

    def edit(self, incident_id: int, actor: str, at: float, **changes: Any
             ) -> dict[str, tuple[Any, Any]]:
        """A correction by a person (e.g. the reviewed start time); before/after are kept.
        Returns what changed (field -> (before, after)); an edit changing nothing is not
        recorded. A restore time given to an open incident ends it (status ``restored``)."""
        allowed = {"started_at", "started_earliest", "restored_at", "restored_earliest",
                   "cause_category", "cause_text", "fix_text", "status"}
        unknown = set(changes) - allowed
        if unknown:
            raise LedgerError(f"cannot edit {', '.join(sorted(unknown))}")
        if "cause_category" in changes:
            check_category(changes["cause_category"])
        incident = self.get(incident_id)
        if incident.status == "void":
            raise LedgerError(f"incident {incident_id} is void; it cannot be edited")
        started = changes.get("started_at", incident.started_at)
        restored = changes.get("restored_at", incident.restored_at)
        if restored is not None and restored < started:
            raise LedgerError("restored time is before the start")
        if changes.get("restored_at") is not None and incident.status == "open" \
                and "status" not in changes:
            changes["status"] = "restored"  # a confirmed restore time ends an open incident
        changes = {k: v for k, v in changes.items() if getattr(incident, k) != v}
        if not changes:
            return {}
        with self.db.transaction() as conn:
            self._update(conn, incident, at, actor, "edit", changes)
        return {k: (getattr(incident, k), v) for k, v in changes.items()}

    def void(self, incident_id: int, actor: str, at: float, reason: str) -> None:
        """Take an incident out of the KPI (entered twice, a test, a false alarm). Nothing is
        deleted: the status becomes ``void`` and the timeline keeps who, when and why; reports
        list voided incidents in an audit annex."""
        if not reason.strip():
            raise LedgerError("voiding an incident needs a reason")
        incident = self.get(incident_id)
        if incident.status == "void":
            raise LedgerError(f"incident {incident_id} is already void")
        with self.db.transaction() as conn:
            self._update(conn, incident, at, actor, "void", {"status": "void"},
                         {"reason": reason})

    def voided(self, *, since: float | None = None, until: float | None = None
               ) -> list[tuple[Incident, TimelineEntry | None]]:
        """Void incidents started in ``[since, until)`` with the timeline entry that voided
        them (None for one voided before voids were recorded this way)."""
        out = []
        for incident in self.incidents(since=since, until=until, status="void"):
            entry = next((e for e in reversed(self.timeline(incident.id)) if e.kind == "void"),
                         None)
            if since is None or incident.started_at >= since:
                out.append((incident, entry))
        return out

    # --- the detector's side (one transaction per sample) -------------------------------
    def load_state(self, system: str) -> dict[str, Any] | None:
        rows = self.db.query("SELECT state FROM kpi_detector_state WHERE system = ?", (system,))
        return json.loads(rows[0]["state"]) if rows else None

    def apply(self, system: str, events: Iterable[Event], state: Any, at: float,
              actor: str = "agent") -> None:
        """Store what the detector decided and its new state, atomically.

        ``state`` is a callable returning the state dict: it is called after the events set
        the outages' ``ref``, so the saved state knows the ledger ids.
        """
        with self.db.transaction() as conn:
            for event in events:
                outage = event.outage
                if event.kind == "open":
                    outage.ref = self._insert(
                        conn, system, "auto", outage.started_at, outage.started_earliest,
                        outage.detected_at, None, None, outage.gap_seconds, "unknown", "", "",
                        actor, event.at, outage.parts)
                    continue
                if outage.ref is None:
                    continue
                row = conn.execute("SELECT * FROM incident WHERE id = ?",
                                   (outage.ref,)).fetchone()
                if row is None:
                    continue
                current = _incident(row)
                if event.kind == "restore" and current.closed_at is not None:
                    # people already closed it with their restore time: keep theirs, note ours
                    self._event(conn, current.id, event.at, actor, "restored",
                                {"detected_restored_at": outage.restored_at, "kept": True})
                elif event.kind == "restore":
                    changes: dict[str, Any] = {
                        "restored_at": outage.restored_at,
                        "restored_earliest": outage.restored_earliest,
                        "gap_seconds": outage.gap_seconds, "parts": outage.parts}
                    if current.status == "open":
                        changes["status"] = "restored"
                    self._update(conn, current, event.at, actor, "restored", changes)
                else:  # reopen: an outage within merge_gap continues this incident
                    self._update(conn, current, event.at, actor, "reopened",
                                 {"restored_at": None, "restored_earliest": None,
                                  "status": "open", "gap_seconds": outage.gap_seconds,
                                  "parts": outage.parts})
            conn.execute("INSERT INTO kpi_detector_state (system, state, updated_at) "
                         "VALUES (?, ?, ?) ON CONFLICT (system) DO UPDATE SET "
                         "state = excluded.state, updated_at = excluded.updated_at",
                         (system, json.dumps(state()), at))

    # --- maintenance windows -------------------------------------------------------------
    def add_window(self, system: str | None, starts_at: float, ends_at: float, *, actor: str,
                   at: float, reason: str = "", approved_by: str = "") -> int:
        if ends_at <= starts_at:
            raise LedgerError("a maintenance window must end after it starts")
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO maintenance_window (system, starts_at, ends_at, reason, "
                "requested_by, approved_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (system or None, starts_at, ends_at, reason, actor, approved_by or actor, at))
            window_id = int(cursor.lastrowid or 0)
            # mark incidents it overlaps that began before it existed: they need review
            for row in conn.execute(
                    "SELECT id FROM incident WHERE started_at < ? AND status != 'void' AND "
                    "(restored_at IS NULL OR restored_at > ?) AND (? IS NULL OR system = ?)",
                    (ends_at, starts_at, system or None, system or None)):
                self._event(conn, row["id"], at, actor, "maintenance_added_late",
                            {"window": window_id, "applied": False})
        return window_id

    def approve_correction(self, window_id: int, actor: str, at: float, note: str) -> None:
        """Apply a late window retroactively: an explicit, justified correction."""
        if not note.strip():
            raise LedgerError("a correction needs a justification")
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE maintenance_window SET correction = 1, correction_by = ?, "
                "correction_note = ? WHERE id = ?", (actor, note, window_id))
            if cursor.rowcount == 0:
                raise LedgerError(f"no maintenance window {window_id}")

    def windows(self) -> list[MaintenanceWindow]:
        return [_window(r) for r in
                self.db.query("SELECT * FROM maintenance_window ORDER BY starts_at, id")]


#: a clock skew allowed between the machine recording a time and the one judging "now"
FUTURE_SLACK_SECONDS = 300.0


def refuse_future(now: float, **times: float | None) -> None:
    """People's inputs (CLI, API): an outage cannot start or end after ``now``. The ledger
    itself does not judge, so imports and tests can record any history."""
    for name, value in times.items():
        if value is not None and value > now + FUTURE_SLACK_SECONDS:
            raise LedgerError(f"{name.replace('_at', '')} time is in the future")


def check_category(category: str) -> str:
    if category not in CAUSE_CATEGORIES:
        raise LedgerError(f"unknown cause category {category!r} "
                          f"(use {', '.join(CAUSE_CATEGORIES)})")
    return category


# --- a fiscal year, graded (shared by the metrics, the API and the report) -----------------

@dataclass(frozen=True)
class YearView:
    fiscal_year: int
    scale: Scale
    #: every incident listed for the year: its own (graded) and carried-over ones
    graded: list[tuple[Incident, Grade]]
    systems: dict[str, YearResult]
    office: YearResult

    def carried_over(self) -> list[Incident]:
        return [i for i, _ in self.graded if carried_over(i.facts(), self.fiscal_year)]


def all_windows(ledger: Ledger, config: KpiConfig) -> list[Window]:
    return config_windows(config) + [w.window() for w in ledger.windows()]


def grade_year(ledger: Ledger, config: KpiConfig, fy: int, now: float,
               systems: Sequence[str], *, only: str | None = None,
               exclude: Iterable[str] = ()) -> YearView:
    """Grade fiscal year ``fy`` for ``systems``, plus any other system with incidents (one
    no longer configured) unless ``exclude``d (configured but outside the KPI)."""
    scale = scale_for(fy, scales_from_config(config))
    start, end = fiscal_year_bounds(fy)
    windows = all_windows(ledger, config)
    incidents = ledger.incidents(only, since=start, until=min(end, now + 1))
    graded = [(i, grade_incident(i.facts(), windows, scale_for(
        fiscal_year(i.started_at), scales_from_config(config)) if i.started_at < start
        else scale, now)) for i in incidents]
    skip = set(exclude)
    names = [only] if only else list(dict.fromkeys(
        [*systems, *(i.system for i in incidents if i.system not in skip)]))
    graded = [(i, g) for i, g in graded if i.system in names]
    pairs = [(i.facts(), g) for i, g in graded]
    results = {name: system_year(name, fy, pairs, scale) for name in names}
    return YearView(fy, scale, graded, results, office_year(fy, list(results.values()), scale))


def incident_row(incident: Incident, kpi: KpiConfig, now: float, windows: list[Window]
                 ) -> dict[str, Any]:
    """An incident with its grade, for the CLI's tables and the JSON API."""
    scale = scale_for(fiscal_year(incident.started_at), scales_from_config(kpi))
    grade = grade_incident(incident.facts(), windows, scale, now)
    return {**incident.to_json(), "fiscal_year": grade.fiscal_year,
            "duration_seconds": grade.effective_seconds,
            "duration_best_seconds": grade.duration_best,
            "excluded_maintenance_seconds": grade.excluded_seconds, "level": grade.level,
            "provisional": grade.provisional, "maintenance_only": grade.maintenance_only,
            "review": list(grade.review)}
