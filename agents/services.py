"""Services: long-lived parts of the agent that are not collectors.

Power-event recording, the incident engine, the notifier and the policy metrics hang off the
running agent through this small protocol. Each room exposes a factory; the list below is
explicit (no scanning), so what runs is readable in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from upkeep.agents.runtime import Agent


class Service(Protocol):
    name: str

    async def start(self, agent: Agent) -> None: ...

    async def stop(self) -> None: ...


ServiceFactory = Callable[["Agent"], "Service | None"]


def service_factories() -> list[ServiceFactory]:
    """Every service factory, in start order."""
    return [__import__("upkeep.agents.events", fromlist=["factory"]).factory,
            __import__("upkeep.agents.notify", fromlist=["factory"]).factory,
            __import__("upkeep.policies.checklist_service", fromlist=["x"]).checklist_service,
            __import__("upkeep.policies.assets_service", fromlist=["x"]).assets_service,
            __import__("upkeep.policies.kpi_service", fromlist=["factory"]).factory]
