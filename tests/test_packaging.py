"""Packaging and repository hygiene: the wheel holds only upkeep/, bare room imports are
banned, docs/metrics.md is current."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support import REPO

ROOMS = ("agents", "collectors", "policies", "alerts", "dashboards")


def test_wheel_holds_only_the_upkeep_namespace(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("upkeep-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    strays = [n for n in names if not (n.startswith("upkeep/") or
                                       (n.startswith("upkeep-") and ".dist-info/" in n))]
    assert strays == []
    for room in ROOMS:
        assert f"upkeep/{room}/__init__.py" in names
    assert "upkeep/default-config.yml" in names
    assert "upkeep/collectors/host.py" in names
    # alertmanager.yml loads templates/*.tmpl: an installed config must find it
    assert "upkeep/alerts/templates/upkeep.tmpl" in names
    assert not any(n.startswith(("tests/", "agents/", "bench/")) for n in names)


def test_every_room_folder_is_a_package() -> None:
    for room in ROOMS:
        assert (REPO / room / "__init__.py").is_file()


def test_ruff_bans_bare_room_imports(tmp_path: Path) -> None:
    bad = REPO / "agents" / "_banned_import_probe.py"
    bad.write_text("from __future__ import annotations\n\nimport collectors\n\n"
                   "from agents import cli\n\n_ = (collectors, cli)\n", encoding="utf-8")
    try:
        # the ruff of this interpreter's venv, whether or not its bin/ is on PATH
        ruff = Path(sys.executable).with_name("ruff")
        result = subprocess.run([str(ruff) if ruff.exists() else "ruff", "check", "--no-cache", "--select", "TID251", str(bad)],
                                cwd=REPO, capture_output=True, text=True, timeout=60)
    finally:
        bad.unlink()
    assert result.returncode == 1
    assert "`collectors` is banned" in result.stdout
    assert "`agents` is banned" in result.stdout


def test_docs_metrics_md_is_current() -> None:
    # -P: not the working directory's bare upkeep/ folder, the installed package
    result = subprocess.run([sys.executable, "-P", "-m", "upkeep.agents.metrics_doc"],
                            capture_output=True, text=True, timeout=120, check=True)
    committed = (REPO / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert result.stdout == committed, (
        "docs/metrics.md is stale: run python -m upkeep.agents.metrics_doc -o docs/metrics.md")
