"""``upkeep report KIND``: each report kind lives in its own module with
``add_report_parser(subparsers)``; the list is explicit."""

from __future__ import annotations

import argparse
from importlib import import_module

REPORT_MODULES: list[str] = [
    "upkeep.policies.kpi_report",
    "upkeep.policies.checklist_report",
    "upkeep.policies.assets_report",
]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("report", help="write a report (kpi, checklist, assets) as "
                                           "csv, xlsx, pdf or json, in Thai or English")
    kinds = parser.add_subparsers(dest="report", metavar="KIND", required=True)
    for name in REPORT_MODULES:
        import_module(name).add_report_parser(kinds)
