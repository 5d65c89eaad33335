"""SNMP engines inside the collector: gufo-snmp vs pysnmp for v2c, snmp_exporter as anchor.

Issue 17 item 2: which library carries the SNMP collector's requests is chosen by
measurement. The same ``SnmpCollector`` polls N UPS-MIB units (``bench_snmp``'s snmpsim fleet,
every tenth one with an alarm table, so a GET plus a GETBULK walk) once with
``engine="auto"`` (v2c through gufo-snmp) and once with ``engine="pysnmp"``; then
prometheus-snmp-exporter scrapes the same units. CPU per device-poll is this process's
``time.process_time()`` per cycle / N (the exporter's: /proc utime+stime), median of the
measured cycles after a warm-up cycle. Prints markdown.

    python bench/bench_snmp_engines.py [--quick] [--units 400] [--cycles 5] [--sims 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from bench_snmp import community, run_exporter, run_upkeep  # noqa: E402
from common import ratio, table  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 units, 2 cycles, 1 snmpsim")
    parser.add_argument("--units", type=int, default=400)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--sims", type=int, default=4)
    args = parser.parse_args()
    if args.quick:
        args.units, args.cycles, args.sims = 40, 2, 1
    from tests.snmp_rig import SnmpSim, fixture_records

    sims = [SnmpSim({"ups-mib": fixture_records("ups-mib"),
                     "ups-mib-alarm": fixture_records("ups-mib-alarm")})
            for _ in range(args.sims)]
    for k, sim in enumerate(sims):
        mine = [i for i in range(args.units) if i % args.sims == k]
        sim.clone("ups-mib", [community(i) for i in mine if i % 10 != 9])
        sim.clone("ups-mib-alarm", [community(i) for i in mine if i % 10 == 9])
    results: dict[str, dict[str, float]] = {}
    load = os.getloadavg()
    try:
        for sim in sims:
            sim.start(timeout=120 + args.units * 0.2)
        results["gufo-snmp (auto)"] = run_upkeep(sims, args.units, args.cycles, args.timeout)
        results["pysnmp"] = run_upkeep(sims, args.units, args.cycles, args.timeout,
                                       engine="pysnmp")
        exporter = shutil.which("prometheus-snmp-exporter")
        if exporter:
            with tempfile.TemporaryDirectory() as tmp:
                results["snmp_exporter"] = run_exporter(exporter, sims, args.units,
                                                        args.cycles, args.timeout, Path(tmp))
    finally:
        for sim in sims:
            sim.close()
    names = list(results)
    anchor = results.get("snmp_exporter")
    rows = []
    for key, label in [("cpu_ms_per_ups", "CPU ms per device-poll (median cycle)"),
                       ("cpu_s_per_cycle", "CPU s per cycle"),
                       ("wall_s", "cycle wall s (median)"), ("wall_max_s", "cycle wall s (max)"),
                       ("failures", "failed polls (all cycles)"),
                       ("sim_cpu_s", "simulator CPU s per cycle")]:
        row: list[object] = [label, *(results[n][key] for n in names)]
        if anchor and key == "cpu_ms_per_ups":
            row += [ratio(results[n][key], anchor[key]) for n in names[:2]]
        elif anchor:
            row += ["", ""]
        rows.append(row)
    header = ["measure", *names] + (["gufo / exporter", "pysnmp / exporter"] if anchor else [])
    print(f"### SNMP engines in the collector ({args.units} v2c units, {args.cycles} measured "
          f"cycles, {os.cpu_count()} CPUs, {args.sims} snmpsim processes, load average at "
          f"start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n")
    print(table(header, rows))
    mine = results["gufo-snmp (auto)"]
    met = bool(anchor) and not mine["failures"] and (
        mine["cpu_ms_per_ups"] <= 0.5 * anchor["cpu_ms_per_ups"] if anchor else False)
    print("\n| goal (issue 17) | met |\n|---|---|")
    print(f"| collector alone: CPU per v2c device-poll ≤ 0.5× snmp_exporter's, no failed polls "
          f"(the whole-agent benchmark judges the agent) | {'yes' if met else 'NO'} |")
    if not anchor:
        print("\nprometheus-snmp-exporter not installed: no anchor column.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
