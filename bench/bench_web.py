"""Website probes: upkeep's full check set vs Debian's prometheus-blackbox-exporter, one run.

Setup (all loopback): 200 HTTPS sites ``siteNNN.bench.test``, each dual-stack (A 127.0.0.1,
AAAA ::1, served by dnsmasq). They are SNI names on a few servers rather than 200 listeners:
``SERVERS`` server processes x ``PORTS`` dual-stack ports, one wildcard certificate
``*.bench.test`` from a test CA, so server start-up stays small and the servers' own CPU
(two Python processes, one per core) does not starve either client. Site i is served on port
``i % (SERVERS*PORTS)``; every server process also runs an http->https redirect listener.

Both clients probe the same 200 sites concurrently, in the same cycles:

- upkeep (a worker subprocess running ``WebCollector.probe`` for all sites at once): the full
  set per site = DNS A+AAAA, both addresses (verified TLS, HTTP GET, headers), the TLS 1.0-1.3
  matrix (4 handshakes), the http->https redirect check, v4/v6 parity.
- blackbox_exporter with a basic https module (``prober: http``, the test CA, ip4 only):
  one ``/probe?target=https://IP:PORT/&hostname=siteNNN.bench.test`` per site (odd sites over
  [::1]), fired concurrently by a driver subprocess.

CPU is the measured process's utime+stime (/proc/PID/stat for blackbox_exporter; getrusage
inside the upkeep worker), over the measured cycles (a warm-up cycle first). Prints markdown.

    python bench/bench_web.py [--quick] [--sites 200] [--cycles 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from common import cpu_seconds, free_port, ratio, start, stop, table  # noqa: E402

SERVERS = 2
PORTS = 4


def name(i: int) -> str:
    return f"site{i:03d}.bench.test"


# --- server process ------------------------------------------------------------------------

def serve(args: argparse.Namespace) -> int:
    from tests.web_rig import GOOD_HEADERS, Leaf, Route, WebRig

    leaf = Leaf(args.chain, args.key, "valid")
    with WebRig() as rig:
        https = [rig.https(leaf, {"*": Route(headers=GOOD_HEADERS, body=b"<html>site</html>")})
                 for _ in range(PORTS)]
        redirect = rig.http({"*": Route(to_https_port=https[0].port)})
        print(json.dumps({"https": [s.port for s in https], "http": redirect.port}), flush=True)
        sys.stdin.read()  # until the parent closes our stdin
    return 0


# --- upkeep worker ---------------------------------------------------------------------------

def upkeep_worker(args: argparse.Namespace) -> int:
    from upkeep.collectors.web import WebCollector
    from upkeep.config.websites import ResolverConfig, WebsiteConfig

    plan = json.loads(Path(args.plan).read_text())
    sites = [WebsiteConfig(name=s["name"], url=s["url"], tls={"ca_file": plan["ca_file"]},
                           expect={"http_port": s["http_port"], **plan["expect"]},
                           interval="60s", timeout="20s")
             for s in plan["sites"]]
    collector = WebCollector(sites, ResolverConfig(**plan["resolver"]))

    async def cycle() -> dict[str, Any]:
        usage0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        readings = await asyncio.gather(*(collector.probe(s, s.timeout) for s in sites))
        wall = time.monotonic() - t0
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
        reasons: dict[str, int] = {}
        for r in readings:
            if not r.ok:
                reasons[r.reason] = reasons.get(r.reason, 0) + 1
        return {"wall": wall, "cpu": cpu, "ok": sum(r.ok for r in readings),
                "reasons": reasons}

    async def main() -> list[dict[str, Any]]:
        out = []
        for _ in range(plan["cycles"] + 1):
            await _barrier(plan["barrier"], len(out))
            out.append(await cycle())
        return out

    profile = os.environ.get("BENCH_WEB_PROFILE")
    if profile:  # developer aid: BENCH_WEB_PROFILE=/tmp/web.pstats
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        result = profiler.runcall(asyncio.run, main())
        profiler.dump_stats(profile)
    else:
        result = asyncio.run(main())
    print(json.dumps(result[1:]), flush=True)
    return 0


async def _barrier(directory: str, index: int) -> None:
    """Both clients start each cycle together: the parent creates cycle-N files."""
    path = Path(directory) / f"cycle-{index}"
    while not path.exists():
        await asyncio.sleep(0.02)


# --- blackbox driver ------------------------------------------------------------------------

def blackbox_driver(args: argparse.Namespace) -> int:
    import httpx

    plan = json.loads(Path(args.plan).read_text())

    async def main() -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            out = []
            for index in range(plan["cycles"] + 1):
                await _barrier(plan["barrier"], index)
                cpu0, t0 = cpu_seconds(plan["pid"]), time.monotonic()
                responses = await asyncio.gather(*(
                    client.get(plan["url"], params={"module": t["module"], "target": t["url"],
                                                    "hostname": t["name"]})
                    for t in plan["targets"]))
                wall = time.monotonic() - t0
                ok = sum("probe_success 1" in r.text for r in responses)
                out.append({"wall": wall, "cpu": cpu_seconds(plan["pid"]) - cpu0, "ok": ok})
            return out[1:]

    print(json.dumps(asyncio.run(main())), flush=True)
    return 0


# --- orchestration --------------------------------------------------------------------------

def _pki(tmp: Path) -> tuple[str, str, str]:
    import trustme

    root = trustme.CA()
    leaf = root.create_child_ca().issue_cert("*.bench.test")
    ca_file, chain, key = tmp / "root.pem", tmp / "chain.pem", tmp / "key.pem"
    root.cert_pem.write_to_path(str(ca_file))
    chain.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    return str(ca_file), str(chain), str(key)


def run(args: argparse.Namespace) -> int:
    blackbox = shutil.which("prometheus-blackbox-exporter")
    if blackbox is None:
        print("prometheus-blackbox-exporter is not installed", file=sys.stderr)
        return 2
    from tests.web_rig import Dnsmasq

    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    ca_file, chain, key = _pki(tmp)
    servers: list[subprocess.Popen[str]] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ports: list[int] = []
        http_ports: list[int] = []
        for _ in range(SERVERS):
            proc = subprocess.Popen([sys.executable, __file__, "--serve", "--chain", chain,
                                     "--key", key], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, cwd=REPO)
            servers.append(proc)
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            ports += info["https"]
            http_ports += [info["http"]] * len(info["https"])
        records = {name(i): ["127.0.0.1", "::1"] for i in range(args.sites)}
        with Dnsmasq(tmp / "dns", records) as dns:
            bb_port = free_port()
            (tmp / "blackbox.yml").write_text(json.dumps({"modules": {
                f"https_basic_{ip}": {"prober": "http", "timeout": "20s", "http": {
                    "preferred_ip_protocol": ip, "ip_protocol_fallback": False,
                    "tls_config": {"ca_file": ca_file}}} for ip in ("ip4", "ip6")}}))
            bb, _ = start([blackbox, f"--config.file={tmp / 'blackbox.yml'}",
                           f"--web.listen-address=127.0.0.1:{bb_port}"],
                          f"http://127.0.0.1:{bb_port}/metrics")
            procs.append(bb)
            barrier = tmp / "barrier"
            barrier.mkdir()
            sites = [{"name": name(i), "url": f"https://{name(i)}:{ports[i % len(ports)]}/",
                      "http_port": http_ports[i % len(ports)]} for i in range(args.sites)]
            upkeep_plan = {"sites": sites, "ca_file": ca_file, "cycles": args.cycles,
                           "expect": json.loads(args.expect),
                           "resolver": dns.resolver("5s"), "barrier": str(barrier)}
            targets = [{"name": name(i), "url": (f"https://127.0.0.1:{ports[i % len(ports)]}/"
                                                 if i % 2 == 0 else
                                                 f"https://[::1]:{ports[i % len(ports)]}/"),
                        "module": "https_basic_ip4" if i % 2 == 0 else "https_basic_ip6"}
                       for i in range(args.sites)]
            bb_plan = {"targets": targets, "url": f"http://127.0.0.1:{bb_port}/probe",
                       "pid": bb.pid, "cycles": args.cycles, "barrier": str(barrier)}
            (tmp / "upkeep.json").write_text(json.dumps(upkeep_plan))
            (tmp / "blackbox.json").write_text(json.dumps(bb_plan))
            ours = subprocess.Popen([sys.executable, __file__, "--upkeep-worker", "--plan",
                                     str(tmp / "upkeep.json")], stdout=subprocess.PIPE,
                                    text=True, cwd=REPO)
            theirs = subprocess.Popen([sys.executable, __file__, "--blackbox-driver", "--plan",
                                       str(tmp / "blackbox.json")], stdout=subprocess.PIPE,
                                      text=True, cwd=REPO)
            time.sleep(2.0)  # both imported and waiting at the barrier
            for index in range(args.cycles + 1):
                (barrier / f"cycle-{index}").touch()
                if index < args.cycles:
                    time.sleep(args.gap)
            out_ours, _ = ours.communicate(timeout=600)
            out_theirs, _ = theirs.communicate(timeout=600)
        print(report(json.loads(out_ours), json.loads(out_theirs), args))
        return 0
    finally:
        for proc in procs:
            stop(proc)
        for server in servers:
            if server.stdin:
                server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
            if server.stdout:
                server.stdout.close()
        shutil.rmtree(tmp, ignore_errors=True)


def report(ours: list[dict[str, Any]], theirs: list[dict[str, Any]],
           args: argparse.Namespace) -> str:
    def mean(rows: list[dict[str, Any]], key: str) -> float:
        return sum(r[key] for r in rows) / len(rows)

    n = args.sites
    o_wall, o_cpu, o_ok = mean(ours, "wall"), mean(ours, "cpu"), mean(ours, "ok")
    b_wall, b_cpu, b_ok = mean(theirs, "wall"), mean(theirs, "cpu"), mean(theirs, "ok")
    reasons: dict[str, int] = {}
    for row in ours:
        for key, value in row["reasons"].items():
            reasons[key] = reasons.get(key, 0) + value
    # per site: 2 verified TLS (v4, v6) + 3 matrix handshakes (1.0 and 1.1 refused, 1.2;
    # 1.3 is known from the negotiated version) + 1 plain-HTTP redirect check; DNS A + AAAA
    ours_conns, theirs_conns = 6, 1
    rows = [
        ["upkeep (full set: DNS A+AAAA, both addresses, TLS 1.0-1.3 matrix, redirect, "
         "headers, parity)", n, ours_conns, o_wall, o_cpu, 1000 * o_cpu / n,
         1000 * o_cpu / n / ours_conns, o_ok],
        ["blackbox_exporter (basic https module, one address)", n, theirs_conns, b_wall, b_cpu,
         1000 * b_cpu / n, 1000 * b_cpu / n / theirs_conns, b_ok],
    ]
    lines = [
        f"## Website probes: {n} local HTTPS sites, {args.cycles} measured cycle(s), "
        f"both clients concurrently",
        "",
        table(["client", "sites", "connections / site", "wall / cycle (s)",
               "CPU / cycle (s)", "CPU / site (ms)", "CPU / connection (ms)", "sites ok"], rows),
        "",
        table(["ratio (upkeep / blackbox_exporter)", "value"], [
            ["CPU per site", ratio(o_cpu, b_cpu)],
            ["CPU per connection", ratio(o_cpu / ours_conns, b_cpu / theirs_conns)],
            ["wall per cycle", ratio(o_wall, b_wall)],
        ]),
        "",
        f"Goal: full set for {n} sites within a 60 s interval: "
        f"{'met' if o_wall < 60 else 'NOT met'} ({o_wall:.1f} s). "
        f"CPU per site no more than blackbox_exporter's basic probe: "
        f"{'met' if o_cpu <= b_cpu else 'NOT met'} ({ratio(o_cpu, b_cpu)}).",
    ]
    if reasons:
        lines.append(f"upkeep failures by reason (all cycles): {reasons}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 sites, one measured cycle")
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--gap", type=float, default=0.0,
                        help="seconds between cycle starts beyond the cycle itself")
    parser.add_argument("--expect", default="{}",
                        help='JSON merged into every site\'s expect (e.g. {"tls_versions": false})')
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--upkeep-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--blackbox-driver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--chain", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args)
    if args.upkeep_worker:
        return upkeep_worker(args)
    if args.blackbox_driver:
        return blackbox_driver(args)
    if args.quick:
        args.sites, args.cycles = min(args.sites, 40), 1
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
