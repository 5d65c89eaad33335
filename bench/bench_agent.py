"""The whole agent, as deployed, vs snmp_exporter / blackbox_exporter / node_exporter (issue 17).

bench_snmp, bench_web and bench_host time each collector alone in the bench's own process. Here
``upkeep run -c FILE`` (the installed console script) runs as a separate process with its
scheduler, store, exposition and HTTP server, and a scraper thread fetches ``/metrics`` once a
second with Prometheus's headers, timing each answer until its last byte (the scraper's own
gunzip and decoding are not counted). After a warm-up, the agent's CPU
(/proc/PID/stat utime+stime) and RSS are read over a steady window, and every scrape counts the
targets that are up *and* fresh (last success no older than 1.5 intervals + 1 s): "every
target up every cycle" means that count never dropped below the target count in the window.
Then the matching anchor does the same work at the same rate in the same run, on the same
simulators and servers (one after the other, so they do not share the 2 CPUs):

- ``snmp N``: snmpsim serves ``tests/fixtures/snmp/eaton-ups.snmprec`` (an Eaton XUPS-MIB card)
  under N communities; the agent polls N UPS (``mib: auto``) every ``interval``;
  snmp_exporter (0.21 config, one module per community walking the same XUPS-MIB subtree) is
  scraped for every device once per interval, the N scrapes spread over the interval as
  Prometheus spreads its targets. CPU per device-poll vs CPU per device-scrape.
- ``web N``: N HTTPS sites on IP-literal URLs (127.0.0.1, a private CA, TLS 1.2 and 1.3 only)
  served by a separate process; the agent probes each every ``interval``; blackbox_exporter
  (an ``http`` prober module with the CA) probes the same URLs at the same rate.
- ``host``: the host collector alone (15 s interval) vs node_exporter, both scraped once a
  second: CPU per scrape, RSS, start-up (to the first 200 on /metrics).
- ``site``: host + 68 UPS (15 s) + 34 websites (60 s): RSS (the goal), CPU, up counts.
- ``big``: host + 500 UPS (15 s) + 200 websites (60 s): every target up every cycle, p99
  ``/metrics`` while polling, CPU % of one core.
- ``startup``: the import diet; ``upkeep run``'s start-up path for four configs in a fresh
  interpreter each: RSS, module count, which heavy libraries each config loads.

Prints markdown with ratios and MET / NOT MET per goal. Every loop is bounded in count and
time; only loopback addresses are used.

    python bench/bench_agent.py                       # every scenario, full windows
    python bench/bench_agent.py --only snmp40,web100  # a subset
    python bench/bench_agent.py --quick               # small N, short windows (proves it works)
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from common import (  # noqa: E402
    PROMETHEUS_HEADERS,
    cpu_seconds,
    free_port,
    memory_mib,
    percentile,
    ratio,
    stop,
    table,
)

EATON_RECORD = "eaton-ups"
HTTPS_PORTS = 4
#: snmpsim answers some tens of requests a second per process: one per this many UPS
UPS_PER_SIM = 50
MAX_SIMS = 8
_SAMPLE = re.compile(r'^(upkeep_up|upkeep_last_success_timestamp_seconds)\{([^}]*)\} (\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


# --- measuring one process under a once-a-second scrape -------------------------------------

@dataclass
class Window:
    """What one process did over the steady window."""

    cpu_s: float = 0.0
    seconds: float = 0.0
    rss_mib: float = 0.0
    rss_max_mib: float = 0.0
    latencies: list[float] = field(default_factory=list)
    scrape_errors: int = 0
    #: kind -> the lowest count of up-and-fresh targets seen by any scrape in the window
    min_fresh: dict[str, int] = field(default_factory=dict)
    #: kind -> the number of targets exposed
    targets: dict[str, int] = field(default_factory=dict)
    startup_s: float = float("nan")
    #: successful polls seen in the window: distinct (kind, target, last success) after its start
    polls_ok: int = 0
    work: float = 0.0  # device-polls / site-probes / scrapes the CPU is divided by

    @property
    def cpu_pct(self) -> float:
        return 100 * self.cpu_s / self.seconds if self.seconds else float("nan")

    @property
    def p99_ms(self) -> float:
        return 1000 * percentile(self.latencies, 99)

    @property
    def p50_ms(self) -> float:
        return 1000 * percentile(self.latencies, 50)

    @property
    def cpu_ms_per_work(self) -> float:
        return 1000 * self.cpu_s / self.work if self.work else float("nan")


def fresh_counts(text: str, intervals: dict[str, float], now: float
                 ) -> tuple[dict[str, int], dict[str, int], dict[tuple[str, str], float]]:
    """(kind -> targets up with a fresh last success, kind -> targets exposed,
    (kind, target) -> last success timestamp)."""
    up: dict[tuple[str, str], float] = {}
    last: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match.group(2)))
        key = (labels.get("kind", ""), labels.get("target", ""))
        (up if match.group(1) == "upkeep_up" else last)[key] = float(match.group(3))
    fresh: dict[str, int] = {}
    exposed: dict[str, int] = {}
    for (kind, target), value in up.items():
        exposed[kind] = exposed.get(kind, 0) + 1
        limit = 1.5 * intervals.get(kind, 15.0) + 1.0
        if value == 1 and now - last.get((kind, target), 0.0) <= limit:
            fresh[kind] = fresh.get(kind, 0) + 1
    return fresh, exposed, last


class Scraper(threading.Thread):
    """GET ``url`` once a second (Prometheus headers), timing each answer to its last byte;
    bounded by ``until``."""

    def __init__(self, url: str, until: float, intervals: dict[str, float] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(name="scraper", daemon=True)
        self.url, self.until, self.intervals = url, until, intervals
        self.headers = headers or PROMETHEUS_HEADERS
        self.measuring = threading.Event()
        self.done = threading.Event()
        self.window = Window()
        self.rss: list[float] = []
        self.pid = 0
        self.started_at = float("inf")  # wall time the window began
        self.successes: set[tuple[str, str, float]] = set()

    def run(self) -> None:
        next_at = time.monotonic()
        with httpx.Client(headers=self.headers, timeout=10) as client:
            for _ in range(100_000):  # bounded in count, and by ``until`` in time
                if self.done.is_set() or time.monotonic() >= self.until:
                    break
                started = time.perf_counter()
                try:  # timed until the last byte arrived; decompressing it is the client's work
                    with client.stream("GET", self.url) as response:
                        response.raise_for_status()
                        raw = b"".join(response.iter_raw())
                    took = time.perf_counter() - started
                    if response.headers.get("content-encoding") == "gzip":
                        raw = gzip.decompress(raw)
                    text: str | None = raw.decode()
                except httpx.HTTPError:
                    text, took = None, time.perf_counter() - started
                if self.measuring.is_set():
                    self._record(text, took)
                next_at += 1.0
                time.sleep(max(0.0, next_at - time.monotonic()))

    def _record(self, text: str | None, took: float) -> None:
        w = self.window
        if text is None:
            w.scrape_errors += 1
            return
        w.latencies.append(took)
        if self.pid:
            self.rss.append(memory_mib(self.pid)["VmRSS"])
        if self.intervals is not None:
            fresh, exposed, last = fresh_counts(text, self.intervals, time.time())
            self.successes.update((kind, target, ts) for (kind, target), ts in last.items()
                                  if ts >= self.started_at)
            w.polls_ok = len(self.successes)
            for kind, count in exposed.items():
                w.targets[kind] = max(w.targets.get(kind, 0), count)
                w.min_fresh[kind] = min(w.min_fresh.get(kind, count), fresh.get(kind, 0))


def start_process(argv: Sequence[str], url: str, *, timeout: float = 60.0,
                  log: Path | None = None) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server; return it and the seconds until ``url`` first answered 200."""
    started = time.monotonic()
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = started + timeout
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with {proc.returncode} during start-up"
                                   + (f": {log.read_text()[-2000:]}" if log else ""))
            try:
                if client.get(url).status_code == 200:
                    return proc, time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    stop(proc)
    raise RuntimeError(f"{argv[0]} did not answer {url} within {timeout}s")


