"""Helpers shared by the tests: free ports, waiting, running the agent, required binaries."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
#: 28 real UPS dumps from the NUT Devices Dumps Library, replayed through dummy-ups (kept in the
#: repository so a fresh clone is self-contained; tests/fixtures/nut-ddl/README.md)
NUT_DDL = REPO / "tests" / "fixtures" / "nut-ddl"
IN_CI = os.environ.get("CI", "").lower() == "true"
#: the ``upkeep`` console script installed next to this interpreter: what users start, and,
#: unlike ``python -m upkeep.agents.cli``, it never imports the repository's bare ``upkeep/``
#: folder from the working directory (which hides the mapped rooms from a non-editable
#: install: "No module named 'upkeep.agents'")
UPKEEP = str(Path(sys.executable).with_name("upkeep"))


def skip_unless_ci(reason: str) -> None:
    """Skip on a laptop that cannot run this test; in CI (CI=true) a missing capability fails."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def need_binary(name: str) -> str:
    """Path of a system binary; skip on a laptop without it, fail in CI (CI=true)."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}", f"/usr/lib/nut/{name}",
                     f"/sbin/{name}") if os.access(p, os.X_OK)), None)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI but not installed (see .ci/run)")
        pytest.skip(f"{name} not installed")
    return path


#: every port ``free_port`` handed out in this process: the kernel may offer a port again
#: once its probe socket is closed, and a fixture that takes 80 ports before starting anything
#: (tests/e2e/test_fleet_e2e.py) must not see one of them given to its upsd or Prometheus too
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        with socket.socket(family, kind) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no port that this test run has not handed out already")


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05,
             message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = predicate()
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    def ok() -> bool:
        with socket.create_connection((host, port), timeout=0.5):
            return True

    wait_for(ok, timeout, message=f"{host}:{port} to accept connections")


class AgentProcess:
    """``upkeep run -c FILE`` as a real subprocess on a free loopback port."""

    def __init__(self, tmp: Path, config: dict[str, Any], *, env: dict[str, str] | None = None
                 ) -> None:
        self.tmp = tmp
        self.port = free_port()
        config = {"listen": f"127.0.0.1:{self.port}", "data_dir": str(tmp / "data"), **config}
        self.config = config
        self.config_path = tmp / "upkeep.yml"
        self.write_config(config)
        self.log_path = tmp / "agent.log"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self, config: dict[str, Any]) -> None:
        self.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

    def start(self, wait: bool = True) -> AgentProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [UPKEEP, "run", "-c", str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.tmp)
        if wait:
            try:
                wait_for(lambda: httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200,
                         timeout=30, message=f"agent on {self.url}")
            except AssertionError as err:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"{err}; agent log:\n{self.log_text()[-3000:]}") from None
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10, **kwargs)

    def metrics(self) -> str:
        response = self.get("/metrics")
        response.raise_for_status()
        return response.text

    def targets(self) -> dict[str, Any]:
        items = self.get("/api/v1/targets").json()["targets"]
        return {f"{t['kind']}:{t['target']}": t for t in items}

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise


@contextlib.contextmanager
def running_agent(tmp: Path, config: dict[str, Any], **kwargs: Any) -> Iterator[AgentProcess]:
    agent = AgentProcess(tmp, config, **kwargs).start()
    try:
        yield agent
    finally:
        agent.stop()


def run_cli(*args: str, timeout: float = 60, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([UPKEEP, *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse exposition text with prometheus_client's parser: {(name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def metric(series: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
           **labels: str) -> float | None:
    return series.get((name, frozenset(labels.items())))
