"""The wheel, installed WITHOUT extras into a new venv, runs as a new user would run it.

The suite itself runs in a venv with ``.[test]``, which hides a runtime import that only a test
extra provides (httpx was one). Here one wheel is built and installed into a clean venv (module
fixture), then every subcommand's ``--help``, ``check-config`` of the embedded default,
``upkeep run`` with no ``-c`` and a ``/metrics`` scrape, every module's import, and every
third-party import (module-level or inside a function) against the declared dependencies.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import tomllib
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import REPO, free_port, wait_for


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path

    @property
    def python(self) -> str:
        return str(self.bin / "python")

    @property
    def upkeep(self) -> str:
        return str(self.bin / "upkeep")

    def run(self, *argv: str, env: dict[str, str] | None = None, timeout: float = 60,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              env=env or clean_env(), cwd=cwd or self.bin)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the test venv, PYTHONPATH or XDG overrides."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "XDG_DATA_HOME", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(REPO)))
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(tmp / "dist"), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp / "dist").glob("upkeep-*.whl"))
    venv.create(tmp / "venv", with_pip=True, symlinks=True)
    bin_dir = tmp / "venv" / "bin"
    result = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)],
                            capture_output=True, text=True, timeout=600, env=clean_env(),
                            cwd=tmp)
    assert result.returncode == 0, result.stderr[-3000:]
    yield Installed(wheel, bin_dir)


def wheel_modules(wheel: Path) -> list[str]:
    names = zipfile.ZipFile(wheel).namelist()
    return sorted(n.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
                  for n in names if n.startswith("upkeep/") and n.endswith(".py"))


def test_version(installed: Installed) -> None:
    from upkeep import __version__

    result = installed.run(installed.upkeep, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"upkeep {__version__}"


#: prints every command path of the installed parser, one per line (nested ones too)
_COMMANDS = """
import argparse
from upkeep.agents.cli import build_parser
def walk(parser, path):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                print(" ".join((*path, name)))
                walk(sub, (*path, name))
walk(build_parser(), ())
"""


def test_every_subcommand_help(installed: Installed) -> None:
    listed = installed.run(installed.python, "-c", _COMMANDS)
    assert listed.returncode == 0, listed.stderr
    commands = listed.stdout.split("\n")[:-1]
    # the verbs DESIGN.md promises, at least
    assert {"run", "probe", "sd", "check-config", "checklist", "report", "incidents",
            "assets"} <= set(commands)

    def check(command: str) -> str | None:
        result = installed.run(installed.upkeep, *command.split(), "--help")
        if result.returncode == 0 and "usage: upkeep" in result.stdout:
            return None
        return f"upkeep {command} --help: exit {result.returncode}\n{result.stderr[-800:]}"

    with ThreadPoolExecutor(4) as pool:
        failed = [problem for problem in pool.map(check, commands) if problem]
    assert failed == [], "\n".join(failed)


def test_check_config_of_the_embedded_default(installed: Installed) -> None:
    where = installed.run(installed.python, "-c", "from importlib import resources; "
                          "print(resources.files('upkeep') / 'default-config.yml')")
    assert where.returncode == 0, where.stderr
    path = where.stdout.strip()
    assert "site-packages" in path  # the installed copy, not the repository's
    result = installed.run(installed.upkeep, "check-config", "--no-bind", path)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_run_without_config_serves_metrics(installed: Installed, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    with (tmp_path / "agent.log").open("wb") as log:
        proc = subprocess.Popen([installed.upkeep, "run", "--listen", f"127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT, cwd=home,
                                env=clean_env(HOME=str(home)))
    try:
        def scrape() -> str | None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                text = resp.read().decode()
            return text if "upkeep_host_cpu" in text else None

        try:
            text = wait_for(scrape, timeout=45, interval=0.3, message="/metrics with host series")
        except AssertionError as err:
            raise AssertionError(f"{err}\n{(tmp_path / 'agent.log').read_text()[-3000:]}"
                                 ) from None
        assert re.search(r'^upkeep_up\{kind="host",target="localhost"\} 1(\.0)?$', text, re.M)
        assert "upkeep_agent_info{" in text
        # the embedded default keeps its data under $HOME
        assert (home / ".local" / "share" / "upkeep").is_dir()
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises the captured SIGTERM after a graceful shutdown
        code = proc.wait(20)
        assert code in (0, -signal.SIGTERM), (tmp_path / "agent.log").read_text()[-3000:]


def test_every_module_imports(installed: Installed) -> None:
    modules = wheel_modules(installed.wheel)
    assert "upkeep.agents.cli" in modules and "upkeep.policies.cmd_checklist" in modules
    code = ("import importlib, sys, traceback\n"
            "bad = []\n"
            "for name in sys.argv[1:]:\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except BaseException as err:\n"
            "        bad.append(f'{name}: {type(err).__name__}: {err}')\n"
            "print('\\n'.join(bad))\n")
    result = installed.run(installed.python, "-c", code, *modules, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_cli_does_not_load_what_only_one_command_needs(installed: Installed) -> None:
    """``upkeep run`` builds the whole parser: a command's own libraries load in the command."""
    code = ("import sys\nfrom upkeep.agents.cli import build_parser\nbuild_parser()\n"
            "print(' '.join(sorted(m for m in ('httpx', 'openpyxl', 'fpdf') if m in sys.modules)))")
    result = installed.run(installed.python, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


#: maps every third-party import in the wheel to its distribution, in the clean venv
_DISTRIBUTIONS = """
import json, re, sys
from importlib.metadata import packages_distributions, requires
found = packages_distributions()
declared = {re.match(r"[A-Za-z0-9._-]+", r).group().lower().replace("_", "-")
            for r in requires("upkeep") or [] if "extra ==" not in r}
print(json.dumps({"found": {k: v for k, v in found.items() if k in sys.argv[1:]},
                  "declared": sorted(declared)}))
"""


def third_party_imports(wheel: Path) -> dict[str, set[str]]:
    """Top-level names imported anywhere in the wheel's code (function bodies too) -> files."""
    out: dict[str, set[str]] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not name.endswith(".py"):
                continue
            tree = ast.parse(archive.read(name), filename=name)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    tops = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    if top not in sys.stdlib_module_names and top not in ("upkeep", "__future__"):
                        out.setdefault(top, set()).add(name)
    return out


#: libraries only an optional feature imports (inside the function that needs them), each
#: declared in that feature's extra (none now: the audit's playwright is a dependency)
OPTIONAL_FEATURES: dict[str, str] = {}


def test_every_third_party_import_is_a_declared_dependency(installed: Installed) -> None:
    imports = third_party_imports(installed.wheel)
    assert {"httpx", "pydantic", "psutil"} <= set(imports)
    result = installed.run(installed.python, "-c", _DISTRIBUTIONS, *imports)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    declared = set(answer["declared"])
    problems = []
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for top, files in sorted(imports.items()):
        dists = {d.lower().replace("_", "-") for d in answer["found"].get(top, [])}
        extra = OPTIONAL_FEATURES.get(top)
        if extra is not None:  # an optional feature's library: declared in its extra
            assert any(req.startswith(top) for req in extras[extra]), (top, extra)
            continue
        if not dists:
            problems.append(f"{top} (imported in {sorted(files)}) is not installed by the wheel")
        elif not dists & declared:
            problems.append(f"{top} (imported in {sorted(files)}) comes from {sorted(dists)}, "
                            "which upkeep does not declare (only a transitive dependency)")
    assert problems == [], "\n".join(problems)