def measure(proc: subprocess.Popen[bytes], scraper: Scraper, warmup: float,
            seconds: float) -> Window:
    """Warm up, then CPU and RSS of ``proc`` over ``seconds`` while ``scraper`` keeps going."""
    scraper.pid = proc.pid
    time.sleep(warmup)
    cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
    scraper.started_at = time.time()
    scraper.measuring.set()
    time.sleep(seconds)
    scraper.measuring.clear()
    window = scraper.window
    window.cpu_s = cpu_seconds(proc.pid) - cpu0
    window.seconds = time.monotonic() - t0
    mem = memory_mib(proc.pid)
    window.rss_mib = mem["VmRSS"]
    window.rss_max_mib = max([mem["VmRSS"], *scraper.rss])
    if proc.poll() is not None:
        raise RuntimeError(f"process {proc.pid} died during the window")
    return window


def upkeep_binary() -> str:
    script = Path(sys.executable).parent / "upkeep"
    return str(script) if script.exists() else (shutil.which("upkeep") or "upkeep")


def run_agent(config: dict[str, Any], tmp: Path, intervals: dict[str, float], warmup: float,
              seconds: float) -> Window:
    port = free_port()
    config = {"site": "bench", "listen": f"127.0.0.1:{port}", "data_dir": str(tmp / "data"),
              **config}
    path = tmp / "upkeep.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    url = f"http://127.0.0.1:{port}/metrics"
    proc, startup = start_process([upkeep_binary(), "--log-level", "warning", "run", "-c",
                                   str(path)], url, log=tmp / "agent.log")
    scraper = Scraper(url, time.monotonic() + warmup + seconds + 30, intervals)
    scraper.start()
    try:
        window = measure(proc, scraper, warmup, seconds)
    finally:
        scraper.done.set()
        scraper.join(15)
        stop(proc)
    window.startup_s = startup
    return window


