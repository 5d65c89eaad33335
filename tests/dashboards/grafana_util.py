"""Walking the committed Grafana dashboards: panels (rows included) and their queries."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
#: Grafana's built-in variables (not declared in templating)
BUILTINS = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms",
            "__dashboard", "__from", "__to", "__data", "__name"}
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:[:.][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))")
METRIC = re.compile(r"\b((?:upkeep|node)_[A-Za-z0-9_]+)\b")


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(DASHBOARDS.glob("*.json"))}


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, expr, target) for every PromQL expression: panel targets, variables, annotations."""
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r} {target.get('refId')}", \
                target.get("expr", ""), target
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            yield f"variable {var['name']}", var["definition"], var
    for ann in dashboard["annotations"]["list"]:
        if "expr" in ann:
            yield f"annotation {ann['name']}", ann["expr"], ann


def variables_used(text: str) -> set[str]:
    return {a or b for a, b in VARIABLE.findall(text)}


def render(expr: str) -> str:
    """What Grafana would send with every variable at "All" over a 1-hour range."""
    out = expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
    out = out.replace("$__interval", "30s")
    return VARIABLE.sub(".*", out)


def label_values(expr: str) -> tuple[str, str] | None:
    """``label_values(selector, label)`` is Grafana syntax, not PromQL: split it."""
    match = re.fullmatch(r"label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)", expr.strip())
    return (match.group(1), match.group(2)) if match else None
