"""NUT polling: upkeep's NUT collector vs Debian's ``upsc`` (the anchor), one run, one upsd.

Setup: one real ``upsd`` on a loopback port with N ``dummy-ups`` drivers replaying the 28
real dumps of tests/fixtures/nut-ddl in turn (tests/nut_rig.py). Per poll cycle every
UPS is read once, all concurrently:

- upkeep: ``NutCollector.poll`` for every UPS (LIST VAR + LIST CLIENT on the shared,
  persistent connection, parsed into the UPS model and metric samples), in this process;
  CPU = this process's user+system time over the measured cycles.
- upkeep, new connection each cycle: the same with the collector (and so its connection)
  rebuilt every cycle, to show what connection reuse is worth.
- upsc: ``upsc UPS@127.0.0.1:PORT`` per UPS (what Zabbix/Netdata-style UserParameters run),
  all N started at once; CPU = children's user+system time.

upsd's own CPU is counted for none of them. Prints a markdown table with ratios.

    python bench/bench_nut.py [--quick] [--ups 100] [--cycles 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ratio, table  # noqa: E402

from tests.nut_rig import NutRig  # noqa: E402
from upkeep.agents.runtime import poll_target  # noqa: E402
from upkeep.collectors.nut import NutCollector  # noqa: E402
from upkeep.config.ups import UpsConfig  # noqa: E402

DDL = REPO / "tests" / "fixtures" / "nut-ddl"


def entries(names: list[str], port: int) -> list[UpsConfig]:
    return [UpsConfig.model_validate({"name": n, "nut": {"host": "127.0.0.1", "port": port,
                                                         "ups": n, "interval": "15s",
                                                         "timeout": "10s"}})
            for n in names]


async def upkeep_cycles(names: list[str], port: int, cycles: int, reuse: bool
                        ) -> tuple[float, float]:
    collector = NutCollector(entries(names, port))
    await asyncio.gather(*(poll_target(collector, t) for t in collector.targets()))  # warm-up
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(cycles):
        if not reuse:
            await collector.aclose()
            collector = NutCollector(entries(names, port))
        results = await asyncio.gather(*(poll_target(collector, t)
                                         for t in collector.targets()))
        bad = [r for rs in results for r in rs if not r.ok]
        if bad:
            raise SystemExit(f"upkeep poll failed: {bad[0].target}: {bad[0].message}")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    await collector.aclose()
    return wall / cycles, cpu / cycles


async def upsc_cycles(upsc: str, names: list[str], port: int, cycles: int
                      ) -> tuple[float, float]:
    async def one(name: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            upsc, f"{name}@127.0.0.1:{port}", stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
        if await proc.wait() != 0:
            raise SystemExit(f"upsc {name} failed")

    def child_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    await asyncio.gather(*(one(n) for n in names))  # warm-up
    cpu0, wall0 = child_cpu(), time.perf_counter()
    for _ in range(cycles):
        await asyncio.gather(*(one(n) for n in names))
    return (time.perf_counter() - wall0) / cycles, (child_cpu() - cpu0) / cycles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 UPS, 2 cycles")
    parser.add_argument("--ups", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=5)
    args = parser.parse_args()
    count, cycles = (20, 2) if args.quick else (args.ups, args.cycles)
    upsc = shutil.which("upsc")
    if upsc is None:
        raise SystemExit("upsc not installed (Debian package nut-client)")
    dumps = sorted(DDL.glob("*.dev"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-nut-"))
    rig = NutRig(tmp, maxage=60)
    names = [f"ups{i:03d}" for i in range(count)]
    for i, name in enumerate(names):
        rig.add_ups(name, dumps[i % len(dumps)])
    rig.start(timeout=120)
    try:
        ours = asyncio.run(upkeep_cycles(names, rig.port, cycles, reuse=True))
        fresh = asyncio.run(upkeep_cycles(names, rig.port, cycles, reuse=False))
        anchor = asyncio.run(upsc_cycles(upsc, names, rig.port, cycles))
    finally:
        rig.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"### NUT: {count} UPS on one upsd (dummy-ups replaying the nut-ddl dumps), "
          f"{cycles} cycles, {os.cpu_count()} CPUs\n")
    rows = []
    for label, (wall, cpu) in (("upkeep (persistent connection)", ours),
                               ("upkeep (new connection per cycle)", fresh),
                               ("upsc, one process per UPS (anchor)", anchor)):
        rows.append([label, wall * 1000, cpu / count * 1000, ratio(wall, anchor[0]),
                     ratio(cpu, anchor[1])])
    print(table(["client", "cycle wall ms", "CPU ms per UPS", "wall vs upsc", "CPU vs upsc"],
                rows))


if __name__ == "__main__":
    main()
