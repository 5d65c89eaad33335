"""Overload is visible: an agent whose event loop is held up shows how late its polls start.

A real in-process agent polls this host every second; the test then blocks the agent's
event loop for 2.5 s, as a CPU-starved or overloaded agent would be, and the next polls
start late by that much: ``upkeep_poll_delay_max_seconds{kind="host"}`` must say so, while
an undisturbed agent reports delays of milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.support import parse_metrics
from upkeep.agents.runtime import Agent
from upkeep.config import parse_config

CONFIG = """
site: lateness
data_dir: {data}
host: {{interval: 1s, timeout: 900ms}}
"""


async def _delays(tmp_path: Path, block: float) -> tuple[float, float, float]:
    agent = Agent(parse_config(CONFIG.format(data=tmp_path)))
    await agent.start()
    try:
        await asyncio.sleep(2.5)  # a couple of punctual polls
        if block:
            time.sleep(block)  # the loop is stuck: the scheduler cannot start anything
        await asyncio.sleep(2.5)
        series = parse_metrics(agent.metrics.current().decode())
        key = frozenset({("kind", "host")})
        return (series[("upkeep_poll_delay_max_seconds", key)],
                series[("upkeep_polls_missed_total", key)],
                series[("upkeep_polls_total", key)])
    finally:
        await agent.stop()


def test_a_held_up_event_loop_shows_as_late_polls(tmp_path: Path) -> None:
    late, missed, polls = asyncio.run(_delays(tmp_path, block=2.5))
    # the polls due during the block could not start: they are counted as skipped, and the
    # worst delay of the minute says by how much
    assert late >= 1.4, late
    assert missed >= 1
    assert polls >= 3


def test_a_healthy_agent_starts_polls_on_time(tmp_path: Path) -> None:
    late, missed, polls = asyncio.run(_delays(tmp_path, block=0))
    assert polls >= 4 and missed == 0
    assert late < 0.5, late


def test_the_largest_delay_of_the_last_minute_matches_a_full_scan() -> None:
    import random

    from upkeep.agents.lateness import WINDOW, PollLateness

    rng = random.Random(17)
    tally = PollLateness()
    seen: list[tuple[float, float]] = []
    now = 1000.0
    for _ in range(3000):
        now += rng.choice([0.01, 0.2, 1.0, 7.0, 45.0])
        delay = rng.choice([0.0, 0.001, rng.random(), rng.random() * 30])
        tally.record("snmp", delay, now)
        seen.append((now, delay))
        asked = now + rng.choice([0.0, 0.0, 30.0, 59.9, 61.0])
        expected = max((d for t, d in seen if t >= asked - WINDOW), default=0.0)
        assert tally.max_recent("snmp", asked) == expected
    assert tally.max_recent("snmp", now + WINDOW + 1) == 0.0
