"""The asset register and end-of-life policy.

Assets live in the agent's SQLite file. Every field value is kept *per source*
(``import``: the office's list; ``discovery``: what a UPS or host reported), so an imported
value and a discovered one never overwrite each other: the imported value is used and a
disagreement is shown as a conflict. Assets are matched by serial number (normalized), then
by asset tag; a UPS without a serial is matched by its monitor reference.

End of life (Snipe-IT / NetBox-lifecycle style): in-service date + service life of the class
(or the asset's own life override), or the vendor's end-of-support date if earlier. A UPS
battery is also due on the day the UPS first asked for a replacement or failed a self-test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from upkeep.config.policy_assets import AssetsConfig
from upkeep.kit.db import Database, Migration
from upkeep.kit.thai import BANGKOK, fiscal_year_start
from upkeep.policies.assets_import import (
    ParsedRow,
    Rejection,
    normalize_serial,
    read_table,
    validate_row,
)

log = logging.getLogger(__name__)

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS asset (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    serial TEXT UNIQUE,
    tag TEXT UNIQUE,
    ref TEXT UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS asset_value (
    asset_id INTEGER NOT NULL REFERENCES asset(id),
    field TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('import', 'discovery')),
    value TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (asset_id, field, source)
);
CREATE TABLE IF NOT EXISTS asset_import (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, file TEXT NOT NULL, added INTEGER, updated INTEGER,
    unchanged INTEGER, rejected INTEGER
);
"""
#: the asset room's schema steps (upkeep.kit.db): version 1 is the 0.1.0 DDL; append a
#: step to change a table, never edit a released one
MIGRATIONS: tuple[Migration, ...] = (SCHEMA_V1,)

#: fields compared between sources (identity fields excluded: they are how we matched)
COMPARED = ("class", "site", "manufacturer", "model", "in_service")
STATES = ("in_service", "due_this_fiscal_year", "overdue", "unknown")


@dataclass(frozen=True)
class Conflict:
    field: str
    imported: str
    discovered: str


@dataclass
class Asset:
    id: int
    serial: str | None
    tag: str | None
    ref: str | None
    values: dict[str, str] = field(default_factory=dict)  # effective (import wins)
    sources: dict[str, dict[str, str]] = field(default_factory=dict)  # source -> field -> value
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.tag or self.serial or self.ref or f"#{self.id}"

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    @property
    def asset_class(self) -> str:
        return self.get("class") or "other"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "tag": self.tag, "serial": self.serial,
                "ref": self.ref, "values": dict(self.values),
                "sources": {k: dict(v) for k, v in self.sources.items()},
                "conflicts": [c.__dict__ for c in self.conflicts]}


@dataclass(frozen=True)
class EndOfLife:
    due: date | None
    reason: str  # age, vendor_eos, battery_replace_flag, battery_selftest_failed, unknown
    life_years: float
    started: date | None
    basis: str  # which date the age counts from (in_service, purchase_date, manufactured)


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": [{"row": r.row, "reason": r.reason} for r in self.rejected],
                "warnings": [{"row": row, "warning": w} for row, w in self.warnings]}


# --- dates and end of life ---------------------------------------------------------------

