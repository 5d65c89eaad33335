"""The README's two commands, verbatim, as root (minimal Debian: no sudo) and as a sudo user.

``apt-get``, ``dpkg-query``, ``sudo`` and ``python3`` are stand-ins on PATH that record their
calls (the real ones would change the machine); the scripts' own logic runs for real. The real
install (venv, wheel, ``upkeep run``) is tests/test_wheel_runtime.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO, skip_unless_ci

#: a stand-in that appends "name args" to $CALLS; the python3 one makes a venv whose pip and
#: upkeep record their arguments too
STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "$CALLS"
"""
STUBS = {
    "apt-get": STUB,
    # Debian's answer for a package that is not installed
    "dpkg-query": STUB + 'echo "dpkg-query: no packages found matching $3" >&2\nexit 1\n',
    "sudo": STUB + 'exec "$@"\n',
    "python3": STUB + 'mkdir -p .venv/bin\nfor t in pip upkeep; do\n'
                      '  printf \'#!/bin/sh\\necho "%s $*" >> "$CALLS"\\n\' "$t" > .venv/bin/$t\n'
                      '  chmod +x .venv/bin/$t\ndone\n',
}


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, re.S)]


def test_readme_has_exactly_two_commands_and_ci_runs_the_second() -> None:
    assert readme_commands() == ["./scripts/install-and-run", "./scripts/test-all"]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec ./scripts/test-all" in ci
    for script in ("install-and-run", "test-all", "install-test-deps"):
        path = REPO / "scripts" / script
        assert os.access(path, os.X_OK), f"{path} is not executable"
        subprocess.run(["bash", "-n", str(path)], check=True, timeout=30)


def fake_clone(tmp: Path) -> tuple[Path, dict[str, str]]:
    clone = tmp / "clone"
    (clone / "scripts").mkdir(parents=True)
    for script in ("install-and-run", "test-all"):
        shutil.copy2(REPO / "scripts" / script, clone / "scripts" / script)
    stubs = tmp / "stubs"
    stubs.mkdir()
    for name, text in STUBS.items():
        (stubs / name).write_text(text, encoding="utf-8")
        (stubs / name).chmod(0o755)
    calls = tmp / "calls"
    calls.touch()
    calls.chmod(0o666)
    clone.chmod(0o777)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "CALLS": str(calls), "HOME": str(tmp)}
    return clone, env


def as_user(uid: int) -> list[str]:
    if uid == 0:
        return []
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary directory outside pytest's (mode 0700) tree, so nobody can work in it too."""
    path = Path(tempfile.mkdtemp(prefix="upkeep-readme-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.mark.parametrize("uid", [0, 65534], ids=["root-without-sudo", "sudo-user"])
def test_install_and_run(open_tmp: Path, uid: int) -> None:
    if os.getuid() != 0:
        skip_unless_ci("needs root to play both root and a sudo user")
    clone, env = fake_clone(open_tmp)
    if uid == 0:
        (open_tmp / "stubs" / "sudo").unlink()  # root on a minimal Debian 12 has no sudo
    result = subprocess.run([*as_user(uid), *readme_commands()[0].split(), "--listen",
                             "127.0.0.1:10999"], cwd=clone, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    calls = [c for c in (open_tmp / "calls").read_text().splitlines()
             if not c.startswith("dpkg-query")]
    # the stand-in sudo records itself, then runs the command (which records itself too)
    via_sudo = ["sudo apt-get update -q", "apt-get update -q",
                "sudo apt-get install -y -q python3-venv", "apt-get install -y -q python3-venv"]
    as_root = ["apt-get update -q", "apt-get install -y -q python3-venv"]
    assert calls == [*(via_sudo if uid else as_root), "python3 -m venv --clear .venv",
                     "pip install -q .", "upkeep run --listen 127.0.0.1:10999"]
    # the second time nothing is installed again
    (open_tmp / "stubs" / "dpkg-query").write_text(STUB + "printf 'install ok installed'\n",
                                                   encoding="utf-8")
    (open_tmp / "calls").write_text("", encoding="utf-8")
    again = subprocess.run([*as_user(uid), *readme_commands()[0].split()], cwd=clone, env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    calls = [c for c in (open_tmp / "calls").read_text().splitlines()
             if not c.startswith("dpkg-query")]
    assert calls == ["pip install -q .", "upkeep run"]


def test_test_all_asks_sudo_once_when_not_root(open_tmp: Path) -> None:
    if os.getuid() != 0:
        skip_unless_ci("needs root to play a sudo user")
    clone, env = fake_clone(open_tmp)
    # the stand-in sudo records and stops there: the real run is .ci/run's, as root
    (open_tmp / "stubs" / "sudo").write_text(STUB, encoding="utf-8")
    result = subprocess.run([*as_user(65534), *readme_commands()[1].split(), "-x"], cwd=clone,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (open_tmp / "calls").read_text().splitlines() == ["sudo -E ./scripts/test-all -x"]
