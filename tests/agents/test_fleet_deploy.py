"""deploy/: the shipped units and configs are valid for the real tools that will read them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.support import REPO, UPKEEP, need_binary
from upkeep.config import load_config
from upkeep.config.fleet import load_inventory
from upkeep.config.web import load_web_config_file

DEPLOY = REPO / "deploy"


def test_prometheus_configs_pass_promtool() -> None:
    promtool = need_binary("promtool")
    files = [DEPLOY / "prometheus" / "prometheus.yml", DEPLOY / "prometheus" / "branch-agent.yml",
             DEPLOY / "vmagent" / "vmagent-scrape.yml", DEPLOY / "prometheus" / "central-shard.yml",
             DEPLOY / "vmagent" / "central-vmagent.yml"]
    result = subprocess.run([promtool, "check", "config", "--syntax-only", *map(str, files)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    central = yaml.safe_load(files[0].read_text())
    jobs = {job["job_name"]: job for job in central["scrape_configs"]}
    assert jobs["upkeep"]["scheme"] == "https" and "basic_auth" in jobs["upkeep"]
    assert jobs["upkeep"]["file_sd_configs"][0]["files"] == ["/var/lib/upkeep-sd/upkeep.json"]
    probe = jobs["upkeep-probe"]
    assert probe["metrics_path"] == "/probe"
    assert {r["target_label"] for r in probe["relabel_configs"]} == {
        "__param_target", "instance", "__address__"}
    agent = yaml.safe_load(files[1].read_text())
    assert set(agent["global"]["external_labels"]) == {"site", "region", "office_type"}
    assert "rule_files" not in agent and "alerting" not in agent  # refused in agent mode


def test_example_web_config_inventory_and_agent_config(tmp_path: Path) -> None:
    web = load_web_config_file(DEPLOY / "upkeep" / "web-config.yml")
    assert web.tls_server_config is not None and web.tls_server_config.min_version == "TLS12"
    assert web.tls_server_config.cert_file == str(DEPLOY / "upkeep" / "agent.crt")
    assert list(web.basic_auth_users) == ["prometheus"]
    inventory = load_inventory(DEPLOY / "upkeep" / "fleet.yml")
    assert [s.site for s in inventory.sites if s.push] == ["branch-chiangmai"]
    # the agent example, with /etc/upkeep/ pointed at a temp dir holding the files it names
    text = (DEPLOY / "upkeep" / "upkeep.yml").read_text().replace("/etc/upkeep/", f"{tmp_path}/")
    text = text.replace("/var/lib/upkeep", str(tmp_path / "state"))
    shutil.copy(DEPLOY / "upkeep" / "web-config.yml", tmp_path / "web-config.yml")
    (tmp_path / "snmp-community").write_text("public\n")
    (tmp_path / "api-token").write_text("0123456789abcdef0123\n")
    (tmp_path / "upkeep.yml").write_text(text)
    config = load_config(tmp_path / "upkeep.yml")
    assert config.listen == "0.0.0.0:10316" and config.web.config_file is not None


def test_systemd_units_verify_and_are_hardened(tmp_path: Path) -> None:
    analyze = need_binary("systemd-analyze")
    upkeep = UPKEEP  # this interpreter's console script, whether or not its bin/ is on PATH
    assert os.access(upkeep, os.X_OK), f"the upkeep console script is not installed: {upkeep}"
    for name in ("upkeep.service", "upkeep-sd.service", "upkeep-sd.path",
                 "vmagent-branch.service"):
        text = (DEPLOY / "systemd" / name).read_text().replace("/usr/bin/upkeep", upkeep)
        (tmp_path / name).write_text(text)
    result = subprocess.run([analyze, "verify", *(str(tmp_path / n) for n in
                                                  ("upkeep.service", "upkeep-sd.service",
                                                   "vmagent-branch.service"))],
                            capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if ("upkeep" in line or "vmagent" in line) and "is not executable" not in line]
    assert result.returncode == 0 and problems == [], result.stdout + result.stderr
    unit = (DEPLOY / "systemd" / "upkeep.service").read_text()
    for directive in ("User=upkeep", "NoNewPrivileges=yes", "ProtectSystem=strict",
                      "StateDirectory=upkeep", "StandardOutput=journal", "PrivateTmp=yes",
                      "CapabilityBoundingSet=\n", "ProtectHome=yes"):
        assert directive in unit, directive
    assert re.search(r"^ExecReload=/bin/kill -HUP \$MAINPID$", unit, re.M)
    sysusers = (DEPLOY / "systemd" / "upkeep.sysusers").read_text()
    assert re.search(r"^u upkeep - .* /var/lib/upkeep", sysusers, re.M)
