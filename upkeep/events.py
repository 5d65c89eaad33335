"""The ``Event``: one UPS power transition, as recorded by ``upkeep.agents.events``.

Kinds follow NUT upsmon's notifications (ONBATT, ONLINE, LOWBATT, REPLBATT, FSD, COMMBAD,
COMMOK), named for people rather than for C macros.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ON_BATTERY = "on_battery"
ON_LINE = "on_line"
LOW_BATTERY = "low_battery"
REPLACE_BATTERY = "replace_battery"
FORCED_SHUTDOWN = "forced_shutdown"
COMM_LOST = "comm_lost"
COMM_RESTORED = "comm_restored"

EVENT_KINDS = (ON_BATTERY, ON_LINE, LOW_BATTERY, REPLACE_BATTERY, FORCED_SHUTDOWN, COMM_LOST,
               COMM_RESTORED)

#: upsmon's NOTIFYTYPE for each kind, for people who know NUT
UPSMON_NAMES = {ON_BATTERY: "ONBATT", ON_LINE: "ONLINE", LOW_BATTERY: "LOWBATT",
                REPLACE_BATTERY: "REPLBATT", FORCED_SHUTDOWN: "FSD", COMM_LOST: "COMMBAD",
                COMM_RESTORED: "COMMOK"}

#: how bad each kind is, for notifiers choosing a channel
SEVERITY = {ON_BATTERY: "critical", LOW_BATTERY: "critical", FORCED_SHUTDOWN: "critical",
            COMM_LOST: "warning", REPLACE_BATTERY: "warning", ON_LINE: "resolved",
            COMM_RESTORED: "resolved"}


@dataclass(frozen=True)
class Event:
    """``time`` is Unix seconds (the reading's time); ``details`` is JSON-able."""

    ups: str
    kind: str
    time: float
    details: Mapping[str, Any] = field(default_factory=dict)
    #: "nut" or "snmp": the kind of reading that showed it
    source: str = ""
    #: the row id in the agent's database (None until stored)
    id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")

    @property
    def severity(self) -> str:
        return SEVERITY[self.kind]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "ups": self.ups, "kind": self.kind, "time": self.time,
                "source": self.source, "severity": self.severity,
                "upsmon": UPSMON_NAMES[self.kind], "details": dict(self.details)}


class PowerEventLog:
    """The recorded power events, as the rooms above the agent read them: the UI asks the
    running agent for ``agent.service(PowerEventLog)`` and never imports the recorder."""

    def events(self, *, ups: Iterable[str] = (), since: float | None = None,
               until: float | None = None, limit: int = 100) -> list[Event]:
        """Newest first, filtered by UPS and time."""
        raise NotImplementedError  # a base class (not an ABC: agent.service() takes it)
