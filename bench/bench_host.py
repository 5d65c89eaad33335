"""Host agent vs Debian's prometheus-node-exporter, side by side in one run.

Measures, for each: start-up to first 200, RSS / PSS / threads after settling, idle CPU over a
window without scrapes, CPU per scrape and client latency p50/p99 over N keep-alive scrapes with
Prometheus's real headers (OpenMetrics + gzip), samples and body sizes. Prints markdown.

    python bench/bench_host.py [--quick] [--scrapes 1000] [--idle 60]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    PROMETHEUS_HEADERS,
    cpu_seconds,
    free_port,
    memory_mib,
    percentile,
    ratio,
    start,
    stop,
    table,
)


def measure(name: str, argv: list[str], url: str, scrapes: int, idle: float) -> dict[str, float]:
    proc, startup = start(argv, url)
    try:
        time.sleep(2.0)  # first poll, first render
        mem_start = memory_mib(proc.pid)
        cpu0 = cpu_seconds(proc.pid)
        time.sleep(idle)
        idle_cpu = (cpu_seconds(proc.pid) - cpu0) / idle
        latencies = []
        with httpx.Client(headers=PROMETHEUS_HEADERS, timeout=10) as client:
            client.get(url)
            cpu1 = cpu_seconds(proc.pid)
            t_begin = time.monotonic()
            for _ in range(scrapes):
                t = time.perf_counter()
                response = client.get(url)
                latencies.append(time.perf_counter() - t)
                response.raise_for_status()
            wall = time.monotonic() - t_begin
            cpu_scrapes = cpu_seconds(proc.pid) - cpu1
            plain = client.get(url, headers={"Accept": "text/plain", "Accept-Encoding": "identity"})
            with client.stream("GET", url, headers={"Accept": "text/plain",
                                                    "Accept-Encoding": "gzip"}) as gz:
                gz.read()
                gzip_bytes = gz.num_bytes_downloaded
        # CPU spent by background work during the scrape window is not the scrape's
        per_scrape = max(0.0, cpu_scrapes - idle_cpu * wall) / scrapes
        samples = sum(1 for line in plain.text.splitlines() if line and not line.startswith("#"))
        mem_end = memory_mib(proc.pid)
        return {
            "startup_s": startup, "rss_start": mem_start["VmRSS"], "rss_end": mem_end["VmRSS"],
            "pss": mem_end.get("Pss", float("nan")), "threads": mem_end["Threads"],
            "fds": mem_end["fds"], "idle_cpu_pct": idle_cpu * 100,
            "cpu_ms_per_scrape": per_scrape * 1000, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "samples": samples,
            "body_bytes": len(plain.content),
            "gzip_bytes": gzip_bytes,
            "est_cpu_pct_15s": idle_cpu * 100 + per_scrape / 15 * 100,
        }
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 scrapes, 10 s idle window")
    parser.add_argument("--scrapes", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=60.0, help="idle window, seconds")
    args = parser.parse_args()
    scrapes, idle = (200, 10.0) if args.quick else (args.scrapes, args.idle)

    node_exporter = shutil.which("prometheus-node-exporter")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = Path(tmp) / "upkeep.yml"
        config.write_text(f"site: bench\nlisten: 127.0.0.1:{port}\ndata_dir: {tmp}/data\n"
                          "host: {interval: 15s, timeout: 10s}\n", encoding="utf-8")
        results["upkeep"] = measure("upkeep", [sys.executable, "-m", "upkeep.agents.cli",
                                               "--log-level", "warning", "run", "-c", str(config)],
                                    f"http://127.0.0.1:{port}/metrics", scrapes, idle)
    if node_exporter:
        port = free_port()
        results["node_exporter"] = measure(
            "node_exporter", [node_exporter, f"--web.listen-address=127.0.0.1:{port}"],
            f"http://127.0.0.1:{port}/metrics", scrapes, idle)

    keys = [("startup_s", "start-up s"), ("rss_end", "RSS MiB"), ("pss", "PSS MiB"),
            ("threads", "threads"), ("fds", "fds"), ("idle_cpu_pct", "idle CPU %"),
            ("cpu_ms_per_scrape", "CPU ms/scrape"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
            ("samples", "samples"), ("body_bytes", "body bytes"), ("gzip_bytes", "gzip bytes"),
            ("est_cpu_pct_15s", "est. CPU % @15 s")]
    names = list(results)
    rows = []
    for key, label in keys:
        row: list[object] = [label] + [results[n][key] for n in names]
        if "node_exporter" in results:
            row.append(ratio(results["upkeep"][key], results["node_exporter"][key]))
        rows.append(row)
    header = ["measure", *names] + (["upkeep / node_exporter"] if "node_exporter" in results else [])
    print(f"### Host agent vs node_exporter ({scrapes} scrapes, {idle:g} s idle window)\n")
    print(table(header, rows))
    up = results["upkeep"]
    goals = [
        ("steady RSS ≤ 64 MiB", up["rss_end"] <= 64),
        ("CPU per scrape ≤ 0.25× node_exporter's",
         "node_exporter" in results
         and up["cpu_ms_per_scrape"] <= 0.25 * results["node_exporter"]["cpu_ms_per_scrape"]),
        ("p99 scrape latency ≤ 20 ms", up["p99_ms"] <= 20),
        ("idle CPU ≤ 0.5 % of one core", up["idle_cpu_pct"] <= 0.5),
        ("start-up ≤ 2 s", up["startup_s"] <= 2),
    ]
    print("\n| goal (issue 2) | met |\n|---|---|")
    for goal, met in goals:
        print(f"| {goal} | {'yes' if met else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
