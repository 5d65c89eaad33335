"""``upkeep checklist``: the security-policy checklist as it stands, and attesting controls.

The automated controls are judged from what the *running agent* last saw (its
``/api/v1/targets``), never by probing again from the command line; when no agent answers,
they show ``error`` with that reason and the manual controls still show.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlsplit

from upkeep.config import Config, reveal
from upkeep.errors import ConfigError, StoreError
from upkeep.kit.cli import EXIT_CONFIG, EXIT_DOWN, EXIT_OK, UsageError, add_config_arg, with_config
from upkeep.kit.db import Database, db_path
from upkeep.policies.assets import today_bangkok
from upkeep.policies.assets_import import parse_date
from upkeep.policies.attestations import ATTEST_STATUSES, AttestationError, AttestationLedger
from upkeep.policies.checklist import (
    ChecklistResult,
    check_attestable,
    evaluate,
    load_catalogue,
)
from upkeep.policies.checklist_service import evidence_dir
from upkeep.policies.ita import check_once
from upkeep.reading import Reading


def agent_url(config: Config) -> str:
    host = config.listen_host
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if config.web.tls_server_config else "http"
    return f"{scheme}://{host}:{config.listen_port}"


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def agent_readings(config: Config, timeout: float = 5.0) -> tuple[list[Reading], str | None]:
    """The running agent's latest readings, or ([], why not)."""
    import httpx  # only this command pays for it, not `upkeep run`

    url = agent_url(config)
    headers = {}

    token = reveal(config.web.api_token)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        # our own agent on loopback, often with a self-issued certificate
        response = httpx.get(f"{url}/api/v1/targets", headers=headers, timeout=timeout,
                             verify=not _loopback(url))
        response.raise_for_status()
        items = response.json()["targets"]
    except (httpx.HTTPError, ValueError, KeyError) as err:
        return [], f"the agent at {url} did not answer ({err})"
    readings = [Reading(i["kind"], i["target"], float(i["time"]), bool(i["ok"]),
                        float(i.get("duration_seconds") or 0), i.get("reason") or "",
                        i.get("message") or "", (), i.get("info") or {}) for i in items]
    return readings, None


def open_ledger(config: Config) -> AttestationLedger:
    db = Database(db_path(config))
    return AttestationLedger(db, evidence_dir(config))


def current_checklist(config: Config) -> tuple[ChecklistResult, str | None]:
    catalogue = load_catalogue(config.policies.checklist)
    readings, problem = agent_readings(config)
    ledger = open_ledger(config)
    try:
        latest = ledger.latest()
        if config.policies.ita.pages:  # the agent keeps these to itself: fetch them now
            readings = [*readings, *check_once(config, ledger.db)]
    finally:
        ledger.db.close()
    result = evaluate(catalogue, config, readings, latest, time.time())
    if problem:
        result = _explain(result, problem)
    return result, problem


