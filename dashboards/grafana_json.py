"""The Grafana JSON model as plain dicts: panels placed on the 24-column grid, targets,
template variables and the dashboard envelope (classic JSON, pinned ``schemaVersion``).

Every panel queries ``${datasource}`` and gets a unique id and refIds here, so the committed
files never carry a datasource uid from somebody's Grafana or an unset id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SCHEMA_VERSION = 39
DS = {"type": "prometheus", "uid": "${datasource}"}
S = 'site=~"$site"'

Panel = dict[str, Any]

UIDS = {
    "fleet": "upkeep-fleet-overview",
    "site": "upkeep-site-detail",
    "ups": "upkeep-ups-detail",
    "websites": "upkeep-websites-certificates",
    "hosts": "upkeep-hosts",
    "kpi": "upkeep-kpi-compliance",
}
TITLES = {
    "fleet": "upkeep / Fleet overview",
    "site": "upkeep / Site detail",
    "ups": "upkeep / UPS detail",
    "websites": "upkeep / Websites and certificates",
    "hosts": "upkeep / Hosts",
    "kpi": "upkeep / KPI and compliance",
}


class Layout:
    """Places panels left to right on the 24-column grid and numbers them."""

    def __init__(self) -> None:
        self.panels: list[Panel] = []
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def add(self, panel: Panel, w: int, h: int) -> None:
        if self.x + w > 24:
            self.newline()
        panel["id"] = self.next_id
        self.next_id += 1
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def newline(self) -> None:
        self.y += self.row_h
        self.x = 0
        self.row_h = 0

    def row(self, title: str) -> None:
        if self.x:
            self.newline()
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.newline()


def targets(*queries: tuple[str, str] | str, instant: bool = False,
            table: bool = False) -> list[dict[str, Any]]:
    out = []
    for index, query in enumerate(queries):
        expr, legend = (query, "") if isinstance(query, str) else query
        target: dict[str, Any] = {"refId": chr(ord("A") + index), "expr": expr,
                                  "datasource": DS}
        if legend:
            target["legendFormat"] = legend
        if instant or table:
            target["instant"] = True
            target["range"] = False
        if table:
            target["format"] = "table"
        out.append(target)
    return out


def _thresholds(steps: Sequence[tuple[float | None, str]]) -> dict[str, Any]:
    return {"mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in steps]}


def stat(title: str, expr: str, *, unit: str = "none", description: str = "",
         steps: Sequence[tuple[float | None, str]] | None = None, legend: str = "",
         mappings: list[dict[str, Any]] | None = None) -> Panel:
    return {
        "type": "stat", "title": title, "description": description, "datasource": DS,
        "targets": targets((expr, legend), instant=True),
        "fieldConfig": {"defaults": {
            "unit": unit, "thresholds": _thresholds(steps or [(None, "green")]),
            "mappings": mappings or [], "color": {"mode": "thresholds"}}, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background", "graphMode": "none", "textMode": "auto",
                    "justifyMode": "auto", "orientation": "auto"},
    }


def timeseries(title: str, *queries: tuple[str, str], unit: str = "none",
               description: str = "", min_: float | None = None,
               max_: float | None = None) -> Panel:
    defaults: dict[str, Any] = {"unit": unit, "custom": {"lineWidth": 1, "fillOpacity": 10}}
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    return {
        "type": "timeseries", "title": title, "description": description, "datasource": DS,
        "targets": targets(*queries),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "none"}},
    }


def table(title: str, *queries: tuple[str, str], unit: str = "none", description: str = "",
          steps: Sequence[tuple[float | None, str]] | None = None,
          links: list[dict[str, Any]] | None = None) -> Panel:
    defaults: dict[str, Any] = {"unit": unit, "thresholds": _thresholds(steps or [(None, "green")]),
                                "custom": {"cellOptions": {"type": "color-background"}}
                                if steps else {}}
    if links:
        defaults["links"] = links
    return {
        "type": "table", "title": title, "description": description, "datasource": DS,
        "targets": targets(*queries, table=True),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "transformations": [{"id": "merge", "options": {}},
                            {"id": "organize", "options": {"excludeByName": {"Time": True}}}],
        "options": {"showHeader": True, "cellHeight": "sm"},
    }


def state_timeline(title: str, expr: str, legend: str, description: str = "") -> Panel:
    return {
        "type": "state-timeline", "title": title, "description": description, "datasource": DS,
        "targets": targets((expr, legend)),
        "fieldConfig": {"defaults": {
            "color": {"mode": "thresholds"}, "thresholds": _thresholds([(None, "green"),
                                                                        (1, "red")]),
            "mappings": [{"type": "value", "options": {"0": {"text": "no", "color": "green"},
                                                       "1": {"text": "yes", "color": "red"}}}]},
            "overrides": []},
        "options": {"showValue": "never", "mergeValues": True, "rowHeight": 0.8},
    }


def link(key: str, *, keep_vars: bool = True) -> dict[str, Any]:
    return {"title": TITLES[key].removeprefix("upkeep / "), "type": "link", "icon": "dashboard",
            "url": f"/d/{UIDS[key]}", "includeVars": keep_vars, "keepTime": True,
            "targetBlank": False, "tooltip": "", "tags": [], "asDropdown": False}


def datasource_var() -> dict[str, Any]:
    return {"name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "",
            "includeAll": False, "multi": False, "options": []}


def query_var(name: str, label: str, query: str, *, multi: bool = True) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "definition": query, "query": {"query": query, "refId": f"{name}-query"},
            "refresh": 2, "sort": 1, "multi": multi, "includeAll": True, "allValue": ".*",
            "current": {}, "hide": 0, "regex": "", "options": []}


def site_var() -> dict[str, Any]:
    return query_var("site", "Site", "label_values(upkeep_agent_info, site)")


def dashboard(key: str, layout: Layout, *, tags: list[str], variables: list[dict[str, Any]],
              description: str, annotations: list[dict[str, Any]] | None = None,
              time_from: str = "now-6h") -> dict[str, Any]:
    others = [link(k) for k in UIDS if k != key]
    return {
        "uid": UIDS[key], "title": TITLES[key], "description": description,
        "tags": ["upkeep", *tags], "schemaVersion": SCHEMA_VERSION, "version": 1,
        "editable": False, "graphTooltip": 1, "timezone": "browser", "refresh": "30s",
        "time": {"from": time_from, "to": "now"}, "fiscalYearStartMonth": 9,
        "liveNow": False, "weekStart": "",
        "templating": {"list": [datasource_var(), *variables]},
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}, *(annotations or [])]},
        "links": others,
        "panels": layout.panels,
    }
