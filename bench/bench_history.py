"""History cost for 100 targets, and the time to render a UI page with three charts.

Feeds the real ``HistoryService`` (real SQLite file, writer thread) with readings of 100 UPS
as the agent would poll them (every 10 s) over simulated minutes, and reports the RSS growth
and the CPU time per wall second spent; then renders a UPS detail page (four charts, a full
24 h of minute points) through the real app. Run: ``.venv/bin/python bench/bench_history.py``.
"""

from __future__ import annotations

import asyncio
import resource
import tempfile
import time
from pathlib import Path

import httpx

from upkeep.agents.app import create_app
from upkeep.agents.runtime import Agent
from upkeep.collectors.ups_model import UpsSnapshot, info_from_snapshot
from upkeep.config import parse_config
from upkeep.kit.db import Database
from upkeep.metrics import Sample
from upkeep.policies.history import HistoryService
from upkeep.reading import Reading

TARGETS, POLL, MINUTES = 100, 10, 120


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def reading(i: int, at: float) -> Reading:
    info = info_from_snapshot(UpsSnapshot(name=f"ups{i}", source="nut", status=("OL",),
                                          battery_charge=0.9, battery_runtime=1800, load=0.3))
    return Reading("nut", f"ups{i}", at, True, info=info, samples=[
        Sample("upkeep_ups_input_voltage_volts", 229.0, {"ups": f"ups{i}"})])


async def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    agent = Agent(parse_config(f"site: bench\ndata_dir: {tmp}\n"))
    agent.db = Database(tmp / "upkeep.db")
    service = HistoryService(agent.db, flush_every=1.0)
    await service.start(agent)
    agent.services.append(service)  # type: ignore[arg-type]
    rss0 = rss_kib()
    cpu0, wall0 = time.process_time(), time.monotonic()
    start = time.time() - MINUTES * 60
    for step in range(MINUTES * 60 // POLL):
        for i in range(TARGETS):
            agent.store.put(reading(i, start + step * POLL))
    feed_cpu = time.process_time() - cpu0
    await service.stop()
    polls = TARGETS * MINUTES * 60 // POLL
    # one real hour of polls costs feed_cpu * 3600 / (MINUTES * 60) CPU seconds
    print(f"{polls} readings ({MINUTES} simulated minutes x {TARGETS} UPS every {POLL}s): "
          f"{feed_cpu:.2f} s CPU (store + sampler + writer) = "
          f"{feed_cpu / (MINUTES * 60) * 100:.3f} % of one core in real time; "
          f"RSS +{(rss_kib() - rss0) / 1024:.2f} MiB; "
          f"wall {time.monotonic() - wall0:.1f} s")
    # a full 24 h of minute points for one UPS, then the page with four charts
    service = HistoryService(agent.db)
    agent.services = [service]  # type: ignore[list-item]
    now = time.time()
    rows = [r for m in range(1440) for r in service.sampler.offer(reading(0, now - 86400 + m * 60))]
    service.store.write(rows)
    agent.store.put(reading(0, now))
    app = create_app(agent, manage_lifecycle=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://bench") as client:
        await client.get("/ui/ups/ups0?lang=th")
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            response = await client.get("/ui/ups/ups0?lang=th")
            times.append(time.perf_counter() - t0)
        assert response.status_code == 200
    times.sort()
    print(f"UPS detail page, 4 charts x 1440 points, {len(response.content) // 1024} KiB: "
          f"median {times[10] * 1000:.1f} ms, worst {times[-1] * 1000:.1f} ms "
          f"(maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB)")


if __name__ == "__main__":
    asyncio.run(main())
