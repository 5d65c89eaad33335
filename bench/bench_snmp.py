"""N UPS over SNMP: upkeep's collector vs Debian's prometheus-snmp-exporter, in one run.

``--sims`` snmpsim processes serve N UPS-MIB units, each under its own community (every tenth one on
battery with an alarm table). Then, one after the other against the same simulator:

- upkeep: the SNMP collector polls all N units concurrently (one poll cycle, as the agent's
  scheduler runs it: ``poll_target`` per unit on one event loop and one SnmpEngine), in this
  process; wall time per cycle and this process's CPU per UPS.
- snmp_exporter: a hand-written ``snmp.yml`` (0.21 format, one module per community since that
  version keeps the community inside the module) walking UPS-MIB's ``upsObjects`` like the
  upstream ``ups_mib`` module, scraped for all N units concurrently as Prometheus would
  (``/snmp?target=...&module=...``); wall time per round and the exporter's CPU per UPS.

A warm-up cycle (MIB detection, engines, connections) precedes the measured ones. The
simulator's own CPU is shown too: when it is near one core per cycle, the simulator, not the
poller, bounds the wall time. Prints markdown.

    python bench/bench_snmp.py [--quick] [--units 500] [--cycles 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from common import cpu_seconds, free_port, median, ratio, start, stop, table  # noqa: E402

UPS_MIB = "1.3.6.1.2.1.33.1"
#: what the exporter module exports: the same objects upkeep decodes
EXPORTER_METRICS = [
    ("upsIdentManufacturer", "1.1.1", "DisplayString", False),
    ("upsIdentModel", "1.1.2", "DisplayString", False),
    ("upsIdentUPSSoftwareVersion", "1.1.3", "DisplayString", False),
    ("upsBatteryStatus", "2.1", "gauge", False),
    ("upsEstimatedMinutesRemaining", "2.3", "gauge", False),
    ("upsEstimatedChargeRemaining", "2.4", "gauge", False),
    ("upsBatteryVoltage", "2.5", "gauge", False),
    ("upsBatteryTemperature", "2.7", "gauge", False),
    ("upsInputLineBads", "3.1", "counter", False),
    ("upsInputFrequency", "3.3.1.2", "gauge", True),
    ("upsInputVoltage", "3.3.1.3", "gauge", True),
    ("upsOutputSource", "4.1", "gauge", False),
    ("upsOutputVoltage", "4.4.1.2", "gauge", True),
    ("upsOutputPower", "4.4.1.4", "gauge", True),
    ("upsOutputPercentLoad", "4.4.1.5", "gauge", True),
    ("upsAlarmsPresent", "6.1", "gauge", False),
    ("upsAlarmDescr", "6.2.1.2", "OctetString", True),
    ("upsTestResultsSummary", "7.3", "gauge", False),
    ("upsConfigLowBattTime", "9.7", "gauge", False),
]


def community(i: int) -> str:
    return f"ups{i:04d}"


def exporter_config(units: int, timeout: float) -> str:
    lines: list[str] = []
    metric_lines = []
    for name, oid, kind, indexed in EXPORTER_METRICS:
        metric_lines += [f"  - name: {name}", f"    oid: {UPS_MIB}.{oid}", f"    type: {kind}",
                         f"    help: UPS-MIB {name}"]
        if indexed:
            metric_lines += ["    indexes:", "    - labelname: index", "      type: gauge"]
    for i in range(units):
        lines += [f"ups_mib_{i:04d}:", "  version: 2", "  auth:",
                  f"    community: {community(i)}", "  max_repetitions: 25", "  retries: 0",
                  f"  timeout: {timeout:g}s", "  walk:", f"  - {UPS_MIB}", "  get:",
                  "  - 1.3.6.1.2.1.1.3.0", "  metrics:", *metric_lines]
    return "\n".join(lines) + "\n"


def sims_cpu(sims: list[Any]) -> float:
    return sum(cpu_seconds(sim.proc.pid) for sim in sims)


def run_upkeep(sims: list[Any], units: int, cycles: int, timeout: float,
               engine: str = "auto") -> dict[str, float]:
    from upkeep.agents.runtime import poll_target
    from upkeep.collectors.snmp import SnmpCollector
    from upkeep.config.ups import SnmpConfig

    collector = SnmpCollector([
        (f"ups{i:04d}", SnmpConfig(host="127.0.0.1", port=sims[i % len(sims)].port,
                                   community=community(i),
                                   interval=15, timeout=timeout, retries=0))
        for i in range(units)], engine=engine)
    targets = collector.targets()
    walls: list[float] = []
    cpus: list[float] = []
    sim_cpus: list[float] = []
    failures = 0

    async def cycle() -> tuple[float, float, int]:
        cpu0, t0 = time.process_time(), time.monotonic()
        results = await asyncio.gather(*(poll_target(collector, t) for t in targets))
        bad = sum(1 for readings in results for r in readings if not r.ok)
        return time.monotonic() - t0, time.process_time() - cpu0, bad

    async def main() -> None:
        nonlocal failures
        await cycle()  # warm-up: engine, MIB detection
        for _ in range(cycles):
            sim0 = sims_cpu(sims)
            wall, cpu, bad = await cycle()
            sim_cpus.append(sims_cpu(sims) - sim0)
            walls.append(wall)
            cpus.append(cpu)
            failures += bad
            await asyncio.sleep(0.5)
        await collector.aclose()

    asyncio.run(main())
    return {"wall_s": median(walls), "wall_max_s": max(walls),
            "cpu_ms_per_ups": median(cpus) / units * 1000, "cpu_s_per_cycle": median(cpus),
            "failures": failures, "sim_cpu_s": median(sim_cpus)}


def run_exporter(binary: str, sims: list[Any], units: int, cycles: int, timeout: float,
                 tmp: Path) -> dict[str, float]:
    config = tmp / "snmp.yml"
    config.write_text(exporter_config(units, timeout), encoding="utf-8")
    port = free_port()
    proc, _startup = start([binary, f"--config.file={config}",
                            f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
                           f"http://127.0.0.1:{port}/")
    walls: list[float] = []
    cpus: list[float] = []
    sim_cpus: list[float] = []
    failures = 0

    async def round_(client: httpx.AsyncClient) -> tuple[float, int]:
        async def one(i: int) -> bool:
            response = await client.get(
                f"http://127.0.0.1:{port}/snmp",
                params={"target": f"127.0.0.1:{sims[i % len(sims)].port}",
                        "module": f"ups_mib_{i:04d}"})
            return response.status_code == 200 and "upsEstimatedChargeRemaining " in response.text
        t0 = time.monotonic()
        ok = await asyncio.gather(*(one(i) for i in range(units)))
        return time.monotonic() - t0, sum(1 for x in ok if not x)

    async def main() -> None:
        nonlocal failures
        limits = httpx.Limits(max_connections=units, max_keepalive_connections=units)
        async with httpx.AsyncClient(timeout=timeout + 20, limits=limits) as client:
            await round_(client)  # warm-up
            for _ in range(cycles):
                cpu0, sim0 = cpu_seconds(proc.pid), sims_cpu(sims)
                wall, bad = await round_(client)
                cpus.append(cpu_seconds(proc.pid) - cpu0)
                sim_cpus.append(sims_cpu(sims) - sim0)
                walls.append(wall)
                failures += bad
                await asyncio.sleep(0.5)

    try:
        asyncio.run(main())
    finally:
        stop(proc)
    return {"wall_s": median(walls), "wall_max_s": max(walls),
            "cpu_ms_per_ups": median(cpus) / units * 1000, "cpu_s_per_cycle": median(cpus),
            "failures": failures, "sim_cpu_s": median(sim_cpus)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 units, 2 cycles")
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=10.0, help="per-unit timeout, s")
    parser.add_argument("--sims", type=int, default=4,
                        help="snmpsim processes (one answers ~50-80 requests/s)")
    args = parser.parse_args()
    units, cycles = (20, 2) if args.quick else (args.units, args.cycles)

    sims_n = 1 if args.quick else max(1, args.sims)
    try:
        from tests.snmp_rig import SnmpSim, fixture_records

        sims = [SnmpSim({"ups-mib": fixture_records("ups-mib"),
                         "ups-mib-alarm": fixture_records("ups-mib-alarm")})
                for _ in range(sims_n)]
    except BaseException as err:  # the rig skips (pytest.skip) when snmpsim is missing
        print(f"### SNMP UPS: upkeep vs snmp_exporter\n\nnot run: {err}")
        return 0
    for k, sim in enumerate(sims):
        mine = [i for i in range(units) if i % sims_n == k]
        sim.clone("ups-mib", [community(i) for i in mine if i % 10 != 9])
        sim.clone("ups-mib-alarm", [community(i) for i in mine if i % 10 == 9])
    exporter = shutil.which("prometheus-snmp-exporter")
    results: dict[str, dict[str, float]] = {}
    started = time.monotonic()
    try:
        for sim in sims:
            sim.start(timeout=120 + units * 0.2)
        sim_start_s = time.monotonic() - started
        results["upkeep"] = run_upkeep(sims, units, cycles, args.timeout)
        if exporter:
            with tempfile.TemporaryDirectory() as tmp:
                results["snmp_exporter"] = run_exporter(exporter, sims, units, cycles,
                                                        args.timeout, Path(tmp))
    finally:
        for sim in sims:
            sim.close()

    keys = [("wall_s", "poll-cycle wall s (median)"), ("wall_max_s", "poll-cycle wall s (max)"),
            ("cpu_ms_per_ups", "poller CPU ms per UPS"), ("cpu_s_per_cycle", "poller CPU s per cycle"),
            ("failures", "failed polls (all cycles)"), ("sim_cpu_s", "simulator CPU s per cycle")]
    names = list(results)
    anchor = "snmp_exporter" in results
    rows = []
    for key, label in keys:
        row: list[object] = [label] + [results[n][key] for n in names]
        if anchor:
            row.append(ratio(results["upkeep"][key], results["snmp_exporter"][key])
                       if key != "failures" else "")
        rows.append(row)
    header = ["measure", *names] + (["upkeep / snmp_exporter"] if anchor else [])
    print(f"### SNMP UPS: upkeep vs snmp_exporter ({units} units, {cycles} measured cycles, "
          f"{os.cpu_count()} CPUs; {sims_n} snmpsim processes, started in {sim_start_s:.1f} s)\n")
    print(table(header, rows))
    up = results["upkeep"]
    goals = [
        (f"{units} SNMP UPS polled within one 15 s interval, no failures"
         + ("" if units >= 500 else " (goal is 500: run without --quick)"),
         up["wall_max_s"] <= 15 and up["failures"] == 0),
        ("CPU per device ≤ snmp_exporter's",
         anchor and up["cpu_ms_per_ups"] <= results["snmp_exporter"]["cpu_ms_per_ups"]),
    ]
    print("\n| goal (issue 3) | met |\n|---|---|")
    for goal, met in goals:
        print(f"| {goal} | {'yes' if met else 'NO'} |")
    if not anchor:
        print("\nprometheus-snmp-exporter not installed: no anchor column.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
