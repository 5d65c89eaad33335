"""The poll scheduler alone: the agent's per-target asyncio tasks vs APScheduler 3.x.

Issue 17: the design card named APScheduler 3.x; the agent replaced it with one asyncio task
per target (``Agent._poll_forever``) after profiles of the whole agent showed its job
bookkeeping near the top. This measures what scheduling alone costs: N targets on one
interval, each poll a collector that answers at once (so only the scheduler, the poll's
timeout and storing the reading are measured), the same jitter and poll bound for both.
CPU per poll is this process's ``time.process_time()`` over the window / polls run; RSS is
what importing the scheduler adds. APScheduler is not a dependency any more: the comparison
needs ``pip install 'apscheduler>=3.11,<4'`` (without it, only the agent's side is printed).

    python bench/bench_scheduler.py [--targets 400] [--interval 1] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import ratio, table  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


async def measure(kind: str, targets: int, interval: float, seconds: float) -> dict[str, float]:
    from upkeep.agents.runtime import Agent, poll_target
    from upkeep.collectors.base import Collector, Target
    from upkeep.config import parse_config
    from upkeep.reading import Reading

    class Instant(Collector):
        kind = "bench"

        def targets(self) -> Sequence[Target]:
            return []

        async def poll(self, target: Target) -> Reading:
            return Reading(target.kind, target.name, time.time(), True, 0.0)

    agent = Agent(parse_config("host: {enabled: false}\n"))
    collector = Instant()
    polls = 0
    run_poll = agent._run_poll

    async def counted(collector: Collector, target: Target) -> None:
        nonlocal polls
        polls += 1
        await run_poll(collector, target)

    agent._run_poll = counted  # type: ignore[method-assign]
    wanted = [Target("bench", f"t{i}", interval, interval / 2, jitter=interval / 10)
              for i in range(targets)]
    before = rss_mib()
    scheduler = None
    if kind == "APScheduler 3.x":
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        added = rss_mib() - before

        async def job(target: Target) -> None:
            nonlocal polls
            polls += 1
            for reading in await poll_target(collector, target):
                agent.store.put(reading)

        scheduler = AsyncIOScheduler()
        scheduler.start()
        for target in wanted:
            first = datetime.now() + timedelta(seconds=random.uniform(0, 1.0))
            scheduler.add_job(job, IntervalTrigger(seconds=interval, jitter=target.jitter),
                              args=(target,), id=target.name, max_instances=1, coalesce=True,
                              misfire_grace_time=max(1, int(interval)), next_run_time=first)
    else:
        added = 0.0
        for target in wanted:
            agent._schedule(collector, target)
    await asyncio.sleep(2.0)  # every target polled at least once
    polls = 0
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    ran = polls
    if scheduler is not None:
        scheduler.shutdown(wait=False)
    await agent._stop_parts()
    return {"polls": ran, "expected": targets * wall / interval,
            "cpu_ms": cpu / max(ran, 1) * 1e3, "core": cpu / wall, "rss": added}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=400)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child run: one scheduler
    args = parser.parse_args()
    if args.one:
        result = asyncio.run(measure(args.one, args.targets, args.interval, args.seconds))
        print(json.dumps(result))
        return 0
    kinds = ["upkeep (a task per target)"]
    if importlib.util.find_spec("apscheduler"):
        kinds.append("APScheduler 3.x")
    else:
        print("APScheduler is not installed: pip install 'apscheduler>=3.11,<4' to compare",
              file=sys.stderr)
    results = {}
    for kind in kinds:  # each in a process of its own: imports and RSS do not mix
        out = subprocess.run([sys.executable, __file__, "--one", kind, "--targets",
                              str(args.targets), "--interval", str(args.interval),
                              "--seconds", str(args.seconds)],
                             check=True, capture_output=True, text=True).stdout
        results[kind] = json.loads(out.strip().splitlines()[-1])
    rows = [[kind, f"{r['polls']} / {r['expected']:.0f}", f"{r['cpu_ms']:.3f}",
             f"{100 * r['core']:.1f} %", f"{r['rss']:.1f}"] for kind, r in results.items()]
    if len(results) == 2:
        own, aps = results[kinds[0]], results[kinds[1]]
        rows.append(["ratio (upkeep / APScheduler)", "", ratio(own["cpu_ms"], aps["cpu_ms"]),
                     "", ""])
    print(f"{args.targets} targets every {args.interval:g} s, {args.seconds:g} s window\n")
    print(table(["scheduler", "polls run / due", "CPU ms per poll", "CPU", "import RSS MiB"],
                rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
