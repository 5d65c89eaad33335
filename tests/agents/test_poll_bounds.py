"""The scheduler's hard bound on a poll, when the timeout is the whole interval.

An unset timeout defaults to min(default, interval) (Prometheus' scrape_timeout rule), so
``host: {interval: 2s}`` polls with timeout == interval. A target that never answers must
still be cut off in time for its next poll, which would otherwise start late every time
(halving the poll rate, and counted as an overloaded agent).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import pytest

from upkeep.agents.runtime import Agent, phase, poll_limit
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


class Answers(Collector):
    kind = "quick"

    def __init__(self) -> None:
        self.starts: dict[str, list[float]] = {}

    def targets(self) -> Sequence[Target]:
        return []

    async def poll(self, target: Target) -> Reading:
        self.starts.setdefault(target.name, []).append(time.monotonic())
        return Reading(target.kind, target.name, time.time(), True, 0.0)


def test_targets_on_one_interval_are_polled_at_once_then_spread_over_it() -> None:
    """The first poll of every target comes at once; after that each keeps its own phase in
    the interval (a hash of its name), so 40 UPS are not polled in one burst every cycle."""
    interval = 3.0

    async def scenario() -> dict[str, list[float]]:
        agent = Agent(parse_config("host: {enabled: false}\n"))
        collector = Answers()
        try:
            for i in range(40):
                agent._schedule(collector, Target("quick", f"ups{i}", interval, 1.0))
            await asyncio.sleep(2 * interval + 0.5)
        finally:
            await agent._stop_parts()
        return collector.starts

    starts = asyncio.run(scenario())
    assert len(starts) == 40
    first = [s[0] for s in starts.values()]
    assert max(first) - min(first) < 0.5
    second = sorted(s[1] - min(first) for s in starts.values())
    # spread over the interval after the first poll (half an interval at least after it)
    assert second[0] >= interval / 2 - 0.1 and second[-1] <= interval * 1.5 + 0.3
    assert second[-1] - second[0] > interval * 0.6, second
    # then every interval, on the same phase
    for name, times in starts.items():
        gaps = [b - a for a, b in zip(times[1:], times[2:], strict=False)]
        assert all(abs(gap - interval) < 0.3 for gap in gaps), (name, times)
    assert phase(Target("quick", "ups1", 5.0, 1.0)) == phase(Target("quick", "ups1", 60.0, 9.0))


class SwallowsCancel(NeverAnswers):
    """A poll that turns its cancel into an answer, as 3.11's wait_for can by accident."""

    kind = "swallow"

    async def poll(self, target: Target) -> Reading:
        self.starts.append(time.monotonic())
        if len(self.starts) == 1:  # only once: a regression fails the test, not hangs it
            with contextlib.suppress(asyncio.CancelledError):  # swallowed
                await asyncio.sleep(3600)
        return Reading(target.kind, target.name, time.time(), True, 0.0)


def test_stop_ends_a_poll_loop_whose_cancel_was_swallowed() -> None:
    async def scenario() -> tuple[SwallowsCancel, float, int]:
        agent = Agent(parse_config("host: {enabled: false}\n"))
        collector = SwallowsCancel()
        agent._schedule(collector, Target("swallow", "s", 0.5, 10.0))
        await asyncio.sleep(0.3)  # the first poll is in flight
        started = time.monotonic()
        await agent._stop_parts()
        took = time.monotonic() - started
        polls = len(collector.starts)
        await asyncio.sleep(1.2)  # two more intervals: nothing polls any more
        return collector, took, polls

    collector, took, polls = asyncio.run(scenario())
    assert polls == 1 and len(collector.starts) == 1, collector.starts
    assert took < 1.0
