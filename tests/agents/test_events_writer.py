"""Writes caused by readings (power events, incidents) run on the database's writer thread: a
slow disk never stalls the event loop, and nobody hears of an event before it is committed."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from upkeep.agents.events import EventRecorder
from upkeep.agents.runtime import Agent
from upkeep.config import parse_config
from upkeep.events import Event
from upkeep.policies.kpi_service import KpiService
from upkeep.reading import Reading

HOLD = 2.0


def ups(t: float, *flags: str) -> Reading:
    return Reading("nut", "rack", t, True, info={"status": list(flags), "replace_needed": False})


def committed(path: Path, sql: str, params: tuple[object, ...] = ()) -> int:
    """What another process sees: committed rows only."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    finally:
        conn.close()


async def scenario(tmp_path: Path) -> None:
    config = parse_config(
        f"site: hq\ndata_dir: {tmp_path}\n"
        "websites: [{name: portal, url: 'https://127.0.0.1:9/'}]\n"
        "systems: [{name: portal, checks: ['web:portal']}]\n")
    agent = Agent(config)
    agent.open_database()
    assert agent.db is not None
    path = agent.db.path
    recorder = EventRecorder(agent.db)
    await recorder.start(agent)
    kpi = KpiService(agent)
    await kpi.start(agent)

    heard: list[tuple[str, int]] = []  # each event, and whether it was committed by then

    def listener(event: Event) -> None:
        heard.append((event.kind, committed(path, "SELECT COUNT(*) FROM ups_events WHERE id = ?",
                                            (event.id,))))

    recorder.add_listener(listener)
    now = time.time()
    agent.store.put(ups(now - 10, "OL"))
    await asyncio.wait_for(asyncio.wrap_future(agent.db.barrier()), 10)

    # another process holds the write lock: as good as an fsync that takes two seconds
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(10)
        conn.rollback()
        conn.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(5)
    locked_at = time.monotonic()
    ticks: list[float] = []

    async def heartbeat() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    beat = asyncio.create_task(heartbeat())
    slowest = 0.0
    for i, reading in enumerate([ups(now - 5, "OB", "DISCHRG"),
                                 Reading("web", "portal", now - 4, False, reason="timeout"),
                                 Reading("web", "portal", now - 3, False, reason="timeout"),
                                 Reading("web", "portal", now - 2, False, reason="timeout")]):
        started = time.monotonic()
        agent.store.put(reading)
        slowest = max(slowest, time.monotonic() - started)
        await asyncio.sleep(0.05 * i)
    await asyncio.sleep(max(0.3, HOLD - (time.monotonic() - locked_at)))
    assert slowest < 0.2, f"StateStore.put blocked {slowest:.2f}s on the database"
    # nothing committed yet, so nobody heard of it: not the notifier, not the metrics
    assert heard == [] and recorder.states["rack"].changes == {}
    assert committed(path, "SELECT COUNT(*) FROM incident") == 0

    release.set()
    holder.join(5)
    await asyncio.wait_for(asyncio.wrap_future(agent.db.barrier()), 15)
    await asyncio.sleep(0)
    beat.cancel()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert max(gaps) < 0.5, f"the event loop stalled {max(gaps):.2f}s"

    assert heard == [("on_battery", 1)]  # told only once it was committed
    assert recorder.states["rack"].changes == {"OL": 1, "OB": 1, "DISCHRG": 1}
    assert committed(path, "SELECT COUNT(*) FROM ups_events") == 1
    assert kpi.ledger is not None
    incident = kpi.ledger.open_incident("portal")
    assert incident is not None and incident.source == "auto"
    state = committed(path, "SELECT COUNT(*) FROM kpi_detector_state WHERE system = 'portal' "
                      "AND json_extract(state, '$.current.ref') = ?", (incident.id,))
    assert state == 1  # the saved detector state knows the ledger's id
    await kpi.stop()
    await recorder.stop()
    agent.db.close()


def test_a_slow_disk_does_not_stall_the_event_loop(tmp_path: Path) -> None:
    asyncio.run(scenario(tmp_path))


def test_a_reading_that_changes_nothing_stays_on_the_loop(tmp_path: Path) -> None:
    """At 500 UPS most readings repeat the last state: those are settled on the loop, not
    handed to the writer thread one by one; a change behind a queued one still goes in order."""

    async def run() -> tuple[int, list[str]]:
        agent = Agent(parse_config(f"site: hq\ndata_dir: {tmp_path}\n"))
        agent.open_database()
        assert agent.db is not None
        db = agent.db
        recorder = EventRecorder(db)
        await recorder.start(agent)
        submitted = 0
        submit = db.submit

        def counting(fn: object, /, *args: object) -> object:
            nonlocal submitted
            submitted += 1
            return submit(fn, *args)  # type: ignore[arg-type]

        db.submit = counting  # type: ignore[method-assign]
        kinds: list[str] = []
        recorder.add_listener(lambda event: kinds.append(event.kind))
        now = time.time()
        agent.store.put(ups(now - 30, "OL"))  # first sight: written
        for i in range(20):  # unchanged while the first is still queued, then settled
            agent.store.put(ups(now - 29 + i * 0.1, "OL"))
            await asyncio.sleep(0.01)
        agent.store.put(ups(now - 5, "OB", "DISCHRG"))  # a change: written
        agent.store.put(ups(now - 4, "OB", "DISCHRG"))
        await asyncio.wait_for(asyncio.wrap_future(submit(lambda: None)), 10)
        await asyncio.sleep(0.05)  # the loop hears what the writer committed
        await recorder.stop()
        return submitted, kinds

    submitted, kinds = asyncio.run(run())
    assert kinds == ["on_battery"]
    # the first reading, a few that came while it was queued, and the change (+ its follower)
    assert 2 <= submitted <= 8, submitted
