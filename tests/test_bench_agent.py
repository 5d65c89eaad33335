"""bench/bench_agent.py still runs: its smallest scenario (host only, seconds-long windows)
against node_exporter, and run_all.py reads its goals. A smoke test of the harness only: the
numbers are judged in bench/RESULTS.md, never asserted here (STYLE.md)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import REPO, need_binary


def test_bench_agent_host_scenario_runs_and_reports_goals() -> None:
    need_binary("prometheus-node-exporter")
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_agent.py"), "--quick", "--only", "host",
         "--warmup", "2", "--window", "3"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "node_exporter: CPU ms per scrape" in out
    assert "host 1/1" in out  # the agent polled its host and /metrics said so
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from run_all import goals_of
    finally:
        sys.path.remove(str(REPO / "bench"))
    goals = {goal for _source, goal, _met in goals_of(out)}
    assert any(goal.startswith("host: RSS ≤ 48 MiB") for goal in goals), goals
    assert any(goal.startswith("host: CPU per scrape ≤ 0.1× node_exporter's") for goal in goals)
