"""Typed access to the running agent's parts (services), for the rooms above the core.

A page or a report asks ``agent.service(KpiService)`` and gets a ``KpiService`` (mypy knows
its attributes) or ``PartMissing`` with the reason a person can act on ("the kpi service is
not running", the database error). Only that error means "absent": an ``AttributeError`` or
``TypeError`` inside a part is a bug and is not turned into "not available".
"""

from __future__ import annotations

from typing import Protocol, TypeVar

S = TypeVar("S")


class PartMissing(LookupError):
    """A part (service) is not running in this agent; ``str(err)`` says why."""


class HasServices(Protocol):
    """What the UI and reports need of the agent to reach its parts."""

    def service(self, kind: type[S]) -> S:
        """The running service of ``kind``; ``PartMissing`` when there is none."""
        ...
