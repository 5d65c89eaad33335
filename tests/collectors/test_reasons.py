"""Every reason a collector can produce is a member of ``upkeep.errors.Reason``.

Reasons are exported as label values (``upkeep_poll_error{reason}``,
``upkeep_tls_cert_problem{reason}``) and in the JSON API, so the enum is their one list. Most
web reasons are still written as string literals at the point of failure; this reads the
source of every collector (and the scheduler) for strings in reason positions, so a new
literal that is not in the enum fails here, and a member no code produces any more does too.
"""

from __future__ import annotations

import ast
from pathlib import Path

from upkeep.collectors.nut_protocol import ERROR_REASONS
from upkeep.collectors.web_tls import PROBLEMS
from upkeep.errors import Reason

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "collectors").glob("*.py")) + [
    ROOT / "agents" / "runtime.py", ROOT / "agents" / "exposition.py", ROOT / "upkeep" / "errors.py"]
#: functions whose return value is a reason (or a (reason, message) pair)
REASON_FUNCTIONS = {"verdict", "_error_reason"}
#: exceptions whose first argument is a reason
REASON_EXCEPTIONS = {"ProbeFailure"}


def _strings(node: ast.AST | None) -> list[str]:
    """String constants an expression can evaluate to (``a or "x"``, ``"x" if c else "y"``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.BoolOp):
        return [s for value in node.values for s in _strings(value)]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for elt in node.elts for s in _strings(elt)]
    return []


def _is_reason(target: ast.AST) -> bool:
    name = target.id if isinstance(target, ast.Name) else \
        target.attr if isinstance(target, ast.Attribute) else ""
    return name == "reason"


def _name(func: ast.AST) -> str:
    return func.id if isinstance(func, ast.Name) else \
        func.attr if isinstance(func, ast.Attribute) else ""


def literal_reasons(tree: ast.AST) -> set[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "reason":
            found += _strings(node.value)
        elif isinstance(node, ast.Call) and _name(node.func) in REASON_EXCEPTIONS and node.args:
            found += _strings(node.args[0])
        elif isinstance(node, ast.Dict):
            found += [s for k, v in zip(node.keys, node.values, strict=True)
                      if isinstance(k, ast.Constant) and k.value == "reason" for s in _strings(v)]
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if _is_reason(target):
                    found += _strings(node.value)
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    found += [s for t, v in zip(target.elts, node.value.elts, strict=False)
                              if _is_reason(t) for s in _strings(v)]
        elif isinstance(node, ast.Compare) and _is_reason(node.left):
            found += [s for c in node.comparators for s in _strings(c)]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                node.name in REASON_FUNCTIONS:
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and ret.value is not None:
                    value = ret.value.elts[0] if isinstance(ret.value, ast.Tuple) else ret.value
                    found += _strings(value)
    return {s for s in found if s}


def enum_references(tree: ast.AST) -> set[str]:
    """``Reason.MEMBER`` used in code: those values are produced by construction."""
    return {Reason[node.attr].value for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "Reason" and node.attr in Reason.__members__}


def timeout_phases(tree: ast.AST) -> set[str]:
    """``web_http.remaining(deadline, "phase")`` fails with ``f"{phase}_timeout"``."""
    return {f"{node.args[1].value}_timeout" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and _name(node.func) == "remaining"
            and len(node.args) == 2 and isinstance(node.args[1], ast.Constant)}


def produced() -> tuple[set[str], set[str]]:
    """(string literals in reason positions, every value produced any way)."""
    literals: set[str] = set()
    produced: set[str] = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        literals |= literal_reasons(tree) | timeout_phases(tree)
        produced |= enum_references(tree)
    # certificate problems are label values themselves and, prefixed, an address's verdict
    dynamic = {*PROBLEMS, *(f"tls_{p}" for p in PROBLEMS), *ERROR_REASONS.values()}
    return literals, literals | produced | dynamic


def test_every_reason_a_collector_produces_is_a_member() -> None:
    literals, _ = produced()
    assert len(literals) > 20, "the scan found too few reasons: it no longer reads the code"
    assert literals - {r.value for r in Reason} == set()


def test_every_member_is_produced_somewhere() -> None:
    _, everything = produced()
    assert {r.value for r in Reason} - everything == set()


def test_nut_error_codes_and_cert_problems_are_members() -> None:
    assert all(isinstance(reason, Reason) for reason in ERROR_REASONS.values())
    for problem in PROBLEMS:
        assert Reason(problem) and Reason(f"tls_{problem}")


def test_the_scan_sees_a_new_literal() -> None:
    tree = ast.parse('raise ProbeFailure("dns_refused", "x")\n'
                     'out.update(ok=False, reason=fetched.reason or "no_answer")\n'
                     'reason, message = "bogus", ""\n')
    assert literal_reasons(tree) == {"dns_refused", "no_answer", "bogus"}


def test_values_serialise_as_plain_strings() -> None:
    import json

    assert json.dumps({"reason": Reason.TLS_UNTRUSTED}) == '{"reason": "tls_untrusted"}'
    assert f"{Reason.TIMEOUT}" == "timeout" and str(Reason.AUTH) == "auth"
