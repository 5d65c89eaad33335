"""The real agent as a subprocess: scrape, compare with psutil and /proc, signals, promtool."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.support import (
    AgentProcess,
    metric,
    need_binary,
    parse_metrics,
    run_cli,
    wait_for,
)

PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("agent")
    proc = AgentProcess(tmp, {"site": "branch-test", "host": {
        "interval": "1s", "timeout": "900ms",
        "services": {"ports": [{"name": "self", "port": 1}],
                     "processes": [{"name": "python", "process": psutil.Process().name()}]}}})
    # the agent's own port answers: a real passing port check
    proc.config["host"]["services"]["ports"] = [{"name": "self", "port": proc.port},
                                                {"name": "closed", "port": _closed_port()}]
    proc.write_config(proc.config)
    proc.start()
    try:
        wait_for(lambda: "upkeep_host_load1" in proc.metrics(), message="first host poll")
        yield proc
    finally:
        proc.stop()


def _closed_port() -> int:
    from tests.support import free_port

    return free_port()


def test_scrape_matches_psutil_and_proc(agent: AgentProcess) -> None:
    series = parse_metrics(agent.metrics())
    assert metric(series, "upkeep_up", kind="host", target="localhost") == 1
    assert metric(series, "upkeep_agent_info", site="branch-test") == 1
    meminfo = {line.split(":")[0]: int(line.split()[1]) * 1024
               for line in Path("/proc/meminfo").read_text().splitlines()}
    assert metric(series, "upkeep_host_memory_MemTotal_bytes") == meminfo["MemTotal"]
    avail = metric(series, "upkeep_host_memory_MemAvailable_bytes")
    assert avail is not None and abs(avail - meminfo["MemAvailable"]) < 0.1 * meminfo["MemTotal"]
    boot = metric(series, "upkeep_host_boot_time_seconds")
    assert boot == pytest.approx(psutil.boot_time(), abs=1)
    idle0 = psutil.cpu_times(percpu=True)[0].idle
    scraped_idle = metric(series, "upkeep_host_cpu_seconds_total", cpu="0", mode="idle")
    assert scraped_idle is not None and 0 <= idle0 - scraped_idle < 5
    load1 = metric(series, "upkeep_host_load1")
    assert load1 is not None and abs(load1 - os.getloadavg()[0]) < 2
    root = os.statvfs("/")
    root_size = [v for (name, labels), v in series.items()
                 if name == "upkeep_host_filesystem_size_bytes" and ("mountpoint", "/") in labels]
    assert root_size == [root.f_blocks * root.f_frsize]
    nics = psutil.net_io_counters(pernic=True)
    nic = next(n for n in nics if n != "lo")
    rx = metric(series, "upkeep_host_network_receive_bytes_total", device=nic)
    assert rx is not None and 0 <= nics[nic].bytes_recv - rx < 10_000_000
    assert metric(series, "upkeep_host_network_receive_bytes_total", device="lo") is None
    assert metric(series, "upkeep_host_service_up", service="self", check="tcp") == 1
    assert metric(series, "upkeep_host_service_up", service="closed", check="tcp") == 0
    assert metric(series, "upkeep_host_service_up", service="python", check="process") == 1
    fd_max = int(Path("/proc/sys/fs/file-nr").read_text().split()[2])
    assert metric(series, "upkeep_host_filefd_maximum") == fd_max


def test_promtool_check_metrics_is_clean(agent: AgentProcess) -> None:
    promtool = need_binary("promtool")
    body = agent.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT}).text
    # text format for promtool, as Prometheus 2.42 also accepts
    text = agent.get("/metrics").text
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and "should not use camelCase" not in line
                and "MemAvailable" not in line]
    # DESIGN.md: the only accepted lint is node_exporter's /proc-field camelCase names
    assert not [p for p in problems if "_bytes" not in p or "memory_" not in p], problems
    assert body.startswith("# HELP") and body.rstrip().endswith("# EOF")


def test_content_negotiation_and_gzip(agent: AgentProcess) -> None:
    om = agent.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    plain = agent.get("/metrics", headers={"Accept": "text/plain"})
    assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    request = urllib.request.Request(f"{agent.url}/metrics", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=5) as raw:  # urllib does not decompress
        assert raw.headers["Content-Encoding"] == "gzip"
        assert b"upkeep_up{" in gzip.decompress(raw.read())


def test_scrape_serves_cached_bytes(agent: AgentProcess) -> None:
    """Two scrapes between polls are byte-identical: a scrape does no collection work."""
    for _ in range(20):
        first = agent.get("/metrics").text
        second = agent.get("/metrics").text
        if first == second:
            return
    pytest.fail("scrapes never returned the cached exposition")


def test_targets_api(agent: AgentProcess) -> None:
    targets = agent.targets()
    host = targets["host:localhost"]
    assert host["up"] is True and host["reason"] is None
    assert host["age_seconds"] < 5
    assert host["info"]["services"] == {"self": True, "closed": False, "python": True}


def test_sighup_with_broken_file_keeps_old_config(agent: AgentProcess) -> None:
    good = dict(agent.config)
    agent.config_path.write_text("host: [broken\n", encoding="utf-8")
    agent.signal(signal.SIGHUP)
    wait_for(lambda: "keeping the running config" in agent.log_text(), message="reload refusal")
    before = agent.targets()["host:localhost"]["time"]
    wait_for(lambda: agent.targets()["host:localhost"]["time"] > before, message="polls go on")
    assert agent.proc is not None and agent.proc.poll() is None
    # a valid new config is applied: the site label changes without a restart
    good["site"] = "branch-reloaded"
    agent.write_config(good)
    agent.signal(signal.SIGHUP)
    wait_for(lambda: 'upkeep_agent_info{site="branch-reloaded"}' in agent.metrics(),
             message="reloaded site label")


def test_sigterm_stops_within_5_seconds(tmp_path: Path) -> None:
    proc = AgentProcess(tmp_path, {"host": {"interval": "1s", "timeout": "500ms"}}).start()
    assert proc.proc is not None
    started = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    code = proc.proc.wait(10)
    assert time.monotonic() - started < 5
    # uvicorn re-raises the captured signal after a graceful shutdown, as systemd expects
    assert code in (0, -signal.SIGTERM)
    assert "upkeep stopped" in proc.log_text()


def test_sigint_stops_within_5_seconds(tmp_path: Path) -> None:
    proc = AgentProcess(tmp_path, {"host": {"interval": "1s", "timeout": "500ms"}}).start()
    assert proc.proc is not None
    started = time.monotonic()
    proc.proc.send_signal(signal.SIGINT)
    proc.proc.wait(10)
    assert time.monotonic() - started < 5
    assert "upkeep stopped" in proc.log_text()


def test_run_listen_flag_is_validated_like_the_config_key(tmp_path: Path) -> None:
    result = run_cli("run", "--listen", "10316", env={"HOME": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 2
    assert "--listen: '10316' is not HOST:PORT" in result.stderr