def add_years(start: date, years: float) -> date:
    """``start`` plus whole months (29 Feb + 1 y = 28 Feb)."""
    months = round(years * 12)
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    month += 1
    for day in (start.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise ValueError(f"cannot add {years} years to {start}")


def date_fiscal_year(day: date) -> int:
    """BE fiscal year of a calendar date (1 October starts the next one)."""
    return day.year + 543 + (1 if day.month >= 10 else 0)


def fiscal_year_dates(fy_be: int) -> tuple[date, date]:
    """First and last day of a fiscal year."""
    start = fiscal_year_start(fy_be).date()
    return start, fiscal_year_start(fy_be + 1).date() - timedelta(days=1)


def today_bangkok(now: float | None = None) -> date:
    return datetime.fromtimestamp(time.time() if now is None else now, BANGKOK).date()


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def end_of_life(asset: Asset, config: AssetsConfig) -> EndOfLife:
    cls = asset.asset_class
    life = float(asset.get("life_years") or config.life_of(cls).years)
    started, basis = None, ""
    for key in ("in_service", "purchase_date", "manufactured"):
        started = _date(asset.get(key))
        if started:
            basis = key
            break
    candidates: list[tuple[date, str]] = []
    if started:
        candidates.append((add_years(started, life), "age"))
    eos = _date(asset.get("vendor_eos"))
    if eos:
        candidates.append((eos, "vendor_eos"))
    flagged = _date(asset.get("flagged_at"))
    if cls == "ups_battery" and flagged:
        reason = ("battery_selftest_failed" if asset.get("selftest_result") == "failed"
                  else "battery_replace_flag")
        candidates.append((flagged, reason))
    if not candidates:
        return EndOfLife(None, "unknown", life, None, "")
    due, reason = min(candidates, key=lambda c: c[0])
    return EndOfLife(due, reason, life, started, basis)


def classify(due: date | None, fiscal_year: int, as_of: date | None = None) -> str:
    """overdue / due_in_fy / next_fy / later / unknown, for a budget on ``fiscal_year``.

    The section depends on the fiscal year alone, never on the day the report is written:
    *overdue* = end of life before the year starts, *due_in_fy* = inside it, *next_fy* =
    inside the year after. A budget for FY 2569 written in FY 2570 must not move FY 2570's
    items into it. (``as_of`` is accepted for old callers and ignored; ``state_now`` gives
    the status on a given day.)"""
    del as_of
    if due is None:
        return "unknown"
    start, end = fiscal_year_dates(fiscal_year)
    if due < start:
        return "overdue"
    if due <= end:
        return "due_in_fy"
    if due <= fiscal_year_dates(fiscal_year + 1)[1]:
        return "next_fy"
    return "later"


def state_now(due: date | None, today: date) -> str:
    """The metric's state: overdue / due_this_fiscal_year / in_service / unknown."""
    if due is None:
        return "unknown"
    if due < today:
        return "overdue"
    if due <= fiscal_year_dates(date_fiscal_year(today))[1]:
        return "due_this_fiscal_year"
    return "in_service"


def _same(key: str, a: str, b: str) -> bool:
    if key == "in_service":
        return _date(a) == _date(b)
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


# --- the register ---------------------------------------------------------------------------

class AssetRegister:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("asset", MIGRATIONS)

    # reading
    def assets(self, *, include_disposed: bool = True) -> list[Asset]:
        rows = self.db.query("SELECT id, serial, tag, ref FROM asset ORDER BY id")
        values = self.db.query("SELECT asset_id, field, source, value FROM asset_value")
        by_id: dict[int, Asset] = {r["id"]: Asset(r["id"], r["serial"], r["tag"], r["ref"])
                                   for r in rows}
        for v in values:
            asset = by_id.get(v["asset_id"])
            if asset is not None:
                asset.sources.setdefault(v["source"], {})[v["field"]] = v["value"]
        out = []
        for asset in by_id.values():
            discovered = asset.sources.get("discovery", {})
            imported = asset.sources.get("import", {})
            asset.values = {**discovered, **imported}
            asset.conflicts = [Conflict(k, imported[k], discovered[k]) for k in COMPARED
                               if k in imported and k in discovered
                               and not _same(k, imported[k], discovered[k])]
            if include_disposed or asset.get("status") != "disposed":
                out.append(asset)
        return out

    def _find(self, conn: Any, *, serial: str | None = None, tag: str | None = None,
              ref: str | None = None) -> dict[str, Any] | None:
        for column, value in (("serial", serial), ("tag", tag), ("ref", ref)):
            if value:
                row = conn.execute(f"SELECT id, serial, tag, ref FROM asset WHERE {column} = ?",
                                   (value,)).fetchone()
                if row is not None:
                    return dict(row)
        return None

    def _set_values(self, conn: Any, asset_id: int, source: str, values: Mapping[str, str],
                    now: float, *, replace: bool) -> bool:
        """Write ``values`` for one source; ``replace`` drops that source's other fields."""
        current = {r["field"]: r["value"] for r in conn.execute(
            "SELECT field, value FROM asset_value WHERE asset_id = ? AND source = ?",
            (asset_id, source))}
        changed = False
        for key, value in values.items():
            if value == "" or value is None:
                continue
            if current.get(key) != value:
                conn.execute("INSERT INTO asset_value (asset_id, field, source, value, "
                             "updated_at) VALUES (?,?,?,?,?) ON CONFLICT (asset_id, field, "
                             "source) DO UPDATE SET value = excluded.value, "
                             "updated_at = excluded.updated_at",
                             (asset_id, key, source, str(value), now))
                changed = True
        if replace:
            for key in set(current) - {k for k, v in values.items() if v not in ("", None)}:
                conn.execute("DELETE FROM asset_value WHERE asset_id = ? AND field = ? AND "
                             "source = ?", (asset_id, key, source))
                changed = True
        return changed

    # import
    def import_file(self, path: str | Path, *, now: float | None = None) -> ImportResult:
        rows = read_table(Path(path))
        result = self.import_rows(rows, now=now)
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO asset_import (at, file, added, updated, unchanged, "
                         "rejected) VALUES (?,?,?,?,?,?)",
                         (time.time() if now is None else now, str(path), result.added,
                          result.updated, result.unchanged, len(result.rejected)))
        return result

    def import_rows(self, rows: Iterable[tuple[int, dict[str, Any]]], *,
                    now: float | None = None) -> ImportResult:
        when = time.time() if now is None else now
        result = ImportResult()
        seen_tags: dict[str, int] = {}
        seen_serials: dict[str, int] = {}
        for number, raw in rows:
            parsed = validate_row(number, raw)
            if isinstance(parsed, Rejection):
                result.rejected.append(parsed)
                continue
            tag, serial = parsed.values.get("asset_tag") or None, parsed.values.get("serial") or None
            duplicate = (tag and seen_tags.get(tag)) or (serial and seen_serials.get(serial))
            if duplicate:
                result.rejected.append(Rejection(number, f"same asset as row {duplicate}"))
                continue
            try:
                outcome = self._import_one(parsed, when)
            except _Refused as err:
                result.rejected.append(Rejection(number, str(err)))
                continue
            if tag:
                seen_tags[tag] = number
            if serial:
                seen_serials[serial] = number
            result.warnings.extend((number, w) for w in parsed.warnings)
            setattr(result, outcome, getattr(result, outcome) + 1)
        return result

    def _import_one(self, parsed: ParsedRow, now: float) -> str:
        values = dict(parsed.values)
        tag = values.pop("asset_tag", "") or None
        serial = values.get("serial") or None
        parent = values.pop("parent_serial", "") or None
        ref = f"battery:{parent}" if parent and values.get("class") == "ups_battery" else None
        if parent:
            values["parent"] = parent
        values.pop("serial", None)
        with self.db.transaction() as conn:
            by_serial = self._find(conn, serial=serial)
            by_tag = self._find(conn, tag=tag)
            by_ref = self._find(conn, ref=ref)
            found = [a for a in (by_serial, by_tag, by_ref) if a is not None]
            ids = {a["id"] for a in found}
            if len(ids) > 1:
                raise _Refused(f"asset tag {tag} and serial {serial} belong to different "
                               "assets in the register")
            if not found:
                cur = conn.execute("INSERT INTO asset (serial, tag, ref, created_at) "
                                   "VALUES (?,?,?,?)", (serial, tag, ref, now))
                self._set_values(conn, int(cur.lastrowid or 0), "import", values, now,
                                 replace=True)
                return "added"
            asset = found[0]
            if tag and asset["tag"] and asset["tag"] != tag:
                raise _Refused(f"serial {serial} is registered under asset tag {asset['tag']}")
            if serial and asset["serial"] and asset["serial"] != serial:
                raise _Refused(f"asset tag {tag} is registered with serial {asset['serial']}")
            changed = False
            if (tag and not asset["tag"]) or (serial and not asset["serial"]):
                conn.execute("UPDATE asset SET tag = COALESCE(tag, ?), serial = "
                             "COALESCE(serial, ?) WHERE id = ?", (tag, serial, asset["id"]))
                changed = True
            changed |= self._set_values(conn, asset["id"], "import", values, now, replace=True)
            return "updated" if changed else "unchanged"

    # discovery
    def discover(self, *, serial: str | None, ref: str, values: Mapping[str, str],
                 now: float | None = None) -> bool:
        """Record what a reading said about one asset; True when something changed."""
        when = time.time() if now is None else now
        serial = normalize_serial(serial)
        with self.db.transaction() as conn:
            found = self._find(conn, serial=serial, ref=ref)
            if found is not None and serial and found["serial"] not in (None, serial):
                # another unit now answers under this monitor name (the UPS was replaced):
                # it is a new asset; the old one keeps its history but not the name
                conn.execute("UPDATE asset SET ref = NULL WHERE id = ?", (found["id"],))
                found = None
            if found is None:
                cur = conn.execute("INSERT INTO asset (serial, tag, ref, created_at) "
                                   "VALUES (?,?,?,?)", (serial, None, ref, when))
                asset_id = int(cur.lastrowid or 0)
                changed = True
            else:
                asset_id, changed = found["id"], False
                if found["ref"] is None and self._find(conn, ref=ref) is None:
                    conn.execute("UPDATE asset SET ref = ? WHERE id = ?", (ref, asset_id))
            values = dict(values)
            flagged = values.pop("flagged", None)
            changed |= self._set_values(conn, asset_id, "discovery", values, when,
                                        replace=False)
            if flagged is not None:
                changed |= self._flag(conn, asset_id, flagged == "1", when)
            return changed

    def _flag(self, conn: Any, asset_id: int, flagged: bool, now: float) -> bool:
        """Remember the day a battery was first flagged; forget it once the flag clears."""
        row = conn.execute("SELECT value FROM asset_value WHERE asset_id = ? AND field = "
                           "'flagged_at' AND source = 'discovery'", (asset_id,)).fetchone()
        if flagged and row is None:
            conn.execute("INSERT INTO asset_value (asset_id, field, source, value, updated_at) "
                         "VALUES (?, 'flagged_at', 'discovery', ?, ?)",
                         (asset_id, today_bangkok(now).isoformat(), now))
            return True
        if not flagged and row is not None:
            conn.execute("DELETE FROM asset_value WHERE asset_id = ? AND field = 'flagged_at' "
                         "AND source = 'discovery'", (asset_id,))
            return True
        return False

    def clear_discovered(self, asset_id: int, keys: Iterable[str]) -> None:
        with self.db.transaction() as conn:
            for key in keys:
                conn.execute("DELETE FROM asset_value WHERE asset_id = ? AND field = ? AND "
                             "source = 'discovery'", (asset_id, key))


class _Refused(Exception):
    pass


def iso_from_timestamp(value: Any) -> str:
    """A reading's Unix timestamp (UTC midnight of a reported date) as an ISO date."""
    if value is None:
        return ""
    return datetime.fromtimestamp(float(value), UTC).date().isoformat()
