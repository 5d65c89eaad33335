"""One-way rooms (DESIGN.md "Layers"): import-linter's contracts hold on the repository and
break, naming the import, when a room imports one above it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

LINT = REPO / "scripts" / "lint-imports"
PARTS = ("upkeep", "agents", "collectors", "policies", "alerts", "dashboards", ".mypy-layout",
         "scripts", "pyproject.toml")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)  # lint-imports comes with the test extra
    return subprocess.run([str(LINT), str(root)], capture_output=True, text=True, timeout=240,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8"})


def copy_repo(dest: Path) -> Path:
    for part in PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / part)
    return dest


def test_the_repository_keeps_its_layers() -> None:
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("policies/kpi.py", "import upkeep.agents.runtime", "upkeep.policies.kpi -> upkeep.agents"),
    ("upkeep/kit/thai.py", "import upkeep.policies.kpi", "upkeep.kit.thai -> upkeep.policies"),
    ("collectors/base.py", "import upkeep.dashboards.web",
     "upkeep.collectors.base -> upkeep.dashboards"),
    ("collectors/host.py", "import sqlite3", "upkeep.collectors.host -> sqlite3"),
])
def test_a_back_import_breaks_the_contract(tmp_path: Path, module: str, line: str,
                                          broken: str) -> None:
    root = copy_repo(tmp_path / "repo")
    path = root / module
    text = path.read_text(encoding="utf-8")
    head, sep, rest = text.partition("from __future__ import annotations\n")
    assert sep, module
    path.write_text(f"{head}{sep}\n{line}  # noqa: F401\n{rest}", encoding="utf-8")
    result = lint(root)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout, result.stdout
    assert broken in result.stdout, result.stdout
