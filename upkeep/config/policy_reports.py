"""``policies.reports:``: the office named on every report and who signs each kind.

Example::

    policies:
      reports:
        organisation: {th: สำนักงานกองทุนยุติธรรม, en: Justice Fund Office}
        unit: {th: กลุ่มเทคโนโลยีสารสนเทศ, en: Information Technology Group}
        signatures:
          kpi:
            - {role: prepared, name: นางสาวสมศรี ใจดี, position: นักวิชาการคอมพิวเตอร์ปฏิบัติการ}
            - {role: reviewed, name: นายสมชาย รักงาน, position: ผู้อำนวยการกลุ่มเทคโนโลยีสารสนเทศ}
            - {role: approved, name: นายใหญ่ ยิ่งยง, position: ผู้อำนวยการสำนักงานกองทุนยุติธรรม}
          checklist: [...]
          assets: [...]

The organisation and unit are printed above the title of every report (PDF, XLSX, CSV and
JSON). Each signer is printed in the PDF's signature block in the order given: the role
(ผู้จัดทำ / ผู้ตรวจสอบ / ผู้อนุมัติ), a line to sign on, the name in brackets, the position
and a date line. A kind without signers gets the three roles with blank dotted lines.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from upkeep.config.base import StrictModel

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Role = Literal["prepared", "reviewed", "approved"]


class Bilingual(StrictModel):
    th: Name
    #: the English name (default: the Thai one)
    en: Name | None = None


class SignerConfig(StrictModel):
    role: Role
    name: Name
    position: Name


class SignaturesConfig(StrictModel):
    kpi: Annotated[list[SignerConfig], Field(max_length=6)] = []
    checklist: Annotated[list[SignerConfig], Field(max_length=6)] = []
    assets: Annotated[list[SignerConfig], Field(max_length=6)] = []

    @model_validator(mode="after")
    def _roles_once(self) -> SignaturesConfig:
        for kind in ("kpi", "checklist", "assets"):
            roles = [s.role for s in getattr(self, kind)]
            for role in set(roles):
                if roles.count(role) > 1:
                    raise ValueError(f"{kind}: role {role!r} is given more than once")
        return self


class ReportsConfig(StrictModel):
    organisation: Bilingual | None = None
    unit: Bilingual | None = None
    signatures: SignaturesConfig = SignaturesConfig()
