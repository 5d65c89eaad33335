"""What a room may see of the running agent, as Protocols (the agent itself lives in
``upkeep.agents.runtime`` and satisfies them structurally).

Policies and dashboards get the running agent handed in (a service's ``start(agent)``, a
route's ``request.app.state.agent``) and type it as ``AgentView``: its config, the state store
(latest readings, listeners, extra metric sources), the database (or why it is closed), the
services and the collectors' targets. So they need not import ``upkeep.agents``, which
imports them (DESIGN.md: layers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from upkeep.config import Config
from upkeep.kit.db import Database
from upkeep.metrics import Sample
from upkeep.reading import Reading

#: told of every new reading: (the target's previous reading or None, the new one)
Listener = Callable[[Reading | None, Reading], None]
#: extra samples computed from the agent's own data (events, KPI, checklist ...)
SampleSource = Callable[[], Iterable[Sample]]

S = TypeVar("S")


class TargetStateView(Protocol):
    """The newest reading of one target and its freshness."""

    @property
    def latest(self) -> Reading: ...

    @property
    def last_success(self) -> float | None: ...

    @property
    def failures(self) -> int: ...


class StoreView(Protocol):
    """The agent's in-memory state store."""

    def get(self, kind: str, target: str) -> TargetStateView | None: ...

    def states(self) -> Sequence[TargetStateView]: ...

    def readings(self, kind: str | None = None) -> Sequence[Reading]: ...

    def subscribe(self, listener: Listener) -> None: ...

    def unsubscribe(self, listener: Listener) -> None: ...

    def add_source(self, source: SampleSource, *, every: float = 0.0) -> None: ...

    def remove_source(self, source: SampleSource) -> None: ...

    def source_changed(self, source: SampleSource) -> None: ...

    def changed(self) -> None: ...


class TargetView(Protocol):
    """One configured target of a collector."""

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def interval(self) -> float: ...


class CollectorView(Protocol):
    def targets(self) -> Sequence[TargetView]: ...


class ServiceView(Protocol):
    @property
    def name(self) -> str: ...


class AgentView(Protocol):
    """The running agent, as the rooms above the kit use it."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> StoreView: ...

    @property
    def db(self) -> Database | None: ...

    @property
    def db_error(self) -> str | None: ...

    @property
    def services(self) -> Sequence[ServiceView]: ...

    @property
    def collectors(self) -> Sequence[CollectorView]: ...

    def service(self, kind: type[S]) -> S:
        """The running service of ``kind``; ``upkeep.parts.PartMissing`` when there is none
        (see ``upkeep.parts.HasServices``)."""
        ...
