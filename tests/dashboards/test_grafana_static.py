"""The committed Grafana dashboards, checked without a Grafana server.

The rules are dashboard-linter's and the alerts-dashboards reference's: unique uids and ids,
panels inside the 24-column grid, refIds set, ``${datasource}`` everywhere, every variable
declared, every expression valid PromQL (parsed by the real ``promtool``), every metric one the
agent declares, and the committed JSON equal to what ``dashboards/build.py`` writes.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dashboards.grafana_util import (
    BUILTINS,
    DASHBOARDS,
    METRIC,
    all_panels,
    label_values,
    load_dashboards,
    queries,
    render,
    variables_used,
)
from tests.support import need_binary

SCHEMA_RANGE = (36, 41)
EXPECTED = {"upkeep-fleet-overview", "upkeep-site-detail", "upkeep-ups-detail",
            "upkeep-websites-certificates", "upkeep-hosts", "upkeep-kpi-compliance"}
DOCS_METRICS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    return load_dashboards()


def test_committed_json_is_the_generators_output() -> None:
    from upkeep.dashboards import build

    for name, text in build.build_all().items():
        path = DASHBOARDS / name
        assert path.exists(), f"{name} missing: run python dashboards/build.py"
        assert path.read_text(encoding="utf-8") == text, f"{name} is stale: run dashboards/build.py"
    assert {p.name for p in DASHBOARDS.glob("*.json")} == set(build.build_all())
    assert build.main(["--check"]) == 0


def test_identity(dashboards: dict[str, dict[str, Any]]) -> None:
    uids = [d["uid"] for d in dashboards.values()]
    assert set(uids) == EXPECTED and len(uids) == len(set(uids))
    for name, dash in dashboards.items():
        assert dash["title"] and len(dash["uid"]) <= 40, name
        assert "id" not in dash, f"{name}: instance-local id committed"
        assert SCHEMA_RANGE[0] <= dash["schemaVersion"] <= SCHEMA_RANGE[1], name


def test_links_point_at_existing_dashboards(dashboards: dict[str, dict[str, Any]]) -> None:
    uids = {d["uid"] for d in dashboards.values()}
    for name, dash in dashboards.items():
        targets = {link["url"].removeprefix("/d/") for link in dash["links"]}
        assert targets == uids - {dash["uid"]}, name
        for panel in all_panels(dash):
            for link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", []):
                uid = re.match(r"/d/([^?]+)", link["url"])
                assert uid and uid.group(1) in uids, f"{name}: dead link {link['url']}"


def test_panels_ids_grid_refids_datasource(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, dash in dashboards.items():
        ids = [p["id"] for p in all_panels(dash)]
        assert all(isinstance(i, int) and i > 0 for i in ids), name
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        occupied: set[tuple[int, int]] = set()
        for panel in all_panels(dash):
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["w"] > 0 and grid["h"] > 0
            assert grid["x"] + grid["w"] <= 24, f"{name}: {panel['title']} leaves the grid"
            cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                     for y in range(grid["y"], grid["y"] + grid["h"])}
            assert not cells & occupied, f"{name}: {panel['title']} overlaps another panel"
            occupied |= cells
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, name
            refids = [t.get("refId") for t in panel["targets"]]
            assert panel["targets"] and all(refids), f"{name}: {panel['title']} without refId"
            assert len(refids) == len(set(refids)), f"{name}: {panel['title']} duplicate refId"
            assert all(t.get("expr") for t in panel["targets"])


def test_every_variable_used_is_declared(dashboards: dict[str, dict[str, Any]]) -> None:
    for name, dash in dashboards.items():
        declared = {v["name"] for v in dash["templating"]["list"]}
        assert {"datasource", "site"} <= declared, name
        for where, expr, _ in queries(dash):
            missing = variables_used(expr) - declared - BUILTINS
            assert not missing, f"{name} {where}: undeclared {sorted(missing)}"
        for panel in all_panels(dash):
            for link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", []):
                assert not (variables_used(link["url"]) - declared - BUILTINS)


def test_every_expression_parses_with_promtool(tmp_path: Path,
                                               dashboards: dict[str, dict[str, Any]]) -> None:
    promtool = need_binary("promtool")
    rules, where = [], []
    for name, dash in dashboards.items():
        for place, expr, _ in queries(dash):
            split = label_values(expr)
            promql = render(split[0] if split else expr)
            rules.append({"record": f"dashboard:check_{len(rules)}", "expr": promql})
            where.append(f"{name} {place}: {promql}")
    assert len(rules) > 60
    path = tmp_path / "exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
    # and promtool does reject a broken one (the check can fail)
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
        {"record": "x:y", "expr": render(where[0].split(": ", 1)[1]) + ")"}]}]}))
    bad = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0


def code_metrics() -> set[str]:
    """Every metric the agent can export: the registry after importing every module."""
    from upkeep.agents.metrics_doc import load_everything
    from upkeep.metrics import METRICS

    load_everything()
    return set(METRICS)


def _used(dashboards: dict[str, dict[str, Any]]) -> dict[str, str]:
    used: dict[str, str] = {}
    for name, dash in dashboards.items():
        for place, expr, _ in queries(dash):
            for metric in METRIC.findall(expr):
                used.setdefault(metric, f"{name} {place}")
    return used


def test_every_metric_used_is_declared_in_code(dashboards: dict[str, dict[str, Any]]) -> None:
    used = _used(dashboards)
    assert "upkeep_ups_battery_runtime_seconds" in used
    known = code_metrics()
    unknown = {m: w for m, w in used.items() if m not in known}
    assert not unknown, f"metrics no module declares: {unknown}"


def test_every_metric_used_is_documented(dashboards: dict[str, dict[str, Any]]) -> None:
    documented = set(METRIC.findall(DOCS_METRICS.read_text(encoding="utf-8")))
    unknown = {m: w for m, w in _used(dashboards).items() if m not in documented}
    assert not unknown, f"metrics missing from docs/metrics.md: {unknown}"


def test_provisioning_files() -> None:
    """Grafana's file provider and a datasource with a fixed uid (dashboards carry none)."""
    folder = DASHBOARDS / "provisioning"
    providers = yaml.safe_load((folder / "dashboards.yml").read_text(encoding="utf-8"))
    assert providers["apiVersion"] == 1
    [provider] = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    assert provider["allowUiUpdates"] is False  # the JSON files are the source of truth
    sources = yaml.safe_load((folder / "datasources.yml").read_text(encoding="utf-8"))
    [source] = sources["datasources"]
    assert source["type"] == "prometheus" and source["uid"] and len(source["uid"]) <= 40
    # the uid is not baked into any dashboard: panels use ${datasource}
    for name, dash in load_dashboards().items():
        assert source["uid"] not in json.dumps(dash), name
    import importlib.resources as resources

    shipped = resources.files("upkeep.dashboards")
    assert shipped.joinpath("provisioning", "dashboards.yml").is_file()
    assert shipped.joinpath("templates", "page.html").is_file()
    assert shipped.joinpath("static", "ui.js").is_file()
