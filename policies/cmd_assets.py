"""``upkeep assets list|import FILE|template``: the asset register and its end-of-life dates."""

from __future__ import annotations

import argparse
import json
import sys

from upkeep.config import Config
from upkeep.errors import StoreError
from upkeep.kit.cli import EXIT_DOWN, EXIT_OK, UsageError, add_config_arg, with_config
from upkeep.kit.db import Database, db_path
from upkeep.policies.assets import (
    AssetRegister,
    classify,
    date_fiscal_year,
    end_of_life,
    today_bangkok,
)
from upkeep.policies.assets_import import AssetFileError
from upkeep.policies.assets_template import template_bytes
from upkeep.policies.report_args import fiscal_year_arg


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("assets", help="list the asset register or import the office's "
                                           "asset list (CSV/XLSX)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every asset with its end of life")
    add_config_arg(listing)
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--fiscal-year", type=fiscal_year_arg, metavar="BE",
                         help="classify against this fiscal year (default: the current one)")
    listing.set_defaults(func=with_config(list_assets))
    imp = actions.add_parser("import", help="import a CSV or XLSX asset list (idempotent)")
    add_config_arg(imp)
    imp.add_argument("file")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=with_config(import_assets))
    template = actions.add_parser(
        "template", help="write an empty asset register (Thai and English headers, the "
                         "allowed classes and statuses) to fill in and import")
    template.add_argument("--format", choices=("csv", "xlsx"),
                          help="csv or xlsx (default: from the output file's extension)")
    template.add_argument("-o", "--output", required=True, metavar="FILE")
    template.set_defaults(func=write_template)


def _open(config: Config) -> AssetRegister:
    return AssetRegister(Database(db_path(config)))


def list_assets(args: argparse.Namespace, config: Config) -> int:
    try:
        register = _open(config)
        try:
            assets = register.assets()
        finally:
            register.db.close()
    except StoreError as err:
        raise UsageError(str(err)) from err
    today = today_bangkok()
    fy = args.fiscal_year or date_fiscal_year(today)
    rows = []
    for asset in assets:
        eol = end_of_life(asset, config.policies.assets)
        rows.append((asset, eol, classify(eol.due, fy, today)))
    if args.json:
        print(json.dumps([{**a.to_json(), "end_of_life": e.due.isoformat() if e.due else None,
                           "reason": e.reason, "state": state} for a, e, state in rows],
                         ensure_ascii=False, indent=2))
        return EXIT_OK
    table = [("ASSET", "CLASS", "SITE", "MODEL", "SERIAL", "END OF LIFE", "FY", "STATE",
              "CONFLICTS")]
    for asset, eol, state in rows:
        conflicts = "; ".join(f"{c.field}: imported {c.imported!r} vs seen {c.discovered!r}"
                              for c in asset.conflicts)
        table.append((asset.name, asset.asset_class, asset.get("site"), asset.get("model"),
                      asset.serial or "", eol.due.isoformat() if eol.due else "unknown",
                      str(date_fiscal_year(eol.due)) if eol.due else "", state, conflicts))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    for r in table:
        print("  ".join([c.ljust(widths[i]) for i, c in enumerate(r[:-1])] + [r[-1]]).rstrip())
    print(f"\n{len(rows)} assets; states against fiscal year {fy}", file=sys.stderr)
    return EXIT_OK


def import_assets(args: argparse.Namespace, config: Config) -> int:
    try:
        register = _open(config)
        try:
            result = register.import_file(args.file)
        finally:
            register.db.close()
    except (AssetFileError, StoreError) as err:
        raise UsageError(str(err)) from err
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        print(f"{args.file}: {result.added} added, {result.updated} updated, "
              f"{result.unchanged} unchanged, {len(result.rejected)} rejected")
        for row, warning in result.warnings:
            print(f"  row {row}: warning: {warning}")
        for rejection in result.rejected:
            print(f"  row {rejection.row}: rejected: {rejection.reason}")
    return EXIT_DOWN if result.rejected else EXIT_OK


def write_template(args: argparse.Namespace) -> int:
    """``upkeep assets template``: needs no config, refuses to overwrite a file."""
    from pathlib import Path

    out = Path(args.output)
    fmt = args.format or out.suffix.lower().lstrip(".")
    if fmt not in ("csv", "xlsx"):
        raise UsageError(f"cannot tell the format from {args.output!r}: give --format csv|xlsx")
    if out.exists():
        raise UsageError(f"{out} exists: the template never overwrites a file")
    try:
        out.write_bytes(template_bytes(fmt))
    except OSError as err:
        raise UsageError(f"cannot write {out}: {err.strerror}") from err
    print(f"wrote {out} ({fmt}): fill in one asset per row, then "
          f"`upkeep assets import {out}`")
    return EXIT_OK
