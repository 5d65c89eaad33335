"""``ups:``: UPS units over NUT or SNMP (seam; the UPS room fills it in)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from upkeep.config.base import StrictModel


class UpsConfig(StrictModel):
    name: Annotated[str, Field(min_length=1)]