# --- SNMP -----------------------------------------------------------------------------------

def community(i: int) -> str:
    return f"ups{i:04d}"


def snmp_sims(units: int) -> list[Any]:
    from tests.snmp_rig import SnmpSim, fixture_records

    count = max(1, min(MAX_SIMS, -(-units // UPS_PER_SIM)))
    sims = [SnmpSim({EATON_RECORD: fixture_records(EATON_RECORD)}) for _ in range(count)]
    for k, sim in enumerate(sims):
        sim.clone(EATON_RECORD, [community(i) for i in range(units) if i % count == k])
    try:
        for sim in sims:
            sim.start(timeout=60 + units * 0.2)
    except BaseException:
        for sim in sims:
            sim.close()
        raise
    return sims


def ups_config(sims: Sequence[Any], units: int, interval: float) -> list[dict[str, Any]]:
    timeout = min(10.0, interval * 0.8)
    return [{"name": f"ups{i:04d}", "snmp": {
        "host": "127.0.0.1", "port": sims[i % len(sims)].port, "community": community(i),
        "interval": f"{interval:g}s", "timeout": f"{timeout:g}s"}} for i in range(units)]


def exporter_config(units: int, timeout: float) -> str:
    """snmp_exporter 0.21 modules (community inside the module), walking what the agent reads."""
    from tests.snmp_rig import fixture_records

    walk_root = "1.3.6.1.4.1.534.1"
    metrics: list[str] = []
    for line in fixture_records(EATON_RECORD).splitlines():
        oid, kind = line.split("|")[0], line.split("|")[1].split(":")[0]
        if not oid.startswith(walk_root + "."):
            continue
        base, _, index = oid.rpartition(".")
        name = "x" + base[len(walk_root):].replace(".", "_")
        metrics += [f"  - name: {name}", f"    oid: {base}",
                    f"    type: {'DisplayString' if kind == '4' else 'gauge'}",
                    f"    help: XUPS-MIB {base}"]
        if index != "0":
            metrics += ["    indexes:", "    - labelname: index", "      type: gauge"]
    lines: list[str] = []
    for i in range(units):
        lines += [f"eaton_{i:04d}:", "  version: 2", "  auth:",
                  f"    community: {community(i)}", "  max_repetitions: 25", "  retries: 0",
                  f"  timeout: {timeout:g}s", "  walk:", f"  - {walk_root}", "  get:",
                  "  - 1.3.6.1.2.1.1.2.0", "  metrics:", *metrics]
    return "\n".join(lines) + "\n"


async def drive(requests: Sequence[tuple[str, dict[str, str]]], interval: float,
                seconds: float, ok: Callable[[httpx.Response], bool]) -> tuple[int, int]:
    """Fire every request once per ``interval``, spread evenly over it, for ``seconds``.

    Returns (answered ok, sent). Bounded: ceil(seconds / interval) rounds, each request's
    own timeout, and a hard deadline."""
    rounds = max(1, round(seconds / interval))
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    good = sent = 0
    async with httpx.AsyncClient(timeout=min(30.0, interval * 3), limits=limits) as client:
        async def one(delay: float, url: str, params: dict[str, str]) -> bool:
            await asyncio.sleep(delay)
            try:
                return ok(await client.get(url, params=params))
            except httpx.HTTPError:
                return False

        tasks = []
        for r in range(rounds):
            for j, (url, params) in enumerate(requests):
                delay = r * interval + j * interval / len(requests)
                tasks.append(asyncio.ensure_future(one(delay, url, params)))
        results = await asyncio.wait_for(asyncio.gather(*tasks),
                                         timeout=rounds * interval + 120)
        sent = len(results)
        good = sum(results)
    return good, sent


def run_anchor(argv: Sequence[str], ready_url: str, requests_for: Callable[[int],
               Sequence[tuple[str, dict[str, str]]]], interval: float, warmup: float,
               seconds: float, ok: Callable[[httpx.Response], bool], tmp: Path
               ) -> tuple[Window, int, int]:
    """Start an exporter, drive it at the agent's rate (warm-up first); CPU over the window."""
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in argv]
    proc, startup = start_process(argv, ready_url.replace("{port}", str(port)),
                                  log=tmp / f"{Path(argv[0]).name}.log")
    requests = requests_for(port)
    try:
        asyncio.run(drive(requests, interval, warmup, ok))
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        good, sent = asyncio.run(drive(requests, interval, seconds, ok))
        window = Window(cpu_s=cpu_seconds(proc.pid) - cpu0, seconds=time.monotonic() - t0,
                        startup_s=startup)
        mem = memory_mib(proc.pid)
        window.rss_mib = window.rss_max_mib = mem["VmRSS"]
        window.work = sent
    finally:
        stop(proc)
    return window, good, sent


def scenario_snmp(units: int, interval: float, warmup: float, seconds: float
                  ) -> dict[str, Any]:
    sims = snmp_sims(units)
    tmp = Path(tempfile.mkdtemp(prefix="bench-agent-snmp-"))
    try:
        sim_cpu0 = sum(cpu_seconds(s.proc.pid) for s in sims)
        agent = run_agent({"host": {"enabled": False}, "ups": ups_config(sims, units, interval)},
                          tmp, {"snmp": interval}, warmup, seconds)
        agent.work = units * agent.seconds / interval
        sim_cpu = sum(cpu_seconds(s.proc.pid) for s in sims) - sim_cpu0
        out: dict[str, Any] = {"units": units, "interval": interval, "agent": agent,
                               "sims": len(sims), "sim_cpu_pct_agent_phase":
                               100 * sim_cpu / (agent.seconds + warmup)}
        binary = shutil.which("prometheus-snmp-exporter")
        if binary:
            config = tmp / "snmp.yml"
            config.write_text(exporter_config(units, min(10.0, interval * 0.8)))

            def requests_for(port: int) -> list[tuple[str, dict[str, str]]]:
                return [(f"http://127.0.0.1:{port}/snmp",
                         {"target": f"127.0.0.1:{sims[i % len(sims)].port}",
                          "module": f"eaton_{i:04d}"}) for i in range(units)]

            anchor, good, sent = run_anchor(
                [binary, f"--config.file={config}", "--web.listen-address=127.0.0.1:{port}",
                 "--log.level=error"], "http://127.0.0.1:{port}/", requests_for, interval,
                min(warmup, 2 * interval), seconds,
                lambda r: r.status_code == 200 and "snmp_scrape_walk_duration_seconds" in r.text
                and "\nx" in r.text, tmp)
            out.update(anchor=anchor, anchor_ok=good, anchor_sent=sent)
        return out
    finally:
        for sim in sims:
            sim.close()
        shutil.rmtree(tmp, ignore_errors=True)


# --- websites -------------------------------------------------------------------------------

def serve(args: argparse.Namespace) -> int:
    """Server process: HTTPS (TLS 1.2-1.3) on HTTPS_PORTS ports of 127.0.0.1, one redirect."""
    from tests.web_rig import GOOD_HEADERS, Leaf, Route, WebRig

    leaf = Leaf(args.chain, args.key, "valid")
    with WebRig() as rig:
        https = [rig.https(leaf, {"*": Route(headers=GOOD_HEADERS, body=b"<html>site</html>")},
                           families=("ipv4",), tls=("TLSv1.2", "TLSv1.3"))
                 for _ in range(HTTPS_PORTS)]
        redirect = rig.http({"*": Route(to_https_port=https[0].port)}, families=("ipv4",))
        print(json.dumps({"https": [s.port for s in https], "http": redirect.port}), flush=True)
        sys.stdin.read()  # until the parent closes our stdin
    return 0


@dataclass
class WebServers:
    ca_file: str
    https: list[int]
    http: int
    proc: subprocess.Popen[str]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()


def web_servers(tmp: Path) -> WebServers:
    import trustme

    root = trustme.CA()
    leaf = root.issue_cert("127.0.0.1")
    ca_file, chain, key = tmp / "root.pem", tmp / "chain.pem", tmp / "key.pem"
    root.cert_pem.write_to_path(str(ca_file))
    chain.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    proc = subprocess.Popen([sys.executable, __file__, "--serve", "--chain", str(chain),
                             "--key", str(key)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=REPO)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("the HTTPS server process did not start")
    info = json.loads(line)
    return WebServers(str(ca_file), info["https"], info["http"], proc)


def site_url(servers: WebServers, i: int) -> str:
    return f"https://127.0.0.1:{servers.https[i % len(servers.https)]}/site{i:03d}"


def websites_config(servers: WebServers, sites: int, interval: float) -> list[dict[str, Any]]:
    timeout = min(15.0, interval * 0.8)
    return [{"name": f"site{i:03d}", "url": site_url(servers, i),
             "tls": {"ca_file": servers.ca_file}, "expect": {"http_port": servers.http},
             "interval": f"{interval:g}s", "timeout": f"{timeout:g}s"} for i in range(sites)]


def scenario_web(sites: int, interval: float, warmup: float, seconds: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-agent-web-"))
    servers = web_servers(tmp)
    try:
        agent = run_agent({"host": {"enabled": False},
                           "websites": websites_config(servers, sites, interval)},
                          tmp, {"web": interval}, warmup, seconds)
        agent.work = sites * agent.seconds / interval
        out: dict[str, Any] = {"sites": sites, "interval": interval, "agent": agent}
        binary = shutil.which("prometheus-blackbox-exporter")
        if binary:
            config = tmp / "blackbox.yml"
            config.write_text(json.dumps({"modules": {"https_2xx": {
                "prober": "http", "timeout": f"{min(15.0, interval * 0.8):g}s", "http": {
                    "preferred_ip_protocol": "ip4", "ip_protocol_fallback": False,
                    "fail_if_not_ssl": True,
                    "tls_config": {"ca_file": servers.ca_file, "min_version": "TLS12"}}}}}))

            def requests_for(port: int) -> list[tuple[str, dict[str, str]]]:
                return [(f"http://127.0.0.1:{port}/probe",
                         {"module": "https_2xx", "target": site_url(servers, i)})
                        for i in range(sites)]

            anchor, good, sent = run_anchor(
                [binary, f"--config.file={config}", "--web.listen-address=127.0.0.1:{port}"],
                "http://127.0.0.1:{port}/metrics", requests_for, interval,
                min(warmup, 2 * interval), seconds,
                lambda r: "probe_success 1" in r.text, tmp)
            out.update(anchor=anchor, anchor_ok=good, anchor_sent=sent)
        return out
    finally:
        servers.close()
        shutil.rmtree(tmp, ignore_errors=True)


# --- host, full site, the big one -----------------------------------------------------------

def scenario_host(warmup: float, seconds: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-agent-host-"))
    try:
        agent = run_agent({"host": {"interval": "15s", "timeout": "10s"}}, tmp,
                          {"host": 15.0}, warmup, seconds)
        agent.work = len(agent.latencies)
        out: dict[str, Any] = {"agent": agent}
        binary = shutil.which("prometheus-node-exporter")
        if binary:
            port = free_port()
            url = f"http://127.0.0.1:{port}/metrics"
            proc, startup = start_process([binary, f"--web.listen-address=127.0.0.1:{port}"],
                                          url, log=tmp / "node_exporter.log")
            scraper = Scraper(url, time.monotonic() + warmup + seconds + 30)
            scraper.start()
            try:
                anchor = measure(proc, scraper, min(warmup, 5.0), seconds)
            finally:
                scraper.done.set()
                scraper.join(15)
                stop(proc)
            anchor.startup_s = startup
            anchor.work = len(anchor.latencies)
            out["anchor"] = anchor
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def scenario_mixed(units: int, ups_interval: float, sites: int, web_interval: float,
                   warmup: float, seconds: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-agent-mixed-"))
    sims = snmp_sims(units)
    servers = web_servers(tmp)
    try:
        agent = run_agent({"host": {"interval": "15s", "timeout": "10s"},
                           "ups": ups_config(sims, units, ups_interval),
                           "websites": websites_config(servers, sites, web_interval)},
                          tmp, {"host": 15.0, "snmp": ups_interval, "web": web_interval},
                          warmup, seconds)
        agent.work = agent.seconds  # CPU ms per second of wall time
        return {"units": units, "sites": sites, "agent": agent}
    finally:
        servers.close()
        for sim in sims:
            sim.close()
        shutil.rmtree(tmp, ignore_errors=True)


# --- the import diet: what `upkeep run` loads per config ---------------------------------------

STARTUP_PATH = r"""
import asyncio, json, sys, time
t0 = time.perf_counter()
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
took = time.perf_counter() - t0
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:"))
print(json.dumps({"seconds": took, "rss_kib": rss, "modules": len(sys.modules),
                  "top": sorted({m.split(".")[0] for m in sys.modules})}))
"""
#: heavy libraries worth naming when a config loads them
HEAVY = ["pysnmp", "dns", "cryptography", "bcrypt", "httpx", "fpdf", "uharfbuzz", "openpyxl",
         "fontTools", "jinja2"]


def scenario_startup() -> dict[str, Any]:
    """``upkeep run``'s start-up path (parser, config, app, agent start and stop; no serving)
    in a fresh interpreter per config: RSS, modules, which heavy libraries came in."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-agent-startup-"))
    snmp = [{"name": "u1", "snmp": {"host": "127.0.0.1", "port": 1, "community": "public"}}]
    web = [{"name": "w1", "url": "https://127.0.0.1:1/"}]
    configs = {"host only (default)": {"host": {"interval": "15s", "timeout": "10s"}},
               "one SNMP UPS": {"host": {"enabled": False}, "ups": snmp},
               "one website": {"host": {"enabled": False}, "websites": web},
               "host + SNMP + website": {"host": {"interval": "15s"}, "ups": snmp,
                                         "websites": web}}
    rows: dict[str, dict[str, Any]] = {}
    try:
        for label, body in configs.items():
            path = tmp / "upkeep.yml"
            path.write_text(yaml.safe_dump({"listen": f"127.0.0.1:{free_port()}",
                                            "data_dir": str(tmp / "data"), **body}))
            result = subprocess.run([sys.executable, "-c", STARTUP_PATH, str(path)],
                                    capture_output=True, text=True, timeout=120, cwd=tmp)
            if result.returncode != 0:
                raise RuntimeError(f"start-up path failed for {label}: {result.stderr[-2000:]}")
            rows[label] = json.loads(result.stdout.splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"configs": rows}


def startup_report(res: dict[str, Any]) -> list[str]:
    rows = [[label, r["rss_kib"] / 1024, r["modules"], r["seconds"],
             ", ".join(h for h in HEAVY if h in r["top"]) or "-"]
            for label, r in res["configs"].items()]
    return ["#### `upkeep run` start-up path per config (fresh interpreter, no serving)", "",
            table(["config", "RSS MiB", "modules", "seconds", "heavy libraries loaded"], rows),
            ""]


# --- report ---------------------------------------------------------------------------------

def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def all_up(w: Window) -> bool:
    return bool(w.targets) and all(w.min_fresh.get(k, 0) >= n for k, n in w.targets.items())


def up_text(w: Window) -> str:
    return ", ".join(f"{k} {w.min_fresh.get(k, 0)}/{n}" for k, n in sorted(w.targets.items()))


def agent_rows(name: str, w: Window, per: str) -> list[list[object]]:
    return [[f"{name}: CPU ms per {per}", w.cpu_ms_per_work],
            [f"{name}: CPU % of one core", w.cpu_pct],
            [f"{name}: /metrics p50 / p99 ms", f"{w.p50_ms:.1f} / {w.p99_ms:.1f}"],
            [f"{name}: RSS MiB (end / max)", f"{w.rss_mib:.0f} / {w.rss_max_mib:.0f}"],
            [f"{name}: fewest up-and-fresh per scrape", up_text(w) or "-"],
            [f"{name}: successful polls seen / scheduled in the window (±1 per target at the edges)",
             f"{w.polls_ok} / {w.work:.0f}" if per in ("device-poll", "site-probe")
             else f"{w.polls_ok} / -"],
            [f"{name}: start-up s (to first /metrics 200)", w.startup_s]]


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [f"### Whole agent vs the exporters ({os.cpu_count()} CPUs; load average at the end "
             f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}; warm-up "
             f"{args.warmup:g} s, window {args.window:g} s{'; --quick' if args.quick else ''})",
             ""]
    goals: list[tuple[str, bool, str]] = []
    for key, res in results.items():
        if key == "startup":
            lines += startup_report(res)
            continue
        agent: Window = res["agent"]
        anchor: Window | None = res.get("anchor")
        rows: list[list[object]] = []
        if key.startswith("snmp"):
            title = f"SNMP: {res['units']} UPS every {res['interval']:g} s ({res['sims']} snmpsim)"
            rows += agent_rows("upkeep run", agent, "device-poll")
            rows.append(["snmpsim CPU % (agent phase)", res["sim_cpu_pct_agent_phase"]])
            if anchor:
                rows += [["snmp_exporter: CPU ms per device-scrape", anchor.cpu_ms_per_work],
                         ["snmp_exporter: scrapes ok / sent",
                          f"{res['anchor_ok']}/{res['anchor_sent']}"],
                         ["upkeep / snmp_exporter CPU per device",
                          ratio(agent.cpu_ms_per_work, anchor.cpu_ms_per_work)]]
                goals.append((f"{key}: CPU per device-poll ≤ 0.5× snmp_exporter's",
                              agent.cpu_ms_per_work <= 0.5 * anchor.cpu_ms_per_work,
                              ratio(agent.cpu_ms_per_work, anchor.cpu_ms_per_work)))
            goals.append((f"{key}: every UPS up every cycle", all_up(agent), up_text(agent)))
        elif key.startswith("web"):
            title = f"Websites: {res['sites']} HTTPS sites every {res['interval']:g} s"
            rows += agent_rows("upkeep run", agent, "site-probe")
            if anchor:
                rows += [["blackbox_exporter: CPU ms per https probe", anchor.cpu_ms_per_work],
                         ["blackbox_exporter: probes ok / sent",
                          f"{res['anchor_ok']}/{res['anchor_sent']}"],
                         ["upkeep / blackbox_exporter CPU per probe",
                          ratio(agent.cpu_ms_per_work, anchor.cpu_ms_per_work)]]
                goals.append((f"{key}: CPU per site-probe ≤ 1× blackbox_exporter's",
                              agent.cpu_ms_per_work <= anchor.cpu_ms_per_work,
                              ratio(agent.cpu_ms_per_work, anchor.cpu_ms_per_work)))
            goals.append((f"{key}: p99 /metrics ≤ 20 ms", agent.p99_ms <= 20,
                          f"{agent.p99_ms:.1f} ms"))
            goals.append((f"{key}: every site up every cycle", all_up(agent), up_text(agent)))
        elif key == "host":
            title = "Host only (15 s interval), both scraped once a second"
            rows += agent_rows("upkeep run", agent, "scrape")
            if anchor:
                rows += [["node_exporter: CPU ms per scrape", anchor.cpu_ms_per_work],
                         ["node_exporter: RSS MiB", anchor.rss_mib],
                         ["node_exporter: /metrics p99 ms", anchor.p99_ms],
                         ["node_exporter: start-up s", anchor.startup_s],
                         ["upkeep / node_exporter CPU per scrape",
                          ratio(agent.cpu_ms_per_work, anchor.cpu_ms_per_work)]]
                goals.append(("host: CPU per scrape ≤ 0.1× node_exporter's",
                              agent.cpu_ms_per_work <= 0.1 * anchor.cpu_ms_per_work,
                              ratio(agent.cpu_ms_per_work, anchor.cpu_ms_per_work)))
            goals.append(("host: RSS ≤ 48 MiB", agent.rss_max_mib <= 48,
                          f"{agent.rss_max_mib:.0f} MiB"))
            goals.append(("host: start-up ≤ 1 s", agent.startup_s <= 1,
                          f"{agent.startup_s:.2f} s"))
        else:
            title = (f"{'Full site' if key == 'site' else 'The big one'}: host + "
                     f"{res['units']} UPS + {res['sites']} websites")
            rows += agent_rows("upkeep run", agent, "second")
            if key == "site":
                goals.append(("site: RSS ≤ 64 MiB", agent.rss_max_mib <= 64,
                              f"{agent.rss_max_mib:.0f} MiB"))
            else:
                goals += [("big: every target up every cycle", all_up(agent), up_text(agent)),
                          ("big: p99 /metrics ≤ 20 ms while polling", agent.p99_ms <= 20,
                           f"{agent.p99_ms:.1f} ms"),
                          ("big: agent CPU ≤ 25 % of one core", agent.cpu_pct <= 25,
                           f"{agent.cpu_pct:.1f} %")]
        lines += [f"#### {title}", "", table(["measure", "value"], rows), ""]
    snmp = sorted((k for k in results if k.startswith("snmp")),
                  key=lambda k: results[k]["units"])
    if len(snmp) >= 2:
        low, high = results[snmp[0]]["agent"], results[snmp[-1]]["agent"]
        goals.append((f"{snmp[-1]}: CPU per poll ≤ 1.2× that at {snmp[0]}",
                      high.cpu_ms_per_work <= 1.2 * low.cpu_ms_per_work,
                      ratio(high.cpu_ms_per_work, low.cpu_ms_per_work)))
    if not goals:
        return "\n".join(lines)
    lines += ["| goal (issue 17) | met |", "|---|---|"]
    lines += [f"| {goal} ({measured}) | {'yes' if met else 'NO'} |" for goal, met, measured in goals]
    lines += [""] + [f"- {goal}: {verdict(met)} ({measured})" for goal, met, measured in goals]
    return "\n".join(lines)


SCENARIOS = ["startup", "snmp40", "snmp400", "web100", "host", "site", "big"]


def compile_bytecode() -> None:
    """Byte-compile upkeep's own modules, as pip does when it installs the wheel.

    Run from a source checkout where PYTHONDONTWRITEBYTECODE is set (CI images, the build
    machine), every start of ``upkeep run`` compiled all of upkeep's modules again: ~0.25 s
    of start-up and some resident memory that an installed agent never pays."""
    import compileall

    for package in ("upkeep", "agents", "collectors", "policies"):
        compileall.compile_dir(str(REPO / package), quiet=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small N (snmp 10/40, web 20, site and big scaled down), 10 s "
                             "warm-up, 20 s windows: proves the harness, not the numbers")
    parser.add_argument("--only", default="", help=f"comma-separated: {','.join(SCENARIOS)}")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds before the window (default 30; two web intervals for web)")
    parser.add_argument("--window", type=float, default=None, help="steady window, s (120)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--chain", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    compile_bytecode()
    args.window = args.window or (20.0 if args.quick else 120.0)
    args.warmup = args.warmup if args.warmup is not None else (10.0 if args.quick else 30.0)
    only = [s.strip() for s in args.only.split(",") if s.strip()] or SCENARIOS
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    q = args.quick
    w, warm = args.window, args.warmup
    results: dict[str, dict[str, Any]] = {}
    for name in only:
        print(f"== {name} ...", file=sys.stderr, flush=True)
        try:
            if name == "startup":
                results[name] = scenario_startup()
            elif name == "snmp40":
                results[name] = scenario_snmp(10 if q else 40, 5.0, warm, w)
            elif name == "snmp400":
                results[name] = scenario_snmp(40 if q else 400, 5.0, warm, w)
            elif name == "web100":
                # steady state: after two full probe cycles
                results[name] = scenario_web(20 if q else 100, 10.0, max(warm, 20.0), w)
            elif name == "host":
                results[name] = scenario_host(min(warm, 5.0) if q else warm, w)
            elif name == "site":
                results[name] = scenario_mixed(17 if q else 68, 15.0, 9 if q else 34, 60.0,
                                               max(warm, 20.0 if q else 90.0), w)
            elif name == "big":
                results[name] = scenario_mixed(50 if q else 500, 15.0, 20 if q else 200, 60.0,
                                               max(warm, 30.0 if q else 130.0),
                                               max(w, 30.0 if q else 120.0))
        except RuntimeError as err:
            print(f"{name} failed: {err}", file=sys.stderr)
    print(report(results, args))
    return 0 if len(results) == len(only) else 1


if __name__ == "__main__":
    sys.exit(main())
