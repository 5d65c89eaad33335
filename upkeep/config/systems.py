"""``systems:``: what the recovery KPI is about (seam; the policies room fills it in)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from upkeep.config.base import StrictModel


class SystemConfig(StrictModel):
    name: Annotated[str, Field(min_length=1)]
