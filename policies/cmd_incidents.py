"""``upkeep incidents list|show|add|ack|resolve|note|edit|void|rebuild|maintenance``.

The CLI writes straight to the agent's SQLite file in ``data_dir`` (WAL lets it do so while
the agent runs) and records the operating-system user as who did it. Times are given as
``2025-03-15 22:00`` (Asia/Bangkok unless a zone is given, e.g. ``...T15:00:00Z``), day-first
``15/03/2568 22:00``, or ``now``; a year >= 2400 is Buddhist Era, and a time in the future is
refused (maintenance windows excepted: they are planned ahead). They are shown in Bangkok time with Buddhist-Era years for ``--lang th``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from typing import Any

from upkeep.config import Config
from upkeep.errors import StoreError
from upkeep.kit.cli import EXIT_CONFIG, EXIT_OK, Failed, UsageError, add_config_arg, with_config
from upkeep.kit.thai import (
    DateInputError,
    Lang,
    fiscal_year,
    fiscal_year_bounds,
    format_datetime,
    format_duration,
    parse_typed_datetime,
)
from upkeep.policies.incidents import (
    CAUSE_CATEGORIES,
    Ledger,
    LedgerError,
    all_windows,
    incident_row,
)
from upkeep.policies.report_args import fiscal_year_arg


def parse_when(text: str) -> float:
    """A past or present time: ``now``, ``2025-03-15 22:00`` (Bangkok), day-first
    ``15/03/2568 22:00``, ISO-8601 with a zone; a year >= 2400 is Buddhist Era. A time in the
    future is refused (an outage cannot have started or ended later than now)."""
    try:
        return parse_typed_datetime(text)
    except DateInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parse_planned(text: str) -> float:
    """As ``parse_when``, but the future is allowed (maintenance windows are planned ahead)."""
    try:
        return parse_typed_datetime(text, allow_future=True)
    except DateInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def actor() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # ImportError: no pwd module (Windows, 3.11)
        return "unknown"


def _ledger(config: Config) -> Ledger:
    return Ledger.open(config.data_dir)


def _system_known(config: Config, name: str) -> bool:
    if any(s.name == name for s in config.systems):
        return True
    print(f"upkeep: unknown system {name!r} (configured: "
          f"{', '.join(s.name for s in config.systems) or 'none'})", file=sys.stderr)
    return False


def _when(value: float | None, lang: str) -> str:
    return "-" if value is None else format_datetime(value, "th" if lang == "th" else "en")


def _run(func: Any) -> Any:
    """Wrap a command: config first, ledger errors as exit 1 with a message."""

    @with_config
    def run(args: argparse.Namespace, config: Config) -> int:
        try:
            ledger = _ledger(config)
        except StoreError as err:
            raise Failed(str(err)) from err
        try:
            result: int = func(args, config, ledger)
            return result
        except (LedgerError, StoreError) as err:
            raise Failed(str(err)) from err
        finally:
            ledger.close()

    return run


def _list(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    since = until = None
    now = time.time()
    if not args.all:
        since, until = fiscal_year_bounds(args.fiscal_year or fiscal_year(now))
    status = "open" if args.open else None
    windows = all_windows(ledger, config.policies.kpi)
    rows = [incident_row(i, config.policies.kpi, now, windows)
            for i in ledger.incidents(args.system, since=since, until=until, status=status)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    lang: Lang = "th" if args.lang == "th" else "en"
    print(f"{'ID':>4}  {'SYSTEM':<12} {'SOURCE':<8} {'STATUS':<9} {'STARTED':<20} "
          f"{'RESTORED':<20} {'DURATION':<22} LEVEL  REVIEW")
    for row in rows:
        flags = ",".join(row["review"] + (["provisional"] if row["provisional"] else []))
        print(f"{row['id']:>4}  {row['system']:<12} {row['source']:<8} {row['status']:<9} "
              f"{_when(row['started_at'], lang):<20} {_when(row['restored_at'], lang):<20} "
              f"{format_duration(row['duration_seconds'], lang):<22} {row['level']:<6} "
              f"{flags}")
    return EXIT_OK


def _show(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    incident = ledger.get(args.id)
    row = incident_row(incident, config.policies.kpi, time.time(),
                       all_windows(ledger, config.policies.kpi))
    entries = ledger.timeline(incident.id)
    timeline = [{"at": e.at, "actor": e.actor, "kind": e.kind, "payload": e.payload}
                for e in entries]
    if args.json:
        print(json.dumps({**row, "timeline": timeline}, ensure_ascii=False, indent=2))
        return EXIT_OK
    lang: Lang = "th" if args.lang == "th" else "en"
    for key in ("id", "system", "source", "status", "cause_category", "cause_text",
                "fix_text", "level", "review"):
        print(f"{key:<22} {row[key]}")
    for key in ("started_at", "started_earliest", "detected_at", "acknowledged_at",
                "restored_earliest", "restored_at", "closed_at"):
        print(f"{key:<22} {_when(row[key], lang)}")
    print(f"{'duration':<22} {format_duration(row['duration_seconds'], lang)}")
    print("timeline:")
    for entry in entries:
        print(f"  {_when(entry.at, lang)}  {entry.actor:<12} {entry.kind:<10} "
              f"{json.dumps(entry.payload, ensure_ascii=False)}")
    return EXIT_OK


def _add(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    if not _system_known(config, args.system):
        return EXIT_CONFIG
    iid = ledger.add(args.system, args.started, restored_at=args.restored, actor=actor(),
                     at=time.time(), cause_category=args.cause_category,
                     cause_text=args.cause or "", fix_text=args.fix or "")
    print(iid)
    return EXIT_OK


def _ack(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    ledger.acknowledge(args.id, actor(), time.time(), args.note or "")
    return EXIT_OK


def _resolve(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    ledger.resolve(args.id, actor(), time.time(), restored_at=args.restored,
                   cause_category=args.cause_category, cause_text=args.cause,
                   fix_text=args.fix)
    return EXIT_OK


def _note(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    ledger.note(args.id, actor(), time.time(), args.text)
    return EXIT_OK


def _edit(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    """A reviewed correction: e.g. the real start time found in the server's logs settles
    a data gap (start and earliest start become the same, the review flag goes away)."""
    changes: dict[str, Any] = {}
    if args.started is not None:
        changes["started_at"] = changes["started_earliest"] = args.started
    if args.restored is not None:
        changes["restored_at"] = changes["restored_earliest"] = args.restored
    for key, value in (("cause_category", args.cause_category), ("cause_text", args.cause),
                       ("fix_text", args.fix)):
        if value is not None:
            changes[key] = value
    if not changes:
        raise UsageError("nothing to change")
    changed = ledger.edit(args.id, actor(), time.time(), **changes)
    lang: Lang = "th" if args.lang == "th" else "en"
    if not changed:
        print(f"incident {args.id}: nothing changed (the values are already so)")
    for key, (before, after) in changed.items():
        if key.endswith(("_at", "_earliest")):
            before = _when(before, lang)
            after = _when(after, lang)
        print(f"incident {args.id}: {key}: {before if before not in (None, '') else '-'} -> "
              f"{after if after not in (None, '') else '-'}")
    return EXIT_OK


def _void(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    ledger.void(args.id, actor(), time.time(), args.reason)
    print(f"incident {args.id}: void ({args.reason}); kept in the ledger and listed in the "
          "KPI report's audit annex, not graded")
    return EXIT_OK


def _mw_list(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    rows = [w.to_json() for w in ledger.windows()]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    for w in rows:
        print(f"{w['id']:>4}  {w['system'] or '*':<12} {_when(w['starts_at'], 'en')} - "
              f"{_when(w['ends_at'], 'en')}  by {w['requested_by']}  "
              f"{'correction ' if w['correction'] else ''}{w['reason']}")
    return EXIT_OK


def _mw_add(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    if args.system and not _system_known(config, args.system):
        return EXIT_CONFIG
    wid = ledger.add_window(args.system, args.start, args.end, actor=actor(), at=time.time(),
                            reason=args.reason or "", approved_by=args.approved_by or "")
    print(wid)
    return EXIT_OK


def _mw_approve(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    ledger.approve_correction(args.id, actor(), time.time(), args.note)
    return EXIT_OK


def _rebuild(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    from upkeep.policies.rebuild import run_rebuild

    return run_rebuild(args, config, ledger)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("incidents", help="the incident ledger behind the recovery KPI")
    cmds = parser.add_subparsers(dest="incidents", metavar="ACTION", required=True)

    def leaf(name: str, help: str, func: Any) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help)
        add_config_arg(p)
        p.set_defaults(func=_run(func))
        return p

    p = leaf("list", "list incidents", _list)
    p.add_argument("--system")
    p.add_argument("--fiscal-year", type=fiscal_year_arg, metavar="BE",
                   help="Buddhist-Era fiscal year, e.g. 2568 (default: the current one)")
    p.add_argument("--all", action="store_true", help="every fiscal year")
    p.add_argument("--open", action="store_true", help="only open incidents")
    p.add_argument("--json", action="store_true")
    p.add_argument("--lang", choices=["th", "en"], default="en")
    p = leaf("show", "one incident with its timeline", _show)
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    p.add_argument("--lang", choices=["th", "en"], default="en")
    categories = list(CAUSE_CATEGORIES)
    p = leaf("add", "record an outage people saw (a manual incident)", _add)
    p.add_argument("--system", required=True)
    p.add_argument("--started", type=parse_when, required=True, metavar="WHEN")
    p.add_argument("--restored", type=parse_when, metavar="WHEN")
    p.add_argument("--cause-category", choices=categories, default="unknown")
    p.add_argument("--cause")
    p.add_argument("--fix")
    p = leaf("ack", "acknowledge an incident", _ack)
    p.add_argument("id", type=int)
    p.add_argument("--note")
    p = leaf("resolve", "record cause and fix and close the incident", _resolve)
    p.add_argument("id", type=int)
    p.add_argument("--restored", type=parse_when, metavar="WHEN",
                   help="when service came back (default: as detected, else now)")
    p.add_argument("--cause-category", choices=categories)
    p.add_argument("--cause")
    p.add_argument("--fix")
    p = leaf("edit", "correct an incident after review (before/after kept)", _edit)
    p.add_argument("id", type=int)
    p.add_argument("--started", type=parse_when, metavar="WHEN",
                   help="the confirmed start (settles a data gap at the start)")
    p.add_argument("--restored", type=parse_when, metavar="WHEN",
                   help="the confirmed restore time (settles a data gap at the end)")
    p.add_argument("--cause-category", choices=categories)
    p.add_argument("--cause")
    p.add_argument("--fix")
    p.add_argument("--lang", choices=["th", "en"], default="en")
    p = leaf("void", "take an incident out of the KPI (kept, with who and why)", _void)
    p.add_argument("id", type=int)
    p.add_argument("--reason", required=True, help="why (entered twice, a test, ...)")
    p = leaf("note", "add a note to the timeline", _note)
    p.add_argument("id", type=int)
    p.add_argument("text")
    p = leaf("rebuild", "reconstruct incidents of a period from Prometheus history", _rebuild)
    p.add_argument("--prometheus", required=True, metavar="URL")
    p.add_argument("--system", required=True)
    p.add_argument("--from", dest="start", type=parse_when, required=True, metavar="WHEN")
    p.add_argument("--to", dest="end", type=parse_planned, required=True, metavar="WHEN")
    p.add_argument("--step", default="60s", help="the scrape interval (default 60s)")
    p.add_argument("--timeout", default="30s", help="per query (default 30s)")
    p.add_argument("--dry-run", action="store_true", help="show, do not record")
    maint = cmds.add_parser("maintenance", help="approved maintenance windows")
    mcmds = maint.add_subparsers(dest="maintenance", metavar="ACTION", required=True)

    def mleaf(name: str, help: str, func: Any) -> argparse.ArgumentParser:
        p = mcmds.add_parser(name, help=help)
        add_config_arg(p)
        p.set_defaults(func=_run(func))
        return p

    p = mleaf("list", "list windows", _mw_list)
    p.add_argument("--json", action="store_true")
    p = mleaf("add", "add a window (before the work: a late one needs a correction)", _mw_add)
    p.add_argument("--system", help="default: every system")
    p.add_argument("--start", type=parse_planned, required=True, metavar="WHEN")
    p.add_argument("--end", type=parse_planned, required=True, metavar="WHEN")
    p.add_argument("--reason")
    p.add_argument("--approved-by")
    p = mleaf("approve", "apply a late window as a justified correction", _mw_approve)
    p.add_argument("id", type=int)
    p.add_argument("--note", required=True, help="the justification (memo number ...)")
