"""The central tier measured: Debian's Prometheus and vmagent -> VictoriaMetrics at 80-800+ sites.

    python bench/bench_central.py                  # 80, 200, 800 sites, then 1600, 3200 (limits)
    python bench/bench_central.py --quick          # 80 sites, short windows (run_all --quick)
    python bench/bench_central.py --sizes 800 --push 1600,3200,6400

For each size: ``tests/e2e/site_sim.py`` (one process, one loopback port per simulated site,
each answering a real agent's captured scrape with moving values; a few UPS on battery, a few
certificates near expiry) -> the real ``upkeep sd`` -> file_sd JSON, then, side by side:

- **pull**: ``/usr/bin/prometheus`` (Debian 2.42) scraping every site through that file_sd with
  the shipped ``alerts/*.rules.yml`` loaded, TSDB in a temp dir;
- **push (NAT path)**: ``/usr/bin/vmagent`` scraping the same file_sd and remote-writing into
  ``/usr/bin/victoria-metrics`` single-node (Debian 1.79).

After a warm-up (every target scraped, series created), a measured window: ingest rate (delta
of ``prometheus_tsdb_head_samples_appended_total`` / ``vm_rows_inserted_total``), head series,
CPU (utime+stime from /proc over the window, in cores), RSS (VmRSS, VmHWM), rule-evaluation
time (``prometheus_rule_group_last_duration_seconds``, sum over groups and the slowest group),
scrape duration p99 over every scrape of the window, and disk per site per day (method in the
printed notes). ``uptime``'s load is recorded with every row: the machine is shared.

Then the push to find what breaks first: Prometheus alone at each ``--push`` size, stopping at
the first size where a limit is crossed (a target down, a rule group missing iterations or
taking longer than the evaluation interval, scrape intervals late by > 50 %, RSS above 20 GiB).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support import free_port, parse_metrics  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
VMAGENT = "/usr/bin/vmagent"
VICTORIA = "/usr/bin/victoria-metrics"
CLK_TCK = os.sysconf("SC_CLK_TCK")
RSS_LIMIT = 20 * 2**30


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss(pid: int) -> tuple[int, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError, ValueError, KeyError):
            if predicate():
                return
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


@contextlib.contextmanager
def process(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextlib.contextmanager
def simulator(sites: int, tmp: Path) -> Iterator[subprocess.Popen[bytes]]:
    """site_sim.py in its own process (its CPU is not the central's), plus `upkeep sd`."""
    inventory = tmp / "fleet.yml"
    argv = [sys.executable, str(REPO / "tests" / "e2e" / "site_sim.py"), "--sites", str(sites),
            "--regions", str(max(1, sites // 50)), "--inventory", str(inventory),
            "--on-battery", str(max(1, sites // 200)), "--cert-expiring", str(max(1, sites // 100))]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("ready"):
            raise RuntimeError(f"site simulator failed: {line}{proc.stdout.read(4000)!r}")
        upkeep = shutil.which("upkeep", path=str(Path(sys.executable).parent)) or "upkeep"
        subprocess.run([upkeep, "sd", "--inventory", str(inventory), "-o",
                        str(tmp / "sd" / "upkeep.json")], check=True, timeout=120,
                       capture_output=True)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def metrics(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return parse_metrics(httpx.get(f"{url}/metrics", timeout=30).text)


def total(series: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return sum(v for (n, lab), v in series.items()
               if n == name and all(dict(lab).get(k) == w for k, w in labels.items()))


def query(url: str, expr: str) -> float:
    r = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=60)
    if r.status_code != 200:
        raise RuntimeError(f"{expr}: HTTP {r.status_code}: {r.text[:300]}")
    result = r.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else float("nan")


def prometheus_config(tmp: Path, interval: int, rules: bool) -> Path:
    import yaml

    config = {
        "global": {"scrape_interval": f"{interval}s", "scrape_timeout": f"{min(10, interval)}s",
                   "evaluation_interval": f"{interval}s"},
        "rule_files": [str(p) for p in sorted((REPO / "alerts").glob("*.rules.yml"))]
        if rules else [],
        "scrape_configs": [{"job_name": "upkeep", "sample_limit": 3000,
                            "file_sd_configs": [{"files": [str(tmp / "sd" / "upkeep.json")]}]}],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def measure_window(pids: dict[str, int], window: float) -> tuple[dict[str, float], float]:
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    time.sleep(window)
    took = time.monotonic() - started
    return {name: (cpu_seconds(pid) - before[name]) / took for name, pid in pids.items()}, took


def run_prometheus(sites: int, tmp: Path, interval: int, warm: float, window: float
                   ) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp / "prom-data"
    argv = [PROMETHEUS, f"--config.file={prometheus_config(tmp, interval, True)}",
            f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-admin-api"]
    with process(argv, tmp / "prometheus.log") as proc:
        wait_until(lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200, 60,
                   "prometheus ready")
        time.sleep(warm)
        up_before = query(url, 'sum(up{job="upkeep"})')
        m0 = metrics(url)
        wal0 = dir_bytes(data / "wal")
        cpu, took = measure_window({"prometheus": proc.pid}, window)
        m1 = metrics(url)
        wal1 = dir_bytes(data / "wal")
        samples = (total(m1, "prometheus_tsdb_head_samples_appended_total")
                   - total(m0, "prometheus_tsdb_head_samples_appended_total"))
        rule_durations = {dict(lab).get("rule_group", "?").rsplit(";", 1)[-1]: v
                          for (n, lab), v in m1.items()
                          if n == "prometheus_rule_group_last_duration_seconds"}
        missed = (total(m1, "prometheus_rule_group_iterations_missed_total")
                  - total(m0, "prometheus_rule_group_iterations_missed_total"))
        w = int(took)
        p99 = query(url, f'quantile(0.99, quantile_over_time(0.99, '
                         f'scrape_duration_seconds{{job="upkeep"}}[{w}s]))')
        late = total(m1, "prometheus_target_interval_length_seconds",
                     interval=f"{interval}s", quantile="0.99")
        up = query(url, 'sum(up{job="upkeep"})')
        current, hwm = rss(proc.pid)
        # a block from the head (admin API snapshot): the compressed bytes of this run's data
        snap = httpx.post(f"{url}/api/v1/admin/tsdb/snapshot", timeout=300)
        snap.raise_for_status()
        snap_dir = data / "snapshots" / snap.json()["data"]["name"]
        chunk_bytes = sum(p.stat().st_size for p in snap_dir.rglob("chunks/*"))
        index_bytes = sum(p.stat().st_size for p in snap_dir.rglob("index"))
        appended = total(m1, "prometheus_tsdb_head_samples_appended_total")
    return {
        "engine": "prometheus", "sites": sites, "load": load(), "window_s": took,
        "up": up, "up_before": up_before,
        "samples_per_s": samples / took, "head_series": total(m1, "prometheus_tsdb_head_series"),
        "cpu_cores": cpu["prometheus"], "rss": current, "hwm": hwm,
        "rule_eval_sum_s": sum(rule_durations.values()),
        "rule_eval_max": max(rule_durations.items(), key=lambda kv: kv[1], default=("-", 0.0)),
        "rule_missed": missed, "scrape_p99_s": p99, "interval_p99_s": late,
        "wal_bytes_per_s": (wal1 - wal0) / took,
        "chunk_bytes_per_sample": chunk_bytes / appended if appended else float("nan"),
        "index_bytes": index_bytes,
    }


def run_vm(sites: int, tmp: Path, interval: int, warm: float, window: float) -> dict[str, Any]:
    import yaml

    vm_port, agent_port = free_port(), free_port()
    vm_url = f"http://127.0.0.1:{vm_port}"
    scrape = tmp / "vmagent-scrape.yml"
    scrape.write_text(yaml.safe_dump({
        "global": {"scrape_interval": f"{interval}s", "scrape_timeout": f"{min(10, interval)}s"},
        "scrape_configs": [{"job_name": "upkeep", "sample_limit": 3000,
                            "file_sd_configs": [{"files": [str(tmp / "sd" / "upkeep.json")]}]}]}))
    data = tmp / "vm-data"
    vm_argv = [VICTORIA, f"-storageDataPath={data}", f"-httpListenAddr=127.0.0.1:{vm_port}",
               "-retentionPeriod=1d", "-search.latencyOffset=0s",
               # 1.79 refuses a query touching > 300,000 series by default (HTTP 422):
               # 800 sites are ~480,000, so count({job="upkeep"}) needs this
               "-search.maxUniqueTimeseries=5000000"]
    agent_argv = [VMAGENT, f"-promscrape.config={scrape}",
                  f"-remoteWrite.url={vm_url}/api/v1/write",
                  f"-remoteWrite.tmpDataPath={tmp / 'vmagent-buffer'}",
                  f"-httpListenAddr=127.0.0.1:{agent_port}"]
    with process(vm_argv, tmp / "vm.log") as vm, \
            process(agent_argv, tmp / "vmagent.log") as agent:
        wait_until(lambda: httpx.get(f"{vm_url}/health", timeout=2).status_code == 200, 60,
                   "victoria-metrics ready")
        time.sleep(warm)
        m0 = metrics(vm_url)
        cpu, took = measure_window({"vm": vm.pid, "vmagent": agent.pid}, window)
        m1 = metrics(vm_url)
        a1 = metrics(f"http://127.0.0.1:{agent_port}")
        rows = total(m1, "vm_rows_inserted_total") - total(m0, "vm_rows_inserted_total")
        httpx.get(f"{vm_url}/internal/force_flush", timeout=60)
        time.sleep(2)
        series = query(vm_url, 'count({job="upkeep"})')
        up = query(vm_url, 'sum(up{job="upkeep"})')
        vm_rss, vm_hwm = rss(vm.pid)
        agent_rss, agent_hwm = rss(agent.pid)
        stored = total(metrics(vm_url), "vm_rows", type="storage/small") + total(
            metrics(vm_url), "vm_rows", type="storage/big")
        disk = dir_bytes(data)
        p99 = query(vm_url, f'quantile(0.99, quantile_over_time(0.99, '
                            f'scrape_duration_seconds{{job="upkeep"}}[{int(took)}s]))')
        dropped = total(a1, "vmagent_remotewrite_packets_dropped_total")
    return {
        "engine": "vmagent -> victoria-metrics", "sites": sites, "load": load(),
        "window_s": took, "up": up, "samples_per_s": rows / took, "head_series": series,
        "cpu_cores": cpu["vm"], "agent_cpu_cores": cpu["vmagent"], "rss": vm_rss, "hwm": vm_hwm,
        "agent_rss": agent_rss, "agent_hwm": agent_hwm, "scrape_p99_s": p99,
        "disk_bytes": disk, "stored_rows": stored,
        "disk_bytes_per_sample": disk / stored if stored else float("nan"),
        "dropped": dropped,
    }


def backfill_text(sites: int, hours: float, interval: int, *, openmetrics: bool
                  ) -> Iterator[str]:
    """``hours`` of ``sites`` simulated sites as Prometheus would have stored them (the agent's
    samples with the target labels, plus Prometheus' 5 per-target series), one scrape every
    ``interval`` s ending an hour ago. OpenMetrics (seconds, families contiguous) for
    ``promtool tsdb create-blocks-from openmetrics``; else Prometheus text with millisecond
    timestamps for victoria-metrics' ``/api/v1/import/prometheus``."""
    from tests.e2e.site_sim import SiteSimulator

    sim = SiteSimulator(sites, max(1, sites // 50))
    sim.set_scenarios(on_battery=1, cert_expiring=1)
    end = int(time.time()) - 3600
    times = list(range(end - int(hours * 3600), end, interval))
    sim.template.started = times[0]
    per_target = ["up", "scrape_duration_seconds", "scrape_samples_scraped",
                  "scrape_samples_post_metric_relabeling", "scrape_series_added"]
    rows: dict[str, list[str]] = {}
    for n, site in enumerate(sim.sites):
        target = (f'instance="127.0.0.1:{20000 + n}",job="upkeep",office_type="branch",'
                  f'org="sim",region="{site.region}"')
        series = [(name, f"{labels},{target}" if labels else target)
                  for name, labels in sim.template.series(site.name)]
        series += [(name, target) for name in per_target]
        for ts in times:
            values = sim.template.values(site, ts)
            values += [1.0, 0.002 + (ts % 7) / 1000, 590.0, 590.0, 0.0]
            stamp = f"{ts}" if openmetrics else f"{ts * 1000}"
            for (name, labels), value in zip(series, values, strict=True):
                rows.setdefault(name, []).append(f"{name}{{{labels}}} {value!r} {stamp}\n")
    for name in sorted(rows):
        yield "".join(rows[name])
    if openmetrics:
        yield "# EOF\n"


def disk_per_site_day(tmp: Path, sites: int, hours: float, interval: int) -> dict[str, Any]:
    """Measured block bytes for ``hours`` of ``sites`` sites, in both engines."""
    out: dict[str, Any] = {"sites": sites, "hours": hours, "interval": interval}
    om = tmp / "backfill.om"
    with om.open("w", encoding="utf-8") as handle:
        for chunk in backfill_text(sites, hours, interval, openmetrics=True):
            handle.write(chunk)
    out["samples"] = sum(1 for line in om.open(encoding="utf-8") if not line.startswith("#"))
    blocks = tmp / "blocks"
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(om),
                    str(blocks)], check=True, timeout=900, capture_output=True)
    out["prom_chunks"] = sum(p.stat().st_size for p in blocks.rglob("chunks/*"))
    out["prom_index"] = sum(p.stat().st_size for p in blocks.rglob("index"))
    out["prom_blocks"] = len(list(blocks.glob("*/meta.json")))
    om.unlink()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp / "vm-backfill"
    argv = [VICTORIA, f"-storageDataPath={data}", f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=1y"]
    with process(argv, tmp / "vm-backfill.log"):
        wait_until(lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200, 60,
                   "victoria-metrics ready")
        with httpx.Client(timeout=300) as client:
            for chunk in backfill_text(sites, hours, interval, openmetrics=False):
                client.post(f"{url}/api/v1/import/prometheus",
                            content=chunk.encode()).raise_for_status()
            client.get(f"{url}/internal/force_flush").raise_for_status()
            time.sleep(3)
            partition = time.strftime("%Y_%m", time.gmtime(time.time() - 3600))
            client.get(f"{url}/internal/force_merge",
                       params={"partition_prefix": partition})
            time.sleep(10)
        out["vm_rows"] = total(metrics(url), "vm_rows", type="storage/small") + total(
            metrics(url), "vm_rows", type="storage/big")
        out["vm_bytes"] = dir_bytes(data)
    return out


def per_site_day(row: dict[str, Any], bytes_per_sample: float, interval: int) -> float:
    samples_per_site_day = row["head_series"] / row["sites"] * 86400 / interval
    return float(samples_per_site_day * bytes_per_sample)


def broken(row: dict[str, Any], interval: int) -> list[str]:
    reasons = []
    if row["up"] < row["sites"]:
        reasons.append(f"{row['sites'] - row['up']:.0f} targets down")
    if row.get("rule_missed", 0) > 0:
        reasons.append(f"{row['rule_missed']:.0f} rule-group iterations missed")
    if row.get("rule_eval_max", ("", 0.0))[1] > interval:
        reasons.append(f"rule group {row['rule_eval_max'][0]} takes "
                       f"{row['rule_eval_max'][1]:.1f} s > {interval} s interval")
    if row.get("interval_p99_s", 0) > 1.5 * interval:
        reasons.append(f"scrape interval p99 {row['interval_p99_s']:.1f} s")
    if row["hwm"] > RSS_LIMIT:
        reasons.append(f"RSS {row['hwm'] / 2**30:.1f} GiB")
    return reasons


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default="80,200,800")
    parser.add_argument("--push", default="1600,3200",
                        help="sizes for the 'what breaks first' run (Prometheus alone)")
    parser.add_argument("--interval", type=int, default=30, help="scrape/eval interval, s")
    parser.add_argument("--warm", type=float, default=None)
    parser.add_argument("--window", type=float, default=None)
    parser.add_argument("--disk-sites", type=int, default=10,
                        help="sites in the backfilled disk measurement")
    parser.add_argument("--disk-hours", type=float, default=2.0,
                        help="hours of data in the backfilled disk measurement")
    parser.add_argument("--json", type=Path, help="also write the raw rows here")
    args = parser.parse_args()
    for binary in (PROMETHEUS, VMAGENT, VICTORIA):
        if not Path(binary).exists():
            print(f"{binary} missing (apt install prometheus victoria-metrics)", file=sys.stderr)
            return 2
    sizes = [80] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    push = [] if args.quick else [int(s) for s in args.push.split(",") if s]
    interval = 10 if args.quick else args.interval
    warm = args.warm if args.warm is not None else (1.5 * interval + 10)
    window = args.window if args.window is not None else (3 * interval if args.quick
                                                          else 5 * interval)
    rows: list[dict[str, Any]] = []
    for sites in sizes:
        with tempfile.TemporaryDirectory(prefix="upkeep-central-") as name:
            tmp = Path(name)
            with simulator(sites, tmp) as sim:
                print(f"  {sites} sites: prometheus ...", file=sys.stderr, flush=True)
                rows.append(run_prometheus(sites, tmp, interval, warm, window))
                rows[-1]["sim_cpu_s"] = cpu_seconds(sim.pid)
                print(f"  {sites} sites: vmagent -> victoria-metrics ...", file=sys.stderr,
                      flush=True)
                rows.append(run_vm(sites, tmp, interval, warm, window))
        if args.json:
            args.json.write_text(json.dumps({"rows": rows}, indent=1, default=str))
    print("  disk: backfilled blocks ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="upkeep-central-") as name:
        disk = disk_per_site_day(Path(name), 2 if args.quick else args.disk_sites,
                                 0.5 if args.quick else args.disk_hours, args.interval)
    pushed: list[tuple[dict[str, Any], list[str]]] = []
    for sites in push:
        with tempfile.TemporaryDirectory(prefix="upkeep-central-") as name:
            tmp = Path(name)
            print(f"  push: {sites} sites: prometheus ...", file=sys.stderr, flush=True)
            try:
                with simulator(sites, tmp):
                    row = run_prometheus(sites, tmp, interval, warm, window)
            except (RuntimeError, httpx.HTTPError, OSError) as err:
                pushed.append(({"sites": sites, "error": str(err)}, [f"run failed: {err}"]))
                break
            reasons = broken(row, interval)
            pushed.append((row, reasons))
            if reasons:
                break
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "disk": disk,
                                         "push": [r for r, _ in pushed]},
                                        indent=1, default=str))
    report(rows, pushed, interval, warm, window)
    report_disk(disk)
    return 0


def report(rows: list[dict[str, Any]], pushed: list[tuple[dict[str, Any], list[str]]],
           interval: int, warm: float, window: float) -> None:
    print(f"### Central tier, measured (scrape and evaluation interval {interval} s, warm-up "
          f"{warm:g} s, window {window:g} s)\n")
    print("| sites | engine | load (1/5/15) | up | samples/s | series | series/site | CPU "
          "(cores) | RSS (HWM) | disk/site/day | rule eval (sum; slowest group) | "
          "scrape p99 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r["engine"] == "prometheus":
            per_day = per_site_day(r, r["chunk_bytes_per_sample"], interval)
            rule = f"{r['rule_eval_sum_s'] * 1000:.0f} ms; {r['rule_eval_max'][0]} " \
                   f"{r['rule_eval_max'][1] * 1000:.0f} ms"
            cpu = f"{r['cpu_cores']:.2f}"
        else:
            per_day = per_site_day(r, r["disk_bytes_per_sample"], interval)
            rule = "(vmalert not run)"
            cpu = f"{r['cpu_cores']:.2f} + vmagent {r['agent_cpu_cores']:.2f}"
        rss_text = f"{mib(r['rss'])} ({mib(r['hwm'])})"
        if "agent_rss" in r:
            rss_text += f" + vmagent {mib(r['agent_rss'])}"
        print(f"| {r['sites']} | {r['engine']} | {r['load']} | {r['up']:.0f} | "
              f"{r['samples_per_s']:,.0f} | {r['head_series']:,.0f} | "
              f"{r['head_series'] / r['sites']:.0f} | {cpu} | {rss_text} | "
              f"{per_day / 1e6:.2f} MB | {rule} | {r['scrape_p99_s'] * 1000:.1f} ms |")
    print("\nDisk per site per day, how: Prometheus: at the end of the window the admin API's "
          "TSDB snapshot writes the head as a block; its `chunks/` bytes / samples appended = "
          "bytes per sample (an upper bound: a few minutes of samples fill chunks less than "
          "a day does), x series per site x 86,400 / interval. The block index is per series "
          "per block, not per sample, and is listed apart below. victoria-metrics: data "
          "directory bytes after `/internal/force_flush` / rows stored, same product; a "
          "short run keeps small parts that a day's merges shrink, so this too is an upper "
          "bound.")
    for r in rows:
        if r["engine"] == "prometheus":
            print(f"- {r['sites']} sites, Prometheus: {r['chunk_bytes_per_sample']:.2f} B/sample "
                  f"in chunks, index {mib(r['index_bytes'])} per block; WAL grew "
                  f"{r['wal_bytes_per_s'] / 1e3:,.0f} kB/s during the window; rule-group "
                  f"iterations missed {r['rule_missed']:.0f}; scrape interval p99 "
                  f"{r['interval_p99_s']:.1f} s; simulator CPU so far {r['sim_cpu_s']:.0f} s.")
        else:
            print(f"- {r['sites']} sites, victoria-metrics: {r['disk_bytes_per_sample']:.2f} "
                  f"B/sample on disk ({mib(r['disk_bytes'])} for {r['stored_rows']:,.0f} rows); "
                  f"vmagent dropped {r['dropped']:.0f} packets.")
    goals = []
    for r in rows:
        if r["sites"] != max(x["sites"] for x in rows):
            continue
        if r["engine"] == "prometheus":
            goals.append((f"{r['sites']} sites on one Debian Prometheus with alerts/ loaded: "
                          "every site up, no rule-group iteration missed, slowest group "
                          "under the interval",
                          not broken(r, interval)))
        else:
            goals.append((f"{r['sites']} sites through vmagent -> victoria-metrics: every "
                          "site up, nothing dropped", r["up"] >= r["sites"] and not r["dropped"]))
    print("\n| goal (issue 16) | met |\n|---|---|")
    for goal, met in goals:
        print(f"| {goal} | {'yes' if met else 'NO'} |")
    if pushed:
        print("\n### What breaks first (Prometheus alone, pushed up)\n")
        print("| sites | load | up | samples/s | series | CPU (cores) | RSS (HWM) | rule eval "
              "sum; slowest | missed iterations | scrape p99 | interval p99 | verdict |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r, reasons in pushed:
            if "error" in r:
                print(f"| {r['sites']} | | | | | | | | | | | {r['error']} |")
                continue
            print(f"| {r['sites']} | {r['load']} | {r['up']:.0f} | {r['samples_per_s']:,.0f} | "
                  f"{r['head_series']:,.0f} | {r['cpu_cores']:.2f} | {mib(r['rss'])} "
                  f"({mib(r['hwm'])}) | {r['rule_eval_sum_s']:.2f} s; "
                  f"{r['rule_eval_max'][0]} {r['rule_eval_max'][1]:.2f} s | "
                  f"{r['rule_missed']:.0f} | {r['scrape_p99_s'] * 1000:.0f} ms | "
                  f"{r['interval_p99_s']:.1f} s | "
                  f"{'; '.join(reasons) or 'holds'} |")


def report_disk(d: dict[str, Any]) -> None:
    per_day = 24 / d["hours"]
    prom = (d["prom_chunks"] * per_day + d["prom_index"]) / d["sites"]
    vm = d["vm_bytes"] * per_day / d["sites"]
    print(f"\n### Disk per site per day, from {d['hours']:g} h of {d['sites']} simulated sites "
          f"at a {d['interval']} s interval ({d['samples']:,} samples, backfilled)\n")
    print("| engine | stored | bytes/sample | per site per day | 800 sites, 90 days |")
    print("|---|---|---|---|---|")
    print(f"| prometheus (promtool tsdb create-blocks-from openmetrics, {d['prom_blocks']} "
          f"block(s)) | chunks {d['prom_chunks']:,} B + index {d['prom_index']:,} B | "
          f"{d['prom_chunks'] / d['samples']:.2f} (chunks) | {prom / 1e6:.2f} MB | "
          f"{prom * 800 * 90 / 1e9:.0f} GB |")
    print(f"| victoria-metrics (/api/v1/import/prometheus, flushed and merged) | "
          f"{d['vm_bytes']:,} B | {d['vm_bytes'] / d['samples']:.2f} (all files) | "
          f"{vm / 1e6:.2f} MB | {vm * 800 * 90 / 1e9:.0f} GB |")
    print("\nHow: the simulator's values for those hours (counters rising, gauges wandering, "
          "timestamps, a site on battery, a certificate near expiry) with the target labels "
          "Prometheus adds, written as a real block by promtool and imported into a real "
          "victoria-metrics; per day = chunks x 24 h / hours + one index (a day's compacted "
          "block has one), divided by sites. The short live windows above cannot measure this: "
          "a few minutes fill a chunk with a handful of samples and the header dominates.")


if __name__ == "__main__":
    raise SystemExit(main())
