"""The agent loads only what its config needs (issue 17, item 4: the import diet).

Each case runs ``upkeep run``'s start-up path in a fresh interpreter (the CLI parser with every
command registered, the config, the HTTP front and its web security, then the agent's
start: database, services, collectors; then stop, without serving) and lists which heavy
libraries ended up in ``sys.modules``. What only a command needs (PDF, XLSX, text shaping,
report code, the checklist's HTTP client) and what only some targets need (pysnmp and pyasn1
for SNMP v1/v3 only, v2c goes through gufo-snmp; dnspython for websites,
bcrypt for basic auth) must not be there otherwise: each one costs resident memory in every
agent for nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import free_port

STARTUP = r"""
import asyncio, json, sys
from upkeep.agents import cli
argv = ["run", "-c", sys.argv[1]]
args = cli.build_parser(cli.named_command(argv)).parse_args(argv)
from upkeep.kit.cli import config_from_args
config = config_from_args(args)
from upkeep.agents import cmd_run
from upkeep.agents.front import AgentFront
from upkeep.agents.runtime import Agent
agent = Agent(config)
front = AgentFront(agent)
cmd_run._server_config(front, config)
async def cycle():
    await agent.start()
    await agent.stop()
asyncio.run(cycle())
print(json.dumps(sorted(set(sys.modules) | {name.split(".")[0] for name in sys.modules})))
"""

#: loaded on the first request that is not ``GET /metrics`` (``upkeep.agents.front``)
API_ONLY = {"fastapi", "starlette", "anyio"}
#: the reference encoder: tests only (the front negotiates content types itself)
TESTS_ONLY = {"prometheus_client"}

#: never needed by ``upkeep run`` itself: only by commands (reports, checklist) or the UI's exports
COMMAND_ONLY = {"fpdf", "uharfbuzz", "openpyxl", "fontTools", "PIL", "jinja2", "httpx"}
#: the modules of the commands other than ``run`` (and the report code they share): a command
#: line that names ``run`` does not import them (``upkeep.agents.cli.named_command``)
OTHER_COMMANDS = {"upkeep.agents.cmd_probe", "upkeep.agents.cmd_sd", "upkeep.agents.cmd_audit",
                  "upkeep.policies.cmd_checklist", "upkeep.policies.cmd_assets",
                  "upkeep.policies.cmd_report", "upkeep.policies.cmd_incidents",
                  "upkeep.policies.cmd_satisfaction", "upkeep.policies.render",
                  "upkeep.policies.report_args"}
#: the standard library's mail and HTTP clients: only an agent that sends mail (notify.email)
#: or reads the ITA pages loads them
ON_USE_ONLY = {"smtplib", "urllib.request", "http.client", "html.entities"}


def loaded_by_startup(tmp_path: Path, config: dict[str, Any]) -> set[str]:
    config = {"listen": f"127.0.0.1:{free_port()}", "data_dir": str(tmp_path / "data"), **config}
    path = tmp_path / "upkeep.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", STARTUP, str(path)], capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_host_only_loads_no_command_target_or_auth_libraries(tmp_path: Path) -> None:
    loaded = loaded_by_startup(tmp_path, {"host": {"interval": "15s", "timeout": "10s"}})
    assert "psutil" in loaded  # the host collector did load: the probe sees real imports
    unneeded = (COMMAND_ONLY | {"bcrypt", "pysnmp", "pyasn1", "dns", "cryptography"} | API_ONLY
                | TESTS_ONLY | ON_USE_ONLY | OTHER_COMMANDS)
    assert loaded & unneeded == set()


def test_v2c_snmp_loads_gufo_but_not_pysnmp_nor_anything_for_websites(tmp_path: Path) -> None:
    """v2c (the common UPS card) goes through gufo-snmp: pysnmp and pyasn1 stay out (and the
    cryptography pysnmp brings along for v3 privacy)."""
    loaded = loaded_by_startup(tmp_path, {
        "host": {"enabled": False},
        "ups": [{"name": "rack", "snmp": {"host": "127.0.0.1", "port": free_port(),
                                          "community": "public"}}]})
    assert "upkeep" in loaded and "gufo" in loaded  # the SNMP collector did load
    assert loaded & (COMMAND_ONLY | {"bcrypt", "dns", "pysnmp", "pyasn1", "cryptography"}) == set()


@pytest.mark.parametrize("snmp", [
    {"version": "1", "community": "public"},
    {"version": "3", "user": "monitor", "auth": {"protocol": "SHA", "password": "authpass1"},
     "priv": {"protocol": "AES", "password": "privpass1"}},
], ids=["v1", "v3"])
def test_v1_or_v3_snmp_loads_pysnmp(tmp_path: Path, snmp: dict[str, Any]) -> None:
    """What gufo-snmp cannot carry (v1, v3) brings pysnmp in, and only that."""
    loaded = loaded_by_startup(tmp_path, {
        "host": {"enabled": False},
        "ups": [{"name": "rack", "snmp": {"host": "127.0.0.1", "port": free_port(), **snmp}}]})
    assert {"pysnmp", "pyasn1"} <= loaded
    assert loaded & (COMMAND_ONLY | {"bcrypt", "dns"}) == set()


def test_websites_load_dns_but_no_command_libraries_nor_cryptography(tmp_path: Path) -> None:
    """Certificates are read by ``collectors/web_x509.py``: cryptography (~9 MiB) stays out."""
    loaded = loaded_by_startup(tmp_path, {
        "host": {"enabled": False},
        "websites": [{"name": "local", "url": f"https://127.0.0.1:{free_port()}/"}]})
    assert {"dns", "upkeep.collectors.web_x509"} <= loaded
    assert loaded & (COMMAND_ONLY | {"bcrypt", "pysnmp", "cryptography"}) == set()


def test_basic_auth_loads_bcrypt(tmp_path: Path) -> None:
    import bcrypt

    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)).decode()
    web_config = tmp_path / "web.yml"
    web_config.write_text(yaml.safe_dump({"basic_auth_users": {"admin": hashed}}))
    loaded = loaded_by_startup(tmp_path, {"host": {"enabled": False},
                                          "web": {"config_file": str(web_config)}})
    assert "bcrypt" in loaded


# --- a command line loads its own command only ----------------------------------------------

def test_a_named_command_builds_the_same_parser_from_its_module_alone() -> None:
    from upkeep.agents import cli

    def commands(parser: Any) -> dict[str, Any]:
        (action,) = [a for a in parser._actions if a.dest == "command"]
        return dict(action.choices)

    full = commands(cli.build_parser())
    assert set(full) == {cli.CHECK_CONFIG, *cli.COMMANDS}
    for name in [*cli.COMMANDS, cli.CHECK_CONFIG]:
        alone = commands(cli.build_parser(name))
        assert set(alone) == {cli.CHECK_CONFIG, name}
        assert alone[name].format_help() == full[name].format_help()


@pytest.mark.parametrize(("argv", "named"), [
    (["run", "-c", "x.yml"], "run"),
    (["--log-level", "debug", "run"], "run"),
    (["--log-level=warning", "report", "kpi"], "report"),
    (["check-config", "x.yml"], "check-config"),
    (["-h", "run"], None),  # the top-level help lists every command
    (["--version"], None),
    (["bogus", "run"], None),  # argparse names the unknown command, listing every one
    ([], None),
])
def test_named_command(argv: list[str], named: str | None) -> None:
    from upkeep.agents import cli

    assert cli.named_command(argv) == named


def test_upkeep_run_does_not_import_the_other_commands(tmp_path: Path) -> None:
    code = ("import json, sys\nfrom upkeep.agents import cli\n"
            "try:\n    cli.main(['run', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert "upkeep.agents.cmd_run" in loaded
    assert loaded & OTHER_COMMANDS == set()
