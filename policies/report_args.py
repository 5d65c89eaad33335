"""Arguments every ``upkeep report`` kind of this room shares: format, language, output,
and the fiscal year and dates as Thai users type them."""

from __future__ import annotations

import argparse
from pathlib import Path

from upkeep.kit.cli import add_config_arg
from upkeep.kit.thai import DateInputError, parse_fiscal_year, parse_typed_date
from upkeep.policies.render import FORMATS


def add_output_args(parser: argparse.ArgumentParser) -> None:
    add_config_arg(parser)
    parser.add_argument("--format", choices=FORMATS,
                        help="csv, xlsx, pdf or json (default: from the -o file's extension)")
    parser.add_argument("--lang", choices=["th", "en"], default="th")
    parser.add_argument("-o", "--output", required=True, metavar="FILE")


def output_format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    suffix = Path(args.output).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ValueError(f"cannot tell the format from {args.output!r}: give --format")
    return suffix


def fiscal_year_arg(text: str) -> int:
    """``--fiscal-year``: Buddhist Era (2568); a Gregorian year is refused naming the BE one."""
    try:
        return parse_fiscal_year(text)
    except DateInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def date_arg(text: str) -> str:
    """A calendar date (``--as-of``): checked here, BE or CE year, ISO or day-first."""
    try:
        return parse_typed_date(text).isoformat()
    except DateInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
