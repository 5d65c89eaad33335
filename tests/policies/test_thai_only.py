"""A Thai report is Thai throughout: no English sentence the code writes, no Gregorian ISO
date, in the PDF text (pdftotext) and in the JSON and CSV (the JSON's machine ``data`` apart).
Names the office typed (catalogue document titles, config sources, IDs) are data, not phrases."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from tests.support import need_binary
from upkeep.config import parse_config
from upkeep.kit.db import Database
from upkeep.kit.thai import BANGKOK
from upkeep.policies.assets import AssetRegister
from upkeep.policies.incidents import Ledger
from upkeep.policies.render import Report, render, render_bytes

#: sentences and words the code (not the office's data) writes in English
ENGLISH = ("attested by", "valid until", "expired after", "no attestation", "days left",
           "certificate verified", "refused", "redirects", "negotiated", "headers present",
           "answers like", "not applicable", "awaiting attestation", "listens on loopback",
           "no remote upsd", "no SNMP targets", "no server and no UPS", "standards audit",
           "to be confirmed", "current edition", "indicative figure", "assumption",
           "industry convention", "Service life", "Reference price", "useful life", "Prepared by",
           "Approved by", "Signed", "Position", "Page ", "Summary", "Total", " hours", " days",
           "minutes", "Fiscal year", "Office", "Generated")
ISO_DATE = re.compile(r"(?<!\d)(19|20)\d\d-\d\d-\d\d(?!\d)")


def english_in(text: str) -> list[str]:
    found = [p for p in ENGLISH if p in text]
    found += [m.group() for m in ISO_DATE.finditer(text)]
    return found


def checklist_report(tmp_path: Path) -> Report:
    from tests.policies.test_checklist_report import _result
    from upkeep.policies.checklist_report import build_report

    config, result = _result(tmp_path)
    return build_report(result, config)


def assets_report(tmp_path: Path) -> Report:
    from tests.policies.test_asset_report import LIST
    from upkeep.policies.assets_report import build_report

    config = parse_config("site: hq\n")
    db = Database(tmp_path / "upkeep.db")
    register = AssetRegister(db)
    path = tmp_path / "list.csv"
    path.write_text(LIST, encoding="utf-8")
    register.import_file(path)
    try:
        return build_report(register.assets(), config, 2568, date(2025, 7, 1), 1_750_000_000.0)
    finally:
        db.close()


def kpi_report(tmp_path: Path) -> Report:
    from upkeep.policies.kpi_report import build_report

    def ict(*args: int) -> float:
        return datetime(*args, tzinfo=BANGKOK).timestamp()  # type: ignore[misc]

    config = parse_config(yaml.safe_dump({
        "site": "hq", "data_dir": str(tmp_path),
        "systems": [{"name": "jfs", "title_th": "ระบบสารสนเทศกองทุนยุติธรรม",
                     "title_en": "Justice Fund system", "checks": ["web:jfs"]}]}))
    ledger = Ledger.open(tmp_path)
    try:
        ledger.add("jfs", ict(2025, 2, 3, 8, 0), restored_at=ict(2025, 2, 4, 11, 30), actor="t",
                   at=1.0, cause_category="power_ups", cause_text="ไฟดับ", fix_text="เปลี่ยนแบตเตอรี่")
        ledger.add("jfs", ict(2025, 9, 28, 8, 0), restored_at=None, actor="t", at=1.0)
        return build_report(config, ledger, 2568, ict(2025, 10, 1, 9, 0))
    finally:
        ledger.close()


BUILDERS = {"checklist": checklist_report, "assets": assets_report, "kpi": kpi_report}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_thai_json_and_csv_have_no_english(tmp_path: Path, kind: str) -> None:
    report = BUILDERS[kind](tmp_path)
    doc = json.loads(render_bytes(report, "json", "th"))
    doc.pop("data")
    shown = json.dumps(doc, ensure_ascii=False)
    assert not english_in(shown), english_in(shown)
    table = render_bytes(report, "csv", "th").decode("utf-8-sig")
    assert not english_in(table), english_in(table)
    # the same report in English does say them: the list is not vacuous
    assert english_in(render_bytes(report, "csv", "en").decode("utf-8-sig"))


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_thai_pdf_has_no_english(tmp_path: Path, kind: str) -> None:
    need_binary("pdftotext")
    pdf = render(BUILDERS[kind](tmp_path), "pdf", "th", tmp_path / f"{kind}.pdf")
    text = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    assert not english_in(text), english_in(text)
