"""``policies.kpi:``: the outage-recovery KPI scale, flap handling and maintenance windows.

Example::

    policies:
      kpi:
        scales:                  # versioned: a new scale applies from its fiscal year on
          - valid_from_fy: 2500
            thresholds: {5: 12h, 4: 24h, 3: 36h, 2: 48h, 1: 60h}
        open_after: 2            # consecutive failed polls before an incident opens
        close_after: 3           # consecutive good polls before it is restored
        merge_gap: 15m           # outages closer than this become one incident
        maintenance:
          - {system: jfs, start: "2025-03-15 22:00", end: "2025-03-16 02:00",
             reason: "ปรับปรุงฐานข้อมูล", approved_by: director}

Thresholds are inclusive (exactly 12 h is level 5), in wall-clock hours, from the office's
Digital Action Plan (CONTEXT.md). Times without a zone are Asia/Bangkok.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from upkeep.config.base import Duration, StrictModel

_BANGKOK = timezone(timedelta(hours=7), "ICT")
DEFAULT_THRESHOLDS = {5: 12 * 3600.0, 4: 24 * 3600.0, 3: 36 * 3600.0, 2: 48 * 3600.0,
                      1: 60 * 3600.0}


class KpiScale(StrictModel):
    #: first Buddhist-Era fiscal year this scale applies to
    valid_from_fy: Annotated[int, Field(ge=2400, le=3000)] = 2500
    thresholds: dict[int, Duration] = dict(DEFAULT_THRESHOLDS)
    #: the level of a fiscal year without any incident
    no_incident_level: Annotated[int, Field(ge=0, le=5)] = 5

    @field_validator("thresholds")
    @classmethod
    def _levels(cls, value: dict[int, float]) -> dict[int, float]:
        if sorted(value) != [1, 2, 3, 4, 5]:
            raise ValueError("give a threshold for each of the levels 5, 4, 3, 2 and 1")
        for better in range(5, 1, -1):
            if value[better] >= value[better - 1]:
                raise ValueError(f"level {better} must allow less time than level {better - 1}")
        return value


def _bangkok(value: object) -> object:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date-time like 2025-03-15 22:00") from None
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=_BANGKOK)
    return value


class MaintenanceWindowConfig(StrictModel):
    """An approved window, known in advance (configured windows are never retroactive)."""

    #: the system it covers; empty = every system
    system: str = ""
    start: datetime
    end: datetime
    reason: str = ""
    approved_by: str = ""

    _zone = field_validator("start", "end", mode="before")(_bangkok)

    @model_validator(mode="after")
    def _order(self) -> MaintenanceWindowConfig:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class KpiConfig(StrictModel):
    scales: Annotated[list[KpiScale], Field(min_length=1)] = [KpiScale()]
    open_after: Annotated[int, Field(ge=1, le=100)] = 2
    close_after: Annotated[int, Field(ge=1, le=100)] = 3
    merge_gap: Duration = 900.0
    #: a silence longer than this many poll intervals is a data gap (docs/background.md §1.1)
    gap_factor: Annotated[float, Field(ge=1.0, le=100.0)] = 2.5
    maintenance: list[MaintenanceWindowConfig] = []

    @field_validator("scales")
    @classmethod
    def _distinct(cls, value: list[KpiScale]) -> list[KpiScale]:
        years = [s.valid_from_fy for s in value]
        if len(set(years)) != len(years):
            raise ValueError("two scales start in the same fiscal year")
        return sorted(value, key=lambda s: s.valid_from_fy)
