"""``systems:``: what the recovery KPI is about.

Example::

    systems:
      - name: jfs
        title_th: ระบบสารสนเทศกองทุนยุติธรรม
        title_en: Justice Fund information system
        checks: ["web:jfs", "host:localhost", "service:postgres"]
        rule: any

A check names a target as ``KIND:TARGET``: ``web:NAME`` (a website probe), ``host:localhost``,
``nut:ups1`` / ``snmp:ups2`` (a UPS), or ``service:NAME`` (a host service check, from
``host.services``). ``rule: any`` (default) means the system is down when ANY check is down
(every part is needed); ``rule: all`` means it is down only when ALL are down (redundant
parts, e.g. two mirrors).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from upkeep.config.base import StrictModel

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_CHECK = re.compile(r"^([a-z][a-z0-9_]*):(.+)$")
CHECK_KINDS = ("web", "host", "nut", "snmp", "service")


def split_check(check: str) -> tuple[str, str]:
    """``"web:jfo-site"`` -> ``("web", "jfo-site")``; raises ``ValueError`` when malformed."""
    match = _CHECK.match(check.strip())
    if not match:
        raise ValueError(f"{check!r} is not KIND:TARGET (e.g. web:office, service:postgres)")
    kind, target = match.group(1), match.group(2).strip()
    if kind not in CHECK_KINDS:
        raise ValueError(f"{check!r}: unknown kind {kind!r} (use {', '.join(CHECK_KINDS)})")
    return kind, target


class SystemConfig(StrictModel):
    name: Annotated[str, Field(min_length=1)]
    title_th: str = ""
    title_en: str = ""
    checks: Annotated[list[str], Field(min_length=1)]
    rule: Literal["any", "all"] = "any"
    #: counted in the office's recovery KPI (a system may be watched without being graded)
    kpi: bool = True

    @field_validator("name")
    @classmethod
    def _label(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 63), e.g. jfs")
        return value

    @field_validator("checks")
    @classmethod
    def _checks(cls, value: list[str]) -> list[str]:
        out = []
        for check in value:
            kind, target = split_check(check)
            out.append(f"{kind}:{target}")
        if len(set(out)) != len(out):
            raise ValueError("a check is listed twice")
        return out

    def title(self, lang: str) -> str:
        text = self.title_th if lang == "th" else self.title_en
        return text or self.title_en or self.title_th or self.name
