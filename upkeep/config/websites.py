"""``websites:``: websites to probe (seam; the web room fills it in)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from upkeep.config.base import StrictModel


class WebsiteConfig(StrictModel):
    name: Annotated[str, Field(min_length=1)]
    url: str
