"""How late polls start against their schedule: the first sign of an overloaded agent.

Prometheus exposes ``prometheus_target_interval_length_seconds`` for the same purpose. The
agent records, per collector kind, every poll's start delay (its start minus the time the
scheduler had it due, jitter included) as a sum and a count (rate(sum)/rate(count) is the
mean delay) and the largest delay of the last minute, which the ``UpkeepAgentOverloaded``
alert watches. A healthy agent starts polls within milliseconds; seconds mean the event loop
or the CPU cannot keep up, and targets will soon go stale.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator

from upkeep.metrics import Sample, counter, gauge, sample

DELAY_TOTAL = counter("upkeep_poll_delay_seconds_total",
                      "Sum of how late polls started against their schedule, by collector kind.",
                      ("kind",), unit="seconds",
                      counterpart="prometheus_target_interval_length_seconds")
POLLS_TOTAL = counter("upkeep_polls_total", "Polls started, by collector kind.", ("kind",))
MISSED_TOTAL = counter("upkeep_polls_missed_total",
                       "Polls skipped because they could not start within their interval "
                       "(the agent is overloaded).", ("kind",))
DELAY_MAX = gauge("upkeep_poll_delay_max_seconds",
                  "How late the latest poll start (or skipped poll) of the last minute was, "
                  "against its schedule.",
                  ("kind",), unit="seconds")

WINDOW = 60.0


class PollLateness:
    """Thread-safe tally of poll start delays."""

    #: cheap (a few samples per collector kind): recomputed whenever the exposition renders
    every = 0.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sum: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self._missed: dict[str, int] = {}
        #: per kind, the last minute's (time, delay) with every delay smaller than a later
        #: one dropped: its front is the minute's largest (a sliding-window maximum, so a
        #: render never scans the ~5,000 polls a minute of a 400-UPS agent)
        self._recent: dict[str, deque[tuple[float, float]]] = {}

    def record(self, kind: str, delay: float, now: float | None = None, *,
               missed: int = 0) -> None:
        """A poll started ``delay`` seconds late, or ``missed`` polls were skipped, the
        oldest of them that late."""
        delay = max(delay, 0.0)
        now = time.monotonic() if now is None else now
        with self._lock:
            if missed:
                self._missed[kind] = self._missed.get(kind, 0) + missed
            else:
                self._sum[kind] = self._sum.get(kind, 0.0) + delay
                self._count[kind] = self._count.get(kind, 0) + 1
            recent = self._recent.setdefault(kind, deque())
            while recent and recent[-1][1] <= delay:
                recent.pop()
            recent.append((now, delay))
            while recent[0][0] < now - WINDOW:
                recent.popleft()

    def max_recent(self, kind: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:  # the first delay still in the window is the largest in it
            return next((d for t, d in self._recent.get(kind, ()) if t >= now - WINDOW), 0.0)

    def samples(self) -> Iterator[Sample]:
        now = time.monotonic()
        with self._lock:
            kinds = sorted(self._count.keys() | self._missed.keys())
        for kind in kinds:
            yield sample(DELAY_TOTAL, self._sum.get(kind, 0.0), kind=kind)
            yield sample(POLLS_TOTAL, self._count.get(kind, 0), kind=kind)
            yield sample(MISSED_TOTAL, self._missed.get(kind, 0), kind=kind)
            yield sample(DELAY_MAX, self.max_recent(kind, now), kind=kind)
