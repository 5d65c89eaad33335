"""``policies.kpi:`` (seam; filled in by the policies room)."""

from __future__ import annotations

from upkeep.config.base import StrictModel


class KpiConfig(StrictModel):
    pass
