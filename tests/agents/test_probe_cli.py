"""``upkeep probe``: one poll of every target, a table, exit 0 / 1 / 2."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.support import free_port, run_cli


def _write(tmp: Path, text: str) -> Path:
    path = tmp / "upkeep.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_all_up_exits_0_with_a_table(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        path = _write(tmp_path, f"host:\n  services:\n    ports: [{{name: db, port: {port}}}]\n")
        result = run_cli("probe", "-c", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KIND", "TARGET", "STATE", "DETAILS"]
    host = next(line for line in lines if line.startswith("host"))
    assert "localhost" in host and " up " in host and "load " in host


def test_a_down_target_exits_1_with_its_reason(tmp_path: Path) -> None:
    # a NUT UPS on a port where nothing listens: the UPS is down, the host still up
    path = _write(tmp_path, f"ups:\n  - name: branch-ups\n    nut: {{host: 127.0.0.1, "
                            f"port: {free_port()}, interval: 5s, timeout: 1s}}\n")
    result = run_cli("probe", "-c", str(path), "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    readings = {r["target"]: r for r in json.loads(result.stdout)}
    assert readings["localhost"]["ok"] is True
    assert readings["branch-ups"]["ok"] is False
    assert readings["branch-ups"]["reason"] == "unreachable"


def test_bad_config_exits_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "host:\n  interval: soon\n")
    result = run_cli("probe", "-c", str(path))
    assert result.returncode == 2
    assert "host.interval" in result.stderr
