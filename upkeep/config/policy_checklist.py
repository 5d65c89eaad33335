"""``policies.checklist:``: the security-policy checklist (plan project 11).

The control catalogue ships with upkeep (``upkeep/policies/catalogue.yml``); an office may
point ``catalogue`` at its own YAML, whose controls replace shipped ones with the same id and
add new ones (``disable`` removes shipped ones it does not use).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from upkeep.config.base import StrictModel


class ChecklistConfig(StrictModel):
    #: the office's catalogue override (YAML, same shape as the shipped catalogue)
    catalogue: str | None = None
    #: control ids of the shipped catalogue the office does not use
    disable: list[str] = []
    #: where attested evidence files are copied (default: DATA_DIR/evidence)
    evidence_dir: str | None = None
    #: a certificate must stay valid longer than this (plan: "more than 30 days")
    cert_min_days: Annotated[int, Field(ge=1, le=365)] = 30
    #: minimum HSTS max-age, seconds (internet.nl asks for one year)
    hsts_min_seconds: Annotated[int, Field(ge=0)] = 31_536_000
    #: security headers a website must send (names as the web collector reports them)
    required_headers: list[str] = ["content-security-policy", "x-content-type-options",
                                   "x-frame-options", "referrer-policy"]
    #: websites the checklist ignores (name -> reason), e.g. an intranet page without IPv6
    exempt_websites: dict[str, str] = {}
