"""From a system's up/down signal to outages: a pure, resumable state machine.

Samples arrive in time order as ``(time, up)``. The rules (docs/background.md section 1.1):

- *open*: an outage opens after ``open_after`` consecutive DOWN samples; it started at the
  first DOWN sample of that run (a single failed poll is ignored);
- *close*: it is restored after ``close_after`` consecutive UP samples; it was restored at the
  first UP sample of that run (fewer good samples, then DOWN again, continue the outage);
- *merge*: an outage starting less than ``merge_gap`` after the previous one was restored
  reopens that one (start of the first to end of the last), so flapping around a threshold
  cannot turn a 12 h 30 m outage into two short ones;
- *data gaps*: a silence longer than ``gap_factor`` x ``interval`` is a gap. With the same
  state on both sides it is bridged (``gap_seconds`` records it). At a change of state the
  change happened somewhere inside the gap: ``started_earliest`` / ``restored_earliest`` is
  the first sample slot after the last sample before the gap, which gives the KPI a best and
  a worst case.

The machine's state is a plain dict (``to_dict`` / ``from_dict``) so the agent can persist it
with every sample and a killed agent continues the same outage after restart (the silence
while it was down is just another gap).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

EventKind = Literal["open", "reopen", "restore"]


@dataclass(frozen=True)
class DetectorParams:
    open_after: int = 2
    close_after: int = 3
    merge_gap: float = 900.0
    #: the expected time between samples (the poll or scrape interval)
    interval: float = 60.0
    gap_factor: float = 1.5


@dataclass
class Outage:
    seq: int
    started_at: float
    started_earliest: float
    detected_at: float
    restored_at: float | None = None
    restored_earliest: float | None = None
    gap_seconds: float = 0.0
    #: the raw outages merged into this one, ``[[start, restored], ...]``
    parts: list[list[float | None]] = field(default_factory=list)
    #: the ledger's id for this outage, set by whoever stores it
    ref: int | None = None

    @property
    def open(self) -> bool:
        return self.restored_at is None


@dataclass(frozen=True)
class Event:
    kind: EventKind
    outage: Outage
    at: float


@dataclass
class _State:
    down: bool = False
    last_time: float | None = None
    last_up: bool | None = None
    run_count: int = 0
    run_start: float | None = None
    run_earliest: float | None = None
    gap_pending: float = 0.0
    current: Outage | None = None
    previous: Outage | None = None
    next_seq: int = 1


class Detector:
    def __init__(self, params: DetectorParams, state: dict[str, Any] | None = None) -> None:
        self.params = params
        self.state = _State() if state is None else _load(state)

    # --- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self.state)

    @property
    def current(self) -> Outage | None:
        return self.state.current

    @property
    def last_time(self) -> float | None:
        return self.state.last_time

    def adopt(self, outage: Outage) -> None:
        """Continue an outage the ledger holds open but this state does not know (lost or
        reset state): the next good samples restore it instead of leaving it open forever."""
        s = self.state
        if not outage.parts or outage.parts[-1][1] is not None:
            outage.parts.append([outage.started_at, None])
        s.down, s.current, s.previous = True, outage, None
        s.run_count, s.run_start, s.run_earliest = 0, None, None
        s.next_seq = max(s.next_seq, outage.seq + 1)

    # --- the machine ---------------------------------------------------------------------
    def feed(self, at: float, up: bool) -> list[Event]:
        s, p = self.state, self.params
        if s.last_time is not None and at <= s.last_time:
            return []  # out of order or repeated: time only moves forward
        boundary = at
        if s.last_time is not None and at - s.last_time > p.gap_factor * p.interval:
            gap = at - s.last_time - p.interval
            if s.last_up == up:
                if s.down and not up and s.current is not None:
                    s.current.gap_seconds += gap
                elif not up:
                    s.gap_pending += gap  # inside a run that may still open an outage
            else:
                # the change happened somewhere in the gap: from the first missed slot on
                boundary = s.last_time + p.interval
        s.last_time, s.last_up = at, up
        if s.down == up:  # a sample against the confirmed state: a run towards a change
            if s.run_count == 0:
                s.run_start, s.run_earliest = at, min(boundary, at)
            s.run_count += 1
        else:
            s.run_count, s.run_start, s.run_earliest = 0, None, None
            if up:
                s.gap_pending = 0.0
            return []
        if not s.down and s.run_count >= p.open_after:
            return [self._open(at)]
        if s.down and s.run_count >= p.close_after:
            return [self._restore(at)]
        return []

    def _open(self, at: float) -> Event:
        s, p = self.state, self.params
        assert s.run_start is not None and s.run_earliest is not None
        start, earliest = s.run_start, s.run_earliest
        s.down, s.run_count, s.run_start, s.run_earliest = True, 0, None, None
        prev = s.previous
        if prev is not None and prev.restored_at is not None \
                and earliest - prev.restored_at < p.merge_gap:
            prev.gap_seconds += s.gap_pending
            prev.restored_at = prev.restored_earliest = None
            prev.parts.append([start, None])
            s.current, s.previous, s.gap_pending = prev, None, 0.0
            return Event("reopen", prev, at)
        outage = Outage(s.next_seq, start, earliest, at, gap_seconds=s.gap_pending,
                        parts=[[start, None]])
        s.next_seq += 1
        s.current, s.gap_pending = outage, 0.0
        return Event("open", outage, at)

    def _restore(self, at: float) -> Event:
        s = self.state
        assert s.current is not None and s.run_start is not None and s.run_earliest is not None
        outage = s.current
        outage.restored_at, outage.restored_earliest = s.run_start, s.run_earliest
        outage.parts[-1][1] = s.run_start
        s.down, s.run_count, s.run_start, s.run_earliest = False, 0, None, None
        s.current, s.previous = None, outage
        return Event("restore", outage, at)


def _load(data: dict[str, Any]) -> _State:
    values = dict(data)
    for key in ("current", "previous"):
        if values.get(key) is not None:
            values[key] = Outage(**values[key])
    return _State(**values)


def detect(samples: Iterable[tuple[float, bool | None]],
           params: DetectorParams = DetectorParams()) -> list[Outage]:
    """Every outage in a sample series (``None`` = no usable sample, e.g. the prober was down).

    The last outage is open (``restored_at`` None) when the series ends while down.
    """
    machine = Detector(params)
    found: dict[int, Outage] = {}
    for at, up in sorted(samples, key=lambda pair: pair[0]):
        if up is None:
            continue
        for event in machine.feed(at, up):
            found[event.outage.seq] = event.outage
    return sorted(found.values(), key=lambda o: o.started_at)
