"""The collector protocol and its registry.

A collector module declares its metrics (``upkeep.metrics.gauge``/``counter``), subclasses
``Collector`` and registers a factory with ``@register("kind")``. The factory receives the
whole ``Config`` only to pick out its own typed sub-model and returns ``None`` when there is
nothing to poll. ``poll`` must bound its own I/O by ``target.timeout``; the scheduler also
wraps it in a hard ``asyncio.wait_for`` as a last resort.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any, ClassVar

from upkeep.config import Config
from upkeep.reading import Reading


@dataclass(frozen=True)
class Target:
    """One thing polled on its own schedule."""

    kind: str
    name: str
    interval: float
    timeout: float
    jitter: float = 0.0
    #: the collector's own typed settings for this target (a config sub-model)
    settings: Any = field(default=None, compare=False, hash=False)


class Collector(abc.ABC):
    kind: ClassVar[str]

    @abc.abstractmethod
    def targets(self) -> Sequence[Target]:
        """The targets to schedule; called once per (re)load."""

    @abc.abstractmethod
    async def poll(self, target: Target) -> Reading | Sequence[Reading]:
        """Poll one target. Raise ``CollectorError`` subclasses on failure.

        A target may stand for several things (one upsd serving several UPS units): return
        one reading each then, every one with its own ``target`` name.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called on shutdown and reload."""


Factory = Callable[[Config], "Collector | None"]
FACTORIES: dict[str, Factory] = {}


def register(kind: str) -> Callable[[Factory], Factory]:
    def decorate(factory: Factory) -> Factory:
        if kind in FACTORIES:
            raise ValueError(f"collector kind {kind!r} registered twice")
        FACTORIES[kind] = factory
        return factory

    return decorate


def _uses_nut(config: Config) -> bool:
    # no ``ups:`` key at all means "discover every UPS on the local upsd"
    return config.ups is None or any(u.nut is not None for u in config.ups)


#: kind -> (module, whether this config needs it). A module is imported only when the config
#: uses its kind, so an agent without SNMP targets loads no SNMP library (and the SNMP
#: collector imports pysnmp, several MiB of RSS, only for v1/v3 or where gufo-snmp is missing).
COLLECTOR_MODULES: dict[str, tuple[str, Callable[[Config], bool]]] = {
    "host": ("upkeep.collectors.host", lambda c: c.host.enabled),
    "nut": ("upkeep.collectors.nut", _uses_nut),
    "snmp": ("upkeep.collectors.snmp", lambda c: any(u.snmp is not None for u in c.ups or [])),
    "web": ("upkeep.collectors.web", lambda c: bool(c.websites)),
    "audit": ("upkeep.collectors.web_audit", lambda c: any(w.audit.enabled for w in c.websites)),
}


def build_collectors(config: Config) -> list[Collector]:
    collectors = []
    for kind, (module, needed) in COLLECTOR_MODULES.items():
        if not needed(config):
            continue
        import_module(module)
        collector = FACTORIES[kind](config)
        if collector is not None:
            collectors.append(collector)
    return collectors


def load_all() -> None:
    """Import every collector module (docs/metrics.md, tests): explicit, no scanning."""
    for module, _ in COLLECTOR_MODULES.values():
        import_module(module)
