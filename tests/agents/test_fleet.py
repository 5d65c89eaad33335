"""Fleet inventory -> Prometheus SD: ``upkeep sd`` (file_sd) and the agent's ``/api/v1/sd``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import AgentProcess, run_cli
from upkeep.agents.fleet import target_groups
from upkeep.config.fleet import parse_inventory

INVENTORY = {
    "defaults": {"port": 10316, "labels": {"org": "moph"}},
    "sites": [
        {"site": "hq", "region": "bangkok", "office_type": "central",
         "agents": ["127.0.0.1", "127.0.0.2:9999"],
         "probes": [{"target": "https://127.0.0.1:8443/", "module": "website"},
                    {"target": "ups-hq", "module": "ups"}]},
        {"site": "branch-cm", "region": "north", "office_type": "provincial",
         "agents": ["[::1]:10400"], "labels": {"tier": "b"}},
        {"site": "branch-nat", "region": "south", "office_type": "district",
         "agents": ["127.0.0.3"], "push": True},
    ],
}


def test_target_groups_labels_and_addresses() -> None:
    inv = parse_inventory(yaml.safe_dump(INVENTORY))
    groups = target_groups(inv, "agents")
    assert groups == [
        {"targets": ["127.0.0.1:10316", "127.0.0.2:9999"],
         "labels": {"org": "moph", "site": "hq", "region": "bangkok", "office_type": "central"}},
        {"targets": ["[::1]:10400"],
         "labels": {"org": "moph", "tier": "b", "site": "branch-cm", "region": "north",
                    "office_type": "provincial"}},
    ]
    with_push = target_groups(inv, "agents", include_push=True)
    assert [g["labels"]["site"] for g in with_push] == ["hq", "branch-cm", "branch-nat"]
    probes = target_groups(inv, "probes")
    assert [(g["targets"], g["labels"]["__param_module"], g["labels"]["__meta_upkeep_agent"])
            for g in probes] == [(["https://127.0.0.1:8443/"], "website", "127.0.0.1:10316"),
                                 (["ups-hq"], "ups", "127.0.0.1:10316")]


@pytest.mark.parametrize("change, problem", [
    (lambda d: d["sites"].append(dict(d["sites"][0])), "duplicate site 'hq'"),
    (lambda d: d["sites"][1].update(agents=["127.0.0.1:10316"]), "already listed"),
    (lambda d: d["sites"][0].update(labels={"site": "x"}), "set by the inventory"),
    (lambda d: d["sites"][0].update(labels={"bad-name": "x"}), "not a valid Prometheus label"),
    (lambda d: d["sites"][0].update(agents=["http://x/"]), "HOST or HOST:PORT"),
    (lambda d: d["sites"][0].update(agents=[]), "sites[0].agents"),
    (lambda d: d["sites"][0].pop("region"), "sites[0].region"),
    (lambda d: d["sites"][0].update(colour="red"), "sites[0].colour: unknown key"),
    (lambda d: d["sites"][0].update(site="bad site"), "letters, digits"),
])
def test_inventory_errors(change: object, problem: str) -> None:
    data = json.loads(json.dumps(INVENTORY))
    change(data)  # type: ignore[operator]
    with pytest.raises(ValueError) as err:
        parse_inventory(yaml.safe_dump(data))
    assert problem in str(err.value)


def test_sd_cli_writes_file_sd_atomically(tmp_path: Path) -> None:
    inv = tmp_path / "fleet.yml"
    inv.write_text(yaml.safe_dump(INVENTORY))
    out = tmp_path / "sd" / "upkeep.json"
    result = run_cli("sd", "--inventory", str(inv), "-o", str(out))
    assert result.returncode == 0, result.stderr
    groups = json.loads(out.read_text())
    assert [g["labels"]["site"] for g in groups] == ["hq", "branch-cm"]
    assert oct(os.stat(out).st_mode & 0o777) == "0o644"
    assert [p.name for p in out.parent.iterdir()] == ["upkeep.json"]  # no temp left behind
    probes = run_cli("sd", "-i", str(inv), "--kind", "probes")
    assert json.loads(probes.stdout)[0]["labels"]["__param_module"] == "website"
    check = run_cli("sd", "-i", str(inv), "--check")
    assert check.returncode == 0 and "3 sites" in check.stdout
    inv.write_text("sites: [{site: hq}]\n")
    bad = run_cli("sd", "-i", str(inv), "-o", str(out))
    assert bad.returncode == 2 and "sites[0].region" in bad.stderr
    assert json.loads(out.read_text()) == groups  # the old file is untouched


def test_http_sd_from_the_central_agent(tmp_path: Path) -> None:
    inv = tmp_path / "fleet.yml"
    inv.write_text(yaml.safe_dump(INVENTORY))
    token = "central-token-0123456789"
    agent = AgentProcess(tmp_path, {"site": "hq", "inventory": str(inv),
                                    "host": {"interval": "5s", "timeout": "2s"},
                                    "web": {"api_token": token}})
    agent.start()
    try:
        response = agent.get("/api/v1/sd")
        assert response.status_code == 200
        assert response.headers["x-prometheus-refresh-interval-seconds"] == "60"
        assert [g["labels"]["site"] for g in response.json()] == ["hq", "branch-cm"]
        assert len(agent.get("/api/v1/sd", params={"kind": "probes"}).json()) == 2
        # the file changes: the next request sees it (mtime), no restart
        data = json.loads(json.dumps(INVENTORY))
        data["sites"][1]["region"] = "northeast"
        inv.write_text(yaml.safe_dump(data))
        os.utime(inv, (1, 1))
        assert agent.get("/api/v1/sd").json()[1]["labels"]["region"] == "northeast"
        # a broken file: 503 (Prometheus keeps its last good list), the agent keeps going
        inv.write_text("sites: [{site: hq}]\n")
        os.utime(inv, (2, 2))
        broken = agent.get("/api/v1/sd")
        assert broken.status_code == 503 and "region" in broken.json()["detail"]
        inv.write_text(yaml.safe_dump(INVENTORY))
        reload = httpx.post(f"{agent.url}/api/v1/sd/reload", timeout=5,
                            headers={"Authorization": f"Bearer {token}"})
        assert reload.json() == {"sites": 3, "agents": 4}
        runtime = agent.get("/api/v1/debug/runtime").json()
        assert runtime["pid"] == agent.proc.pid  # type: ignore[union-attr]
        assert runtime["vmrss_bytes"] > 10 * 2**20 and runtime["open_fds"] > 3
        assert runtime["asyncio_tasks"] >= 1 and runtime["threads"] >= 1
    finally:
        agent.stop()