def _explain(result: ChecklistResult, problem: str) -> ChecklistResult:
    from dataclasses import replace

    rows = []
    for row in result.controls:
        subjects = tuple(replace(s, detail="no reading: the agent did not answer")
                         if s.status == "error" and "no reading" in s.detail else s
                         for s in row.subjects)
        rows.append(replace(row, subjects=subjects))
    return replace(result, controls=tuple(rows))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("checklist", help="show the security-policy checklist, or attest "
                                              "a manual or hybrid control")
    add_config_arg(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--lang", choices=["th", "en"], default="en")
    parser.set_defaults(func=with_config(show))
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    attest = actions.add_parser("attest", help="record that a control is met, with evidence")
    _config_again(attest)
    attest.add_argument("control", help="control id, e.g. P11-WEB-02")
    attest.add_argument("--evidence", required=True, metavar="FILE|URL",
                        help="a document (copied and hashed) or an http(s) URL")
    attest.add_argument("--by", required=True, metavar="NAME", help="who attests")
    attest.add_argument("--valid-until", metavar="DATE",
                        help="YYYY-MM-DD or DD/MM/YYYY (BE years accepted); "
                             "default: today + the control's review period")
    attest.add_argument("--note", default="")
    attest.add_argument("--subject", default="", help="one website or site (default: all)")
    attest.add_argument("--status", choices=ATTEST_STATUSES, default="pass")
    attest.set_defaults(func=with_config(do_attest))
    history = actions.add_parser("history", help="every attestation, oldest first")
    _config_again(history)
    history.add_argument("control", nargs="?")
    history.add_argument("--json", action="store_true")
    history.set_defaults(func=with_config(show_history))


def _config_again(parser: argparse.ArgumentParser) -> None:
    # -c may come before or after the action; SUPPRESS keeps the parent's value
    parser.add_argument("-c", "--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="YAML config file")


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([c.ljust(widths[i]) for i, c in enumerate(r[:-1])] + [r[-1]])
                     .rstrip() for r in rows)


def show(args: argparse.Namespace, config: Config) -> int:
    try:
        result, problem = current_checklist(config)
    except ConfigError as err:
        for where, message in err.problems:
            print(f"upkeep: {where}: {message}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as err:
        raise UsageError(str(err)) from err
    if args.json:
        print(json.dumps({"site": config.site, "readings_problem": problem, **result.to_json()},
                         ensure_ascii=False, indent=2))
    else:
        rows = [("CONTROL", "STATUS", "SUBJECT", "DETAILS")]
        for row in result.controls:
            title = row.control.text("title", args.lang)
            rows.append((row.control.id, row.status.upper(), "", title))
            for s in row.subjects:
                if s.subject or s.status != row.status:
                    rows.append(("", s.status, s.subject or "-", s.detail))
                elif s.detail:
                    rows.append(("", "", "", s.detail))
        print(_table(rows))
        print(f"\nproject 11 step reached: {result.level} of 5 "
              f"({', '.join(f'{k}: {v}' for k, v in result.levels.items())})")
    if problem:
        print(f"note: {problem}; automated controls cannot be judged", file=sys.stderr)
    return EXIT_OK if all(r.status in ("pass", "not-applicable") for r in result.controls) \
        else EXIT_DOWN


def do_attest(args: argparse.Namespace, config: Config) -> int:
    try:
        catalogue = load_catalogue(config.policies.checklist)
        control = catalogue.get(args.control)
        if control is None:
            raise UsageError(f"no control {args.control!r} in the catalogue "
                             f"(known: {', '.join(c.id for c in catalogue.controls)})")
        check_attestable(control)
        until = (parse_date(args.valid_until) if args.valid_until
                 else today_bangkok() + timedelta(days=control.review_days))
        if until < today_bangkok():
            raise UsageError(f"--valid-until {until} is already past")
        subjects = {"", config.site, *(w.name for w in config.websites)}
        if args.subject not in subjects:
            raise UsageError(f"--subject {args.subject!r} is neither a website nor the site "
                             f"(known: {', '.join(sorted(s for s in subjects if s))})")
        ledger = open_ledger(config)
        try:
            item = ledger.attest(control.id, by=args.by, valid_until=until,
                                 evidence=args.evidence, note=args.note,
                                 subject=args.subject, status=args.status)
        finally:
            ledger.db.close()
    except (ValueError, AttestationError, StoreError, ConfigError) as err:
        raise UsageError(str(err)) from err
    digest = f", sha256 {item.sha256}" if item.sha256 else ""
    print(f"attested {item.control} ({item.status}) by {item.by}, valid until "
          f"{item.valid_until.isoformat()}; evidence {item.evidence}{digest}")
    return EXIT_OK


def show_history(args: argparse.Namespace, config: Config) -> int:
    try:
        ledger = open_ledger(config)
        try:
            items = ledger.history(args.control)
        finally:
            ledger.db.close()
    except StoreError as err:
        raise UsageError(str(err)) from err
    if args.json:
        print(json.dumps([i.to_json() for i in items], ensure_ascii=False, indent=2))
        return EXIT_OK
    rows = [("ID", "CONTROL", "STATUS", "BY", "VALID UNTIL", "EVIDENCE")]
    rows += [(str(i.id), i.control, i.status, i.by, i.valid_until.isoformat(),
              f"{i.evidence}" + (f" sha256:{i.sha256[:12]}" if i.sha256 else ""))
             for i in items]
    print(_table(rows))
    return EXIT_OK
