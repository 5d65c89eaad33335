"""Deriving a system's up/down state from its checks' readings (rule any / all)."""

from __future__ import annotations

import pytest

from upkeep.config import parse_config
from upkeep.config.systems import SystemConfig
from upkeep.errors import ConfigError
from upkeep.policies.systems import check_up, combine, system_up, watches
from upkeep.reading import Reading

HOST = Reading("host", "localhost", 1.0, True, info={"services": {"pg": True, "smb": False}})
WEB_OK = Reading("web", "jfs", 1.0, True)
WEB_DOWN = Reading("web", "mis", 1.0, False, reason="connect_refused")


def lookup(kind: str, target: str) -> Reading | None:
    return {r.key: r for r in (HOST, WEB_OK, WEB_DOWN)}.get((kind, target))


@pytest.mark.parametrize(("check", "state"), [
    ("web:jfs", True), ("web:mis", False), ("web:nothing", None), ("host:localhost", True),
    ("service:pg", True), ("service:smb", False), ("service:unknown", None),
])
def test_check_up(check: str, state: bool | None) -> None:
    assert check_up(check, lookup) is state


@pytest.mark.parametrize(("rule", "states", "result"), [
    ("any", [True, True], True), ("any", [True, False], False), ("any", [True, None], None),
    ("any", [False, None], False), ("all", [True, False], True), ("all", [False, False], False),
    ("all", [False, None], None), ("all", [None, True], True), ("any", [], None),
])
def test_combine(rule: str, states: list[bool | None], result: bool | None) -> None:
    assert combine(rule, states) is result


def test_system_up_and_watches() -> None:
    system = SystemConfig(name="jfs", checks=["web:jfs", "service:pg"])
    assert system_up(system, lookup) is True
    assert system_up(SystemConfig(name="x", checks=["web:jfs", "web:mis"]), lookup) is False
    assert system_up(SystemConfig(name="x", checks=["web:jfs", "web:mis"], rule="all"),
                     lookup) is True
    assert watches(system, HOST) and watches(system, WEB_OK) and not watches(system, WEB_DOWN)


@pytest.mark.parametrize(("systems", "message"), [
    ([{"name": "a", "checks": ["jfs"]}], "not KIND:TARGET"),
    ([{"name": "a", "checks": ["ftp:x"]}], "unknown kind 'ftp'"),
    ([{"name": "a", "checks": []}], "at least 1"),
    ([{"name": "a", "checks": ["web:x", "web:x"]}], "listed twice"),
    ([{"name": "a b", "checks": ["web:x"]}], "letters, digits"),
    ([{"name": "a", "checks": ["web:x"], "rule": "most"}], "'any' or 'all'"),
    ([{"name": "a", "checks": ["web:x"]}, {"name": "a", "checks": ["web:y"]}], "duplicate"),
])
def test_bad_system_config(systems: list[dict[str, object]], message: str) -> None:
    import yaml

    with pytest.raises(ConfigError, match=message):
        parse_config(yaml.safe_dump({"systems": systems}))


@pytest.mark.parametrize(("kpi", "message"), [
    ({"scales": [{"thresholds": {5: "12h", 4: "24h"}}]}, "each of the levels"),
    ({"scales": [{"thresholds": {5: "30h", 4: "24h", 3: "36h", 2: "48h", 1: "60h"}}]},
     "level 5 must allow less"),
    ({"maintenance": [{"start": "2025-03-16 02:00", "end": "2025-03-15 22:00"}]},
     "end must be after start"),
    ({"maintenance": [{"start": "yesterday", "end": "2025-03-15 22:00"}]}, "not a date-time"),
    ({"merge_gap": "soon"}, "not a duration"),
])
def test_bad_kpi_config(kpi: dict[str, object], message: str) -> None:
    import yaml

    with pytest.raises(ConfigError, match=message):
        parse_config(yaml.safe_dump({"policies": {"kpi": kpi}}))


def test_kpi_config_defaults_and_zone() -> None:
    config = parse_config("policies: {kpi: {maintenance: [{start: '2025-03-15 22:00', "
                          "end: '2025-03-16T02:00:00+07:00', system: jfs}]}}")
    kpi = config.policies.kpi
    assert (kpi.open_after, kpi.close_after, kpi.merge_gap) == (2, 3, 900)
    assert kpi.scales[0].thresholds == {5: 43200, 4: 86400, 3: 129600, 2: 172800, 1: 216000}
    window = kpi.maintenance[0]
    assert window.end.timestamp() - window.start.timestamp() == 4 * 3600
