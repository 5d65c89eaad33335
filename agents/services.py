"""Services: long-lived parts of the agent that are not collectors.

Power-event recording, the incident engine, the notifier and the policy metrics hang off the
running agent through this small protocol. Each room exposes a factory; the list below is
explicit (no scanning), so what runs is readable in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from upkeep.agents import events, notify
from upkeep.policies import (
    assets_service,
    checklist_service,
    history,
    ita,
    kpi_service,
    satisfaction_service,
)

if TYPE_CHECKING:
    from upkeep.agents.runtime import Agent


class Service(Protocol):
    name: str

    async def start(self, agent: Agent) -> None: ...

    async def stop(self) -> None: ...


ServiceFactory = Callable[["Agent"], "Service | None"]


def service_factories() -> list[ServiceFactory]:
    """Every service factory, in start order."""
    return [events.factory, notify.factory, ita.factory, checklist_service.checklist_service,
            assets_service.assets_service, kpi_service.factory, satisfaction_service.factory,
            history.factory]
