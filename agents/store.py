"""The agent's state: the latest reading per target, in memory.

``StateStore`` keeps the newest ``Reading`` of every target plus freshness facts, tells
listeners about each new reading (events, incidents and the notifier hang off this), and
bumps ``generation`` so the exposition knows when to render again.

The agent's SQLite file (``Database``) lives below the rooms, in ``upkeep.kit.db``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from upkeep.kit.agent import Listener, SampleSource
from upkeep.reading import Reading

log = logging.getLogger(__name__)

@dataclass(eq=False)
class MetricSource:
    """Samples computed from the agent's own data, re-computed on their own terms.

    ``every`` is the longest a computed result is served (0: recomputed whenever the
    exposition renders); ``stale`` asks for a recomputation at the next render, which the
    owner sets through ``StateStore.source_changed`` when its inputs change.
    """

    compute: SampleSource
    every: float = 0.0
    stale: bool = True


@dataclass
class TargetState:
    latest: Reading
    last_success: float | None
    #: consecutive failed polls (0 when the latest poll succeeded)
    failures: int


class StateStore:
    def __init__(self) -> None:
        self._targets: dict[tuple[str, str], TargetState] = {}
        self._listeners: list[Listener] = []
        self._sources: list[MetricSource] = []
        self._lock = threading.Lock()
        self.generation = 0
        self._changed: Callable[[], None] | None = None

    # --- readings ----------------------------------------------------------------------
    def put(self, reading: Reading) -> None:
        with self._lock:
            old = self._targets.get(reading.key)
            previous = old.latest if old else None
            last_success = reading.time if reading.ok else (old.last_success if old else None)
            failures = 0 if reading.ok else (old.failures + 1 if old else 1)
            self._targets[reading.key] = TargetState(reading, last_success, failures)
            self.generation += 1
        if previous is None or previous.ok != reading.ok:
            if reading.ok:
                log.info("%s %s is up", reading.kind, reading.target)
            else:
                log.warning("%s %s is down: %s %s", reading.kind, reading.target,
                            reading.reason, reading.message)
        for listener in list(self._listeners):
            try:
                listener(previous, reading)
            except Exception:  # a broken listener must not lose the reading for the others
                log.exception("reading listener %r failed", listener)
        self._bump(sources=False)

    def get(self, kind: str, target: str) -> TargetState | None:
        return self._targets.get((kind, target))

    def states(self) -> list[TargetState]:
        with self._lock:
            return list(self._targets.values())

    def items(self) -> list[tuple[tuple[str, str], TargetState]]:
        """(``Reading.key``, state) of every target."""
        with self._lock:
            return list(self._targets.items())

    def readings(self, kind: str | None = None) -> list[Reading]:
        return [s.latest for s in self.states() if kind is None or s.latest.kind == kind]

    def retain(self, keys: set[tuple[str, str]]) -> None:
        """Forget targets no longer configured (after a reload)."""
        with self._lock:
            for key in list(self._targets):
                if key not in keys:
                    del self._targets[key]
        self._bump()

    def forget(self, keys: set[tuple[str, str]]) -> None:
        """Drop these targets (a reading a target no longer produces, e.g. an upsd's
        "lists no UPS" once it lists some)."""
        with self._lock:
            for key in keys:
                self._targets.pop(key, None)
            self.generation += 1
        self.changed()

    # --- hooks -------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def add_source(self, source: SampleSource, *, every: float = 0.0) -> None:
        """Extra samples computed from the agent's own data (events, KPI, checklist ...).

        Policy-derived sources pass ``every`` (seconds) and call ``source_changed`` when their
        inputs change, so the exposition never re-evaluates them on every render.
        """
        self._sources.append(MetricSource(source, every))
        self.changed()

    def remove_source(self, source: SampleSource) -> None:
        self._sources = [s for s in self._sources if s.compute != source]

    def sources(self) -> list[MetricSource]:
        return list(self._sources)

    def source_changed(self, source: SampleSource) -> None:
        """The inputs of ``source`` changed: recompute it at the next render."""
        for entry in self._sources:
            if entry.compute == source:
                entry.stale = True
        self._bump()

    def on_change(self, callback: Callable[[], None] | None) -> None:
        self._changed = callback

    def changed(self) -> None:
        """Something exported changed (a ledger edit, a reload): render again, and
        recompute every source at the next render."""
        for entry in self._sources:
            entry.stale = True
        self._bump()

    def _bump(self, *, sources: bool = True) -> None:
        """A new generation; ``sources``: a source was marked stale, tell the listener.

        A reading changes only its target's series, which the render picks up by generation,
        so it does not wake whoever recomputes the sources."""
        with self._lock:
            self.generation += 1
        if sources and self._changed is not None:
            self._changed()


def now() -> float:
    """Wall-clock time; the single seam tests use to move the clock."""
    return time.time()
