"""The Prometheus rules in alerts/: promtool checks, promtool unit tests, and our conventions.

Conventions (monitoring-mixin style): CamelCase names with
an area prefix; severity critical / warning / info; summary (a sentence), description and
runbook_url (docs/runbooks.md#<lower-cased name>, a section in Thai and English); summary_th
and description_th in Thai (issue 7: Thai and English wherever people read) with the same
template placeholders as the English, so both name the same UPS, site and value; an explicit
``for:``; ``keep_firing_for`` on power alerts; ``site`` surviving every expression; every
(alert, severity) with a firing promtool case that keeps ``site`` and a not-firing case; every
metric a rule reads declared by the code (a renamed metric breaks this test).
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import REPO, need_binary

ALERTS = REPO / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.rules.yml"))
TEST_FILES = sorted((ALERTS / "tests").glob("*.yml"))
RUNBOOKS = REPO / "docs" / "runbooks.md"
RUNBOOK_BASE = "https://upkeep.invalid/docs/runbooks.md#"
PREFIXES = ("Ups", "Host", "Website", "Tls", "Kpi", "Checklist", "Asset", "Upkeep")
SEVERITIES = {"critical", "warning", "info"}
#: every alert carries these; every firing promtool case checks all of them rendered
ANNOTATIONS = ("summary", "summary_th", "description", "description_th", "runbook_url")
THAI = re.compile(r"[\u0E00-\u0E7F]")
#: alerts about mains power: they must survive the site going dark (keep_firing_for)
POWER_ALERTS = {"UpsOnBattery", "UpsLowBattery", "UpsBatteryRuntimeLow", "UpsForcedShutdown"}
#: label-dropping PromQL aggregations
AGGREGATIONS = ("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile")
#: metrics a rule reads that no upkeep code declares (Prometheus's own)
EXTERNAL_METRICS = {"up"}


@dataclass(frozen=True)
class Rule:
    file: str
    alert: str
    expr: str
    raw: dict[str, Any]


def load_rules(paths: list[Path] = RULE_FILES) -> list[Rule]:
    rules = []
    for path in paths:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for raw in group["rules"]:
                if "alert" in raw:
                    rules.append(Rule(path.name, raw["alert"], raw["expr"], raw))
    return rules


def load_tests(paths: list[Path] = TEST_FILES) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) | {"__file__": p} for p in paths]


# --- the checks, as pure functions (so the checks themselves are tested below) -------------

def _balanced(text: str, open_at: int) -> int:
    """Index just past the parenthesis that closes the one at ``open_at``."""
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    raise ValueError(f"unbalanced parentheses in {text!r}")


def _labels(text: str) -> set[str]:
    return {x.strip() for x in text.split(",") if x.strip()}


def _label_carrying(expr: str) -> str:
    """The part of ``expr`` whose labels the result carries.

    ``A and B`` and ``A unless B`` return A's series unchanged; B only filters. So only the
    left side of a top-level ``and``/``unless`` has to keep ``site``.
    """
    depth = 0
    for i, char in enumerate(expr):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and re.match(r"\s(and|unless)\b", expr[i:]) and i > 0:
            return expr[:i]
    return expr


def site_problems(expr: str) -> list[str]:
    """Crude PromQL reading: every way an expression can lose the ``site`` label."""
    problems = []
    clean = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values cannot confuse us
    clean = _label_carrying(clean)
    for match in re.finditer(r"\b(" + "|".join(AGGREGATIONS) + r")\s*(by|without)?\s*\(",
                             clean):
        name, modifier = match.group(1), match.group(2)
        if modifier:
            grouping = _labels(clean[match.end():_balanced(clean, match.end() - 1) - 1])
        else:
            after = clean[_balanced(clean, match.end() - 1):]
            post = re.match(r"\s*(by|without)\s*\(([^)]*)\)", after)
            if not post:
                problems.append(f"{name}(...) without by (site, ...) drops site")
                continue
            modifier, grouping = post.group(1), _labels(post.group(2))
        if modifier == "by" and "site" not in grouping:
            problems.append(f"{name} by ({', '.join(sorted(grouping))}) drops site")
        if modifier == "without" and "site" in grouping:
            problems.append(f"{name} without (site) drops site")
    for match in re.finditer(r"\b(on|ignoring)\s*\(([^)]*)\)", clean):
        labels = _labels(match.group(2))
        if match.group(1) == "on" and "site" not in labels:
            problems.append(f"on({', '.join(sorted(labels))}) does not match on site")
        if match.group(1) == "ignoring" and "site" in labels:
            problems.append("ignoring(site) mixes sites")
    for func in ("absent", "absent_over_time", "scalar", "vector"):
        if re.search(rf"\b{func}\s*\(", clean):
            problems.append(f"{func}() returns no site label")
    return problems


def placeholders(template: str) -> set[str]:
    """The Go-template actions of an annotation, whitespace-normalised: ``{{ $labels.ups }}``."""
    return {" ".join(action.split()) for action in re.findall(r"\{\{-?(.*?)-?\}\}", template)}


def thai_problems(annotations: dict[str, str]) -> list[str]:
    """The Thai annotations must be Thai and say what the English says about the same things."""
    problems = []
    for key in ("summary_th", "description_th"):
        if annotations.get(key) and not THAI.search(annotations[key]):
            problems.append(f"{key} has no Thai characters")
    for english, thai in (("summary", "summary_th"), ("description", "description_th")):
        if annotations.get(english) is None or annotations.get(thai) is None:
            continue
        en, th = placeholders(annotations[english]), placeholders(annotations[thai])
        if en != th:
            problems.append(f"{thai} placeholders differ from {english}: "
                            f"missing {sorted(en - th)}, extra {sorted(th - en)}")
    return problems


def convention_problems(rules: list[Rule], tests: list[dict[str, Any]],
                        runbook_text: str) -> list[str]:
    problems: list[str] = []
    firing: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    quiet: set[str] = set()
    tested_files: set[str] = set()
    for test_file in tests:
        tested_files |= {Path(f).name for f in test_file.get("rule_files", [])}
        for case in test_file.get("tests", []):
            for check in case.get("alert_rule_test", []):
                if not check.get("exp_alerts"):
                    quiet.add(check["alertname"])
                for exp in check.get("exp_alerts") or []:
                    labels = exp.get("exp_labels", {})
                    firing[(check["alertname"], labels.get("severity", ""))].append(exp)
    headings = set(re.findall(r"^## (\S+)\s*$", runbook_text, re.M))
    for rule in rules:
        name, raw = rule.alert, rule.raw
        where = f"{rule.file}: {name}"
        if not re.fullmatch(r"(?:[A-Z][a-z0-9]+)+", name) or not name.startswith(PREFIXES):
            problems.append(f"{where}: not CamelCase with a prefix from {PREFIXES}")
        severity = raw.get("labels", {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{where}: severity {severity!r} not in {sorted(SEVERITIES)}")
        annotations = raw.get("annotations", {})
        for key in ANNOTATIONS:
            if not annotations.get(key):
                problems.append(f"{where}: annotation {key} missing")
        problems += [f"{where}: {p}" for p in thai_problems(annotations)]
        if annotations.get("summary") and not annotations["summary"].endswith("."):
            problems.append(f"{where}: summary is not a sentence ending with a period")
        if annotations.get("runbook_url") and annotations["runbook_url"] != \
                RUNBOOK_BASE + name.lower():
            problems.append(f"{where}: runbook_url is not {RUNBOOK_BASE}{name.lower()}")
        if "for" not in raw:
            problems.append(f"{where}: no explicit for: (write 0m on purpose)")
        if name in POWER_ALERTS and "keep_firing_for" not in raw:
            problems.append(f"{where}: power alert without keep_firing_for")
        problems += [f"{where}: {p}" for p in site_problems(rule.expr)]
        cases = firing.get((name, str(severity)), [])
        if not cases:
            problems.append(f"{where}: no promtool case where it fires with severity {severity}")
        for exp in cases:
            if "site" not in exp.get("exp_labels", {}):
                problems.append(f"{where}: a firing promtool case without site in exp_labels")
            if set(exp.get("exp_annotations", {})) != set(ANNOTATIONS):
                problems.append(f"{where}: a firing promtool case does not check annotations")
        if name not in quiet:
            problems.append(f"{where}: no promtool case where it does not fire")
        if name not in headings:
            problems.append(f"{where}: no '## {name}' section in docs/runbooks.md")
        if rule.file not in tested_files:
            problems.append(f"{where}: {rule.file} is not loaded by any alerts/tests file")
    names = {r.alert for r in rules}
    problems += [f"docs/runbooks.md: section {h} matches no alert" for h in headings - names
                 if h[:1].isupper() and h not in ("Conventions",)]
    return problems


# --- the tests ------------------------------------------------------------------------------

def test_rule_and_test_files_exist() -> None:
    names = {p.name for p in RULE_FILES}
    assert names == {f"{area}.rules.yml" for area in
                     ("ups", "host", "website", "kpi", "checklist", "assets", "agent")}
    assert {p.name.removesuffix(".test.yml") for p in TEST_FILES} >= \
        {p.name.removesuffix(".rules.yml") for p in RULE_FILES}
    # alerts/ is a package: nothing but YAML, Alertmanager's templates/*.tmpl (and the
    # package marker) may live in it
    stray = [p for p in ALERTS.rglob("*") if p.is_file()
             and p.suffix not in (".yml", ".yaml") and p.name not in ("__init__.py", "py.typed")
             and "__pycache__" not in p.parts
             and not (p.parent == ALERTS / "templates" and p.suffix == ".tmpl")]
    assert stray == []


def test_promtool_check_rules() -> None:
    result = subprocess.run([need_binary("promtool"), "check", "rules", "--lint-fatal",
                             *map(str, RULE_FILES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


def test_promtool_test_rules() -> None:
    result = subprocess.run([need_binary("promtool"), "test", "rules", *map(str, TEST_FILES)],
                            capture_output=True, text=True, timeout=120, cwd=ALERTS / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES)


def test_conventions() -> None:
    problems = convention_problems(load_rules(), load_tests(), RUNBOOKS.read_text())
    assert problems == []


def test_runbook_sections_are_bilingual() -> None:
    text = RUNBOOKS.read_text()
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    names = {r.alert for r in load_rules()}
    checked = 0
    for section in sections:
        name = section.split("\n", 1)[0].strip()
        if name not in names:
            continue
        checked += 1
        assert re.search(r"[\u0E00-\u0E7F]", section), f"{name}: no Thai text"
        for part in ("What it means", "First checks", "How to fix", "When to escalate",
                     "ความหมาย", "ตรวจสอบเบื้องต้น", "วิธีแก้ไข", "เมื่อใดควรส่งต่อ"):
            assert part in section, f"{name}: runbook lacks '{part}'"
    assert checked == len(names)


def test_conventions_catch_broken_rules() -> None:
    """The checker must see each kind of mistake, or a clean report means nothing."""
    broken = [
        Rule("x.rules.yml", "UpsOnBattery", 'sum(upkeep_ups_status{flag="OB"}) > 0',
             {"alert": "UpsOnBattery", "expr": "...", "labels": {"severity": "page"},
              "annotations": {"summary": "no period"}}),
        Rule("x.rules.yml", "diskFull", "sum by (instance) (x) / on(instance) y",
             {"alert": "diskFull", "expr": "...", "for": "5m", "labels": {"severity": "warning"},
              "annotations": {"summary": "S.", "summary_th": "S",
                              "description": "D {{ $labels.site }} {{ $value | humanize }}",
                              "description_th": "ดิสก์ {{ $labels.instance }} {{ $value }}",
                              "runbook_url": RUNBOOK_BASE + "wrong"}}),
    ]
    problems = "\n".join(convention_problems(broken, [], ""))
    for expected in ("UpsOnBattery: severity 'page'", "annotation description missing",
                     "annotation runbook_url missing", "summary is not a sentence",
                     "no explicit for:", "without keep_firing_for", "sum(...) without by",
                     "no promtool case where it fires", "no promtool case where it does not",
                     "no '## UpsOnBattery' section", "diskFull: not CamelCase",
                     "sum by (instance) drops site", "on(instance) does not match on site",
                     "runbook_url is not", "not loaded by any alerts/tests file",
                     "UpsOnBattery: annotation summary_th missing",
                     "UpsOnBattery: annotation description_th missing",
                     "diskFull: summary_th has no Thai characters",
                     "diskFull: description_th placeholders differ from description: missing "
                     "['$labels.site', '$value | humanize'], extra ['$labels.instance', '$value']"):
        assert expected in problems


def test_conventions_require_every_annotation_in_promtool_cases() -> None:
    """A firing case must list every annotation, the Thai ones included."""
    rule = next(r for r in load_rules() if r.alert == "UpsOnBattery")
    case = {"exp_labels": {"severity": "critical", "site": "hq"},
            "exp_annotations": {"summary": "x", "description": "y", "runbook_url": "z"}}
    tests = [{"rule_files": ["ups.rules.yml"], "tests": [{"alert_rule_test": [
        {"alertname": "UpsOnBattery", "exp_alerts": [case]},
        {"alertname": "UpsOnBattery", "exp_alerts": []}]}]}]
    problems = convention_problems([rule], tests, "## UpsOnBattery\n")
    assert problems == ["ups.rules.yml: UpsOnBattery: a firing promtool case does not check "
                        "annotations"]
    case["exp_annotations"] |= {"summary_th": "x", "description_th": "y"}
    assert convention_problems([rule], tests, "## UpsOnBattery\n") == []


def test_placeholders() -> None:
    assert placeholders('{{ $value | printf "%.2f" }} at {{$labels.site}} {{- $value }}') == \
        {'$value | printf "%.2f"', "$labels.site", "$value"}
    assert placeholders("{{ with $labels.subject }} on {{ . }}{{ end }}") == \
        {"with $labels.subject", ".", "end"}
    assert placeholders("no template") == set()


def test_thai_annotations_render_in_every_promtool_case() -> None:
    """Every firing case checks Thai text that promtool then compares to Prometheus's
    rendering: the Thai exists, is Thai, and has its placeholders filled in."""
    checked = 0
    for test_file in load_tests():
        for case in test_file.get("tests", []):
            for check in case.get("alert_rule_test", []):
                for exp in check.get("exp_alerts") or []:
                    annotations = exp["exp_annotations"]
                    for key in ("summary_th", "description_th"):
                        assert THAI.search(annotations[key]), (check["alertname"], key)
                        assert "{{" not in annotations[key] and "<no value>" not in \
                            annotations[key], (check["alertname"], annotations[key])
                    # every description names the site; the Thai one must too
                    assert f"สาขา {exp['exp_labels']['site']}" in \
                        annotations["description_th"], (check["alertname"], annotations)
                    checked += 1
    assert checked >= 36


@pytest.mark.parametrize(("expr", "ok"), [
    ('upkeep_ups_status{flag="OB"} == 1', True),
    ("count by (site) (up == 0) == count by (site) (up)", True),
    ("x / on(site, instance) group_left count by (site, instance) (y)", True),
    ("max without (flag) (upkeep_ups_status)", True),
    ("sum(rate(x[5m])) by (site, job)", True),
    ('a and ignoring(flag) b{flag="OB, by (x)"}', True),
    ('a < 5 and on(fiscal_year) count_values("fiscal_year", vector(1))', True),
    ("(a and on(x) b) / on(instance) c", False),
    ("max(x)", False),
    ("sum(x) by (instance)", False),
    ("avg without (site) (x)", False),
    ("a / on(instance) b", False),
    ("a > ignoring(site) b", False),
    ("a and on(instance) b", True),
    ("absent(up)", False),
])
def test_site_checker(expr: str, ok: bool) -> None:
    assert (site_problems(expr) == []) is ok, site_problems(expr)


def test_rule_metrics_are_declared_by_the_code() -> None:
    """Every metric a rule reads is declared once the collectors and services are imported."""
    from upkeep.agents.metrics_doc import load_everything
    from upkeep.metrics import METRICS

    load_everything()  # what docs/metrics.md lists: collectors, services, the agent's own
    used: dict[str, set[str]] = defaultdict(set)
    for rule in load_rules():
        clean = re.sub(r'"(?:[^"\\]|\\.)*"', '""', rule.expr)
        for name in re.findall(r"\b(upkeep_[A-Za-z0-9_]+)\b", clean):
            used[name].add(rule.alert)
        if re.search(r"\bup\s*\{", clean):
            used["up"].add(rule.alert)
    assert len(used) > 25 and "upkeep_ups_status" in used
    missing = {name: sorted(alerts) for name, alerts in used.items()
               if name not in METRICS and name not in EXTERNAL_METRICS}
    assert missing == {}, "rules read metrics the code does not declare (renamed?)"

