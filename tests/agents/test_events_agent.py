"""A running agent (`upkeep run`, real subprocess) watching a real upsd + dummy-ups: the power
fails and comes back, the driver dies, the agent restarts; events, metrics, API and probe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.nut_rig import NutRig
from tests.support import free_port, metric, parse_metrics, run_cli, running_agent, wait_for


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NutRig]:
    rig = NutRig(tmp_path_factory.mktemp("nut-agent"))
    rig.add_ups("ups1", {"ups.status": "OL CHRG", "battery.charge": "100",
                         "battery.runtime": "1800", "ups.load": "23", "ups.mfr": "APC",
                         "ups.model": "Smart-UPS 1500", "battery.date": "2024-05-01"})
    with rig:
        yield rig


def config(rig: NutRig) -> dict[str, Any]:
    fast = {"interval": "1s", "timeout": "900ms"}
    return {"site": "test-site",
            "host": {"interval": "30s", "timeout": "10s"},
            "ups": [{"name": "rack", "nut": rig.nut_config("ups1", auth=True, **fast)},
                    {"name": "gone", "nut": rig.nut_config("gone", port=free_port(), **fast)}]}


def events(agent: Any, **params: Any) -> list[dict[str, Any]]:
    response = agent.get("/api/v1/events", params=params)
    response.raise_for_status()
    return list(response.json()["events"])


def kinds(agent: Any, **params: Any) -> list[str]:
    return [e["kind"] for e in events(agent, **params)]


def series(agent: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return parse_metrics(agent.metrics())


def test_power_failure_seen_by_running_agent(rig: NutRig, tmp_path: Path) -> None:
    with running_agent(tmp_path, config(rig)) as agent:
        # both targets polled once (their first polls are jittered independently)
        def polled() -> dict | None:
            s = series(agent)
            return s if metric(s, "upkeep_up", kind="nut", target="rack") == 1 and metric(
                s, "upkeep_up", kind="nut", target="gone") is not None else None

        first = wait_for(polled, 15, message="rack up, gone polled")
        assert metric(first, "upkeep_up", kind="nut", target="gone") == 0
        assert metric(first, "upkeep_poll_error", kind="nut", target="gone",
                      reason="unreachable") == 1
        assert metric(first, "upkeep_ups_battery_charge_ratio", ups="rack") == 1.0
        assert metric(first, "upkeep_ups_status", ups="rack", flag="OB") == 0
        assert kinds(agent) == []

        # the charge first, then the status: dummy-ups hands upsd one variable at a time, so
        # a poll could see OB beside the old charge, and the on_battery event records the
        # charge of the first reading that shows OB
        rig.set("ups1", "battery.charge", "80")
        rig.set("ups1", "ups.status", "OB DISCHRG")
        wait_for(lambda: kinds(agent) == ["on_battery"], 15, message="on_battery event")
        rig.set("ups1", "ups.status", "OB DISCHRG LB")
        wait_for(lambda: kinds(agent)[:1] == ["low_battery"], 15, message="low_battery event")
        rig.set_many("ups1", {"ups.status": "OL CHRG", "battery.charge": "81"})
        wait_for(lambda: kinds(agent) == ["on_line", "low_battery", "on_battery"], 15,
                 message="on_line event")

        listed = events(agent)
        assert listed[0]["upsmon"] == "ONLINE" and listed[2]["details"]["battery_charge"] == 0.8
        assert listed[0]["time"] >= listed[1]["time"] >= listed[2]["time"]
        assert events(agent, ups="gone") == []
        assert kinds(agent, since=listed[1]["time"]) == ["on_line", "low_battery"]
        assert kinds(agent, until=listed[2]["time"]) == ["on_battery"]
        assert kinds(agent, limit=1) == ["on_line"]
        assert agent.get("/api/v1/events", params={"since": "soon"}).status_code == 422

        # the event metrics follow the recorded events (recomputed off the scrape path)
        after = wait_for(lambda: (found := series(agent)) and metric(
            found, "upkeep_ups_status_changes_total", ups="rack", flag="OL") == 2 and found,
            10, message="event metrics after the on_line event")
        assert metric(after, "upkeep_ups_status_changes_total", ups="rack", flag="OB") == 2
        assert metric(after, "upkeep_ups_status_changes_total", ups="rack", flag="LB") == 2
        assert metric(after, "upkeep_ups_status_changes_total", ups="rack", flag="OL") == 2
        on_battery = metric(after, "upkeep_ups_on_battery_seconds_total", ups="rack")
        assert on_battery is not None and on_battery > 0.5
        assert metric(after, "upkeep_up", kind="nut", target="gone") == 0  # still polled

        rig.kill_driver("ups1")
        try:
            wait_for(lambda: kinds(agent)[:1] == ["comm_lost"], 15, message="comm_lost")
            assert events(agent)[0]["details"]["reason"] == "driver"
        finally:
            rig.start_driver("ups1")
        wait_for(lambda: kinds(agent)[:1] == ["comm_restored"], 15, message="comm_restored")
        assert "monpass" not in agent.log_text()

    # a restart neither re-fires nor resets: same events, counters keep their values
    with running_agent(tmp_path, config(rig)) as agent:
        wait_for(lambda: metric(series(agent), "upkeep_up", kind="nut", target="rack") == 1,
                 15, message="rack up again")
        again = series(agent)
        assert metric(again, "upkeep_ups_on_battery_seconds_total", ups="rack") == on_battery
        assert metric(again, "upkeep_ups_status_changes_total", ups="rack", flag="OB") == 2
        assert kinds(agent) == ["comm_restored", "comm_lost", "on_line", "low_battery",
                                "on_battery"]


def test_probe_shows_state_charge_runtime_load_and_age(rig: NutRig, tmp_path: Path) -> None:
    import yaml

    rig.set("ups1", "battery.charge", "64")
    path = tmp_path / "probe.yml"
    cfg = config(rig)
    cfg["host"] = {"interval": "30s", "timeout": "10s"}
    path.write_text(yaml.safe_dump({**cfg, "data_dir": str(tmp_path / "data")}))
    result = run_cli("probe", "-c", str(path), timeout=60)
    line = next(x for x in result.stdout.splitlines() if x.startswith("nut") and "rack" in x)
    assert "on line (OL CHRG)" in line
    assert "charge 64%" in line and "runtime 30 min" in line and "load 23%" in line
    assert " y old" in line and "battery age unknown" not in line  # battery.date 2024-05-01
    gone = next(x for x in result.stdout.splitlines() if "gone" in x)
    assert "DOWN (unreachable)" in gone
    assert result.returncode == 1  # one target is down
