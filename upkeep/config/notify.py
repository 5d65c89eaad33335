"""``notify:``: typed seam, filled in by the room that owns it."""

from __future__ import annotations

from upkeep.config.base import StrictModel


class NotifyConfig(StrictModel):
    pass
