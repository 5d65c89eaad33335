"""The scheduler's hard bound on a poll, when the timeout is the whole interval.

An unset timeout defaults to min(default, interval) (Prometheus' scrape_timeout rule), so
``host: {interval: 2s}`` polls with timeout == interval. A target that never answers must
still be cut off in time for its next poll, which would otherwise start late every time
(halving the poll rate, and counted as an overloaded agent).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from upkeep.agents.runtime import Agent, poll_limit
from upkeep.collectors.base import Collector, Target
from upkeep.config import parse_config
from upkeep.reading import Reading


class NeverAnswers(Collector):
    kind = "hang"

    def __init__(self) -> None:
        self.starts: list[float] = []

    def targets(self) -> Sequence[Target]:
        return []

    async def poll(self, target: Target) -> Reading:
        self.starts.append(time.monotonic())
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


def run_for(seconds: float, target: Target) -> tuple[NeverAnswers, list[Reading], float]:
    async def scenario() -> tuple[NeverAnswers, list[Reading], float]:
        agent = Agent(parse_config("host: {enabled: false}\n"))
        collector = NeverAnswers()
        try:
            agent._schedule(collector, target)
            await asyncio.sleep(seconds)
        finally:
            await agent._stop_parts()
        [missed] = [s.value for s in agent.lateness.samples()
                    if s.metric == "upkeep_polls_missed_total"]
        return collector, agent.store.readings(), missed

    return asyncio.run(scenario())


def test_a_dead_target_with_timeout_equal_to_interval_is_polled_every_interval() -> None:
    collector, readings, missed = run_for(4.6, Target("hang", "dead", 1.0, 1.0))
    # polls at ~0, 1, 2, 3, 4 s; with the bound at the full interval every second one was
    # skipped (0, 2, 4)
    assert len(collector.starts) >= 5, collector.starts
    [reading] = readings
    assert (reading.ok, reading.reason) == (False, "timeout")
    assert reading.duration < 1.0
    assert missed == 0


def test_poll_limit() -> None:
    # a timeout shorter than the interval is the bound, as configured
    assert poll_limit(Target("k", "t", 10.0, 9.5)) == 9.5
    assert poll_limit(Target("k", "t", 2.0, 0.5, jitter=0.2)) == 0.5
    # the whole interval: 90% of the shortest gap between two polls (jitter only delays)
    assert poll_limit(Target("k", "t", 2.0, 2.0)) == pytest.approx(1.8)
    assert poll_limit(Target("k", "t", 10.0, 10.0, jitter=1.0)) == pytest.approx(8.1)
