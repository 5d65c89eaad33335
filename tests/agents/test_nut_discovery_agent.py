"""A running agent (`upkeep run`, real subprocess) with a ``nut:`` entry without ``ups:``:
every UPS of a real upsd becomes a target of its own in /metrics and /api/v1/targets, one
added to ups.conf at run time appears within an interval, one removed is reported down, and
the entry's own reason (an upsd listing no UPS) goes once UPS appear."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.nut_rig import NutRig, ScriptedUpsd
from tests.support import metric, parse_metrics, run_cli, running_agent, wait_for

FAST = {"interval": "1s", "timeout": "900ms"}


def targets(agent: Any) -> dict[str, dict[str, Any]]:
    return {t["target"]: t for t in agent.get("/api/v1/targets").json()["targets"]
            if t["kind"] == "nut"}


def test_every_ups_of_a_upsd_becomes_a_target(tmp_path: Path) -> None:
    rig = NutRig(tmp_path / "nut")
    rig.add_ups("alpha", {"ups.status": "OL", "battery.charge": "91"})
    rig.add_ups("beta", {"ups.status": "OL", "battery.charge": "40"})
    spare = ScriptedUpsd({"LIST UPS": ScriptedUpsd.ups_list()})
    with rig, spare:
        config = {"site": "s", "host": {"interval": "30s", "timeout": "10s"}, "ups": [
            {"name": "server-room", "nut": {"host": rig.host, "port": rig.port, **FAST}},
            {"name": "spare", "nut": {"host": "127.0.0.1", "port": spare.port, **FAST}}]}
        with running_agent(tmp_path, config) as agent:
            seen = wait_for(lambda: (t := targets(agent)).keys() >= {
                "alpha@server-room", "beta@server-room", "spare"} and t, 15,
                message="both UPS and the empty upsd polled")
            assert seen["alpha@server-room"]["up"] is True
            assert seen["alpha@server-room"]["info"]["nut"]["entry"] == "server-room"
            assert (seen["spare"]["up"], seen["spare"]["reason"]) == (False, "config")
            assert "lists no UPS" in seen["spare"]["message"]
            series = parse_metrics(agent.metrics())
            assert metric(series, "upkeep_up", kind="nut", target="beta@server-room") == 1
            assert metric(series, "upkeep_ups_battery_charge_ratio",
                          ups="beta@server-room") == 0.4
            assert metric(series, "upkeep_up", kind="nut", target="server-room") is None

            rig.add_ups("gamma", {"ups.status": "OB DISCHRG", "battery.charge": "70"})
            rig.remove_ups("beta")
            spare.answers["LIST UPS"] = ScriptedUpsd.ups_list('UPS late "arrived later"')
            spare.answers["LIST VAR late"] = ScriptedUpsd.var_list("late", {"ups.status": "OL"})

            def changed() -> dict[str, dict[str, Any]] | None:
                t = targets(agent)
                ready = ("gamma@server-room" in t and t["gamma@server-room"]["up"]
                         and not t["beta@server-room"]["up"] and "late@spare" in t)
                return t if ready else None

            after = wait_for(changed, 10, message="gamma added, beta removed, late listed")
            assert after["beta@server-room"]["reason"] == "config"
            assert "no longer lists" in after["beta@server-room"]["message"]
            assert after["late@spare"]["up"] is True
            # the entry's own "lists no UPS" is gone once its upsd lists one
            assert "spare" not in after
            series = parse_metrics(agent.metrics())
            assert metric(series, "upkeep_up", kind="nut", target="spare") is None
            assert metric(series, "upkeep_ups_status", ups="gamma@server-room", flag="OB") == 1

        path = tmp_path / "probe.yml"
        path.write_text(json.dumps({"ups": config["ups"][:1], "host": {"enabled": False}}))
        result = run_cli("probe", "-c", str(path), "--json")
        probed = {r["target"]: r["ok"] for r in json.loads(result.stdout)}
        assert probed == {"alpha": True, "gamma": True}, result.stdout + result.stderr
