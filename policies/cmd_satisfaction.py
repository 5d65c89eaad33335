"""``upkeep satisfaction import|record|list``: the user-satisfaction surveys of a fiscal year.

``import`` reads a Google Forms / Microsoft Forms export (CSV or XLSX); a file with rejected
rows is refused as a whole (every row number printed, nothing stored) unless
``--skip-bad-rows`` says to import the rest, and then the rejected rows are kept with the
survey. ``record`` stores an aggregate from a survey report (respondents plus the mean score
or the percent satisfied) with the report itself as evidence. Both write to the agent's
SQLite file (WAL lets the CLI do so while the agent runs), as the operating-system user.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from upkeep.config import Config
from upkeep.errors import StoreError
from upkeep.kit.cli import EXIT_OK, Failed, UsageError, add_config_arg, with_config
from upkeep.kit.thai import format_datetime
from upkeep.policies.cmd_incidents import actor
from upkeep.policies.satisfaction import exact, percent_text
from upkeep.policies.survey_import import SurveyFileError, read_survey
from upkeep.policies.surveys import (
    WEBSITE_PREFIX,
    SurveyError,
    SurveyLedger,
    check_fiscal_year,
    grade,
    subjects,
)


def _subject(config: Config, args: argparse.Namespace) -> str:
    subject = str(args.system) if args.system else WEBSITE_PREFIX + str(args.website)
    known = subjects(config)
    if subject not in known:
        raise UsageError(f"unknown {'system' if args.system else 'website'} "
                         f"{args.system or args.website!r} (configured: "
                         f"{', '.join(known) or 'none'})")
    return subject


def _fy(args: argparse.Namespace) -> int:
    try:
        return check_fiscal_year(args.fiscal_year)
    except SurveyError as err:
        raise UsageError(str(err)) from err


def _ledger(config: Config) -> SurveyLedger:
    try:
        return SurveyLedger.open(config)
    except StoreError as err:
        raise Failed(str(err)) from err


def _show(config: Config, ledger: SurveyLedger, survey_id: int) -> None:
    survey = ledger.get(survey_id)
    result = grade(config, survey, survey.subject, survey.fiscal_year)
    level = "-" if result.level is None else (str(result.level) if result.level else
                                              "0 (not met)")
    print(f"survey {survey.id}: {survey.subject} FY {survey.fiscal_year}: "
          f"{survey.respondents} respondents, {percent_text(result.percent)} % "
          f"({result.rule}), level {level}; evidence sha256 {survey.sha256}")


@with_config
def _import(args: argparse.Namespace, config: Config) -> int:
    subject, fy = _subject(config, args), _fy(args)
    path = Path(args.file)
    try:
        parsed = read_survey(path, ignore=tuple(args.ignore or ()))
    except SurveyFileError as err:
        raise UsageError(str(err)) from err
    if parsed.rejected and not args.skip_bad_rows:
        lines = "\n".join(f"  {r}" for r in parsed.rejected)
        raise UsageError(f"{path}: {len(parsed.rejected)} row(s) rejected, nothing imported "
                         f"(fix them, or give --skip-bad-rows to import the rest):\n{lines}")
    if parsed.respondents == 0:
        raise UsageError(f"{path}: no usable responses, nothing imported")
    ledger = _ledger(config)
    try:
        survey = ledger.add_import(subject, fy, parsed, path, by=actor(), note=args.note)
        for rejection in parsed.rejected:
            print(f"skipped {rejection}")
        if parsed.ignored_columns:
            print(f"not rating columns, left out: {', '.join(parsed.ignored_columns)}")
        _show(config, ledger, survey.id)
    except (SurveyError, StoreError) as err:
        raise Failed(str(err)) from err
    finally:
        ledger.close()
    return EXIT_OK


@with_config
def _record(args: argparse.Namespace, config: Config) -> int:
    subject, fy = _subject(config, args), _fy(args)
    if (args.mean is None) == (args.percent is None):
        raise UsageError("give either --mean SCORE (1-5) or --percent PERCENT (0-100)")
    try:
        mean = None if args.mean is None else exact(args.mean, "mean score", 1, 5)
        percent = None if args.percent is None else exact(args.percent, "percent", 0, 100)
    except ValueError as err:
        raise UsageError(str(err)) from err
    if args.respondents < 1:
        raise UsageError("--respondents must be at least 1")
    if not Path(args.evidence).is_file():
        raise UsageError(f"evidence {args.evidence} is not a readable file (the survey report)")
    ledger = _ledger(config)
    try:
        survey = ledger.add_aggregate(subject, fy, respondents=args.respondents,
                                      mean_score=mean, percent=percent,
                                      evidence=Path(args.evidence), by=actor(), note=args.note)
        _show(config, ledger, survey.id)
    except (SurveyError, StoreError) as err:
        raise Failed(str(err)) from err
    finally:
        ledger.close()
    return EXIT_OK


@with_config
def _list(args: argparse.Namespace, config: Config) -> int:
    fy = _fy(args) if args.fiscal_year is not None else None
    ledger = _ledger(config)
    try:
        surveys = ledger.history(fy=fy)
        latest = {s.id for s in ledger.latest(fy).values()}
    except StoreError as err:
        raise Failed(str(err)) from err
    finally:
        ledger.close()
    if args.json:
        items: list[dict[str, Any]] = []
        for survey in surveys:
            result = grade(config, survey, survey.subject, survey.fiscal_year)
            items.append({**survey.to_json(comments=args.comments),
                          "counts": survey.id in latest, "rule": result.rule,
                          "percent": None if result.percent is None else float(result.percent),
                          "level": result.level})
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not surveys:
        print("no surveys recorded")
    for survey in surveys:
        result = grade(config, survey, survey.subject, survey.fiscal_year)
        level = "-" if result.level is None else str(result.level)
        mark = "*" if survey.id in latest else " "
        print(f"{mark}{survey.id:>4}  {survey.subject:<16} {survey.fiscal_year}  "
              f"{survey.source:<6} n={survey.respondents:<5} "
              f"{percent_text(result.percent):>6} % ({result.rule}) level {level}  "
              f"{format_datetime(survey.recorded_at, args.lang)} {survey.recorded_by}  "
              f"{survey.evidence_name}")
        if args.comments:
            for comment in survey.comments:
                print(f"        - {comment}")
    return EXIT_OK


def _target_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    add_config_arg(parser)
    who = parser.add_mutually_exclusive_group(required=required)
    who.add_argument("--system", help="the system surveyed (a name under systems:)")
    who.add_argument("--website", help="the website surveyed (a name under websites:)")
    parser.add_argument("--fiscal-year", type=int, required=required, metavar="BE",
                        help="Buddhist-Era fiscal year of the survey, e.g. 2568")
    parser.add_argument("--note", default="", help="a note kept with the survey")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("satisfaction", help="user-satisfaction surveys (import, record, "
                                                 "list) for the satisfaction KPI")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    imp = verbs.add_parser("import", help="import a survey export (CSV/XLSX, one row per "
                                          "respondent)")
    _target_args(imp)
    imp.add_argument("file", help="the export (.csv in UTF-8 or cp874, or .xlsx)")
    imp.add_argument("--skip-bad-rows", action="store_true",
                     help="import the good rows when some are rejected (they are listed)")
    imp.add_argument("--ignore", action="append", metavar="HEADER",
                     help="a column that is not a rating question (repeatable)")
    imp.set_defaults(func=_import)
    rec = verbs.add_parser("record", help="record a survey's aggregate result with its report "
                                          "as evidence")
    _target_args(rec)
    rec.add_argument("--respondents", type=int, required=True)
    rec.add_argument("--mean", metavar="SCORE", help="mean score on the 1-5 scale, e.g. 4.32")
    rec.add_argument("--percent", metavar="PERCENT", help="percent satisfied, e.g. 86.4")
    rec.add_argument("--evidence", required=True, metavar="FILE",
                     help="the survey report (PDF, XLSX ...), kept under its SHA-256")
    rec.set_defaults(func=_record)
    lst = verbs.add_parser("list", help="the surveys recorded (* = the one graded)")
    add_config_arg(lst)
    lst.add_argument("--fiscal-year", type=int, metavar="BE")
    lst.add_argument("--lang", choices=["th", "en"], default="th")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--comments", action="store_true",
                     help="also print respondents' comments (may contain personal data)")
    lst.set_defaults(func=_list)
