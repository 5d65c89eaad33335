"""The assets report procurement pastes into a budget request: sections, groups, totals, Thai."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.support import REPO, need_binary
from upkeep.config import parse_config
from upkeep.kit.db import Database
from upkeep.policies.assets import AssetRegister
from upkeep.policies.assets_report import build_report, collect
from upkeep.policies.render import Report, render, render_bytes

CONFIG = parse_config("""
site: hq
policies:
  assets:
    life: {ups_battery: {years: 4, source: "office rule 2568"}}
    prices:
      - {class: ups, model: Smart-UPS 1500, unit_price_thb: 25000, source: "quote 2568"}
      - {class: ups_battery, unit_price_thb: 3500, source: "quote 2568"}
""")

LIST = ("asset_tag,class,site,manufacturer,model,serial,in_service,vendor_eos,status\n"
        # the cases
        "UPS-1,ups,hq,APC,Smart-UPS 1500,AS1,2016-11-15,,in_use\n"
        "BAT-1,ups_battery,hq,APC,RBC7,,2021-06-01,,in_use\n"
        "PC-1,pc,branch-cm,Dell,OptiPlex 7070,DL1,2019-03-01,,in_use\n"
        # FY boundary: 30 Sep is FY 2568, 1 Oct is FY 2569
        "SRV-1,server,hq,Dell,R740,DL2,2020-09-30,,in_use\n"
        "SRV-2,server,hq,Dell,R740,DL3,2020-10-01,,in_use\n"
        "SRV-3,server,branch-cm,HP,DL380,HP1,2021-03-01,2025-12-31,in_use\n"
        "PC-9,pc,hq,Dell,OptiPlex,DL9,2010-01-01,,disposed\n"
        "PC-X,pc,hq,Dell,OptiPlex,DLX,,,in_use\n")


@pytest.fixture
def assets(tmp_path: Path) -> list:
    db = Database(tmp_path / "upkeep.db")
    register = AssetRegister(db)
    path = tmp_path / "list.csv"
    path.write_text(LIST, encoding="utf-8")
    assert not register.import_file(path).rejected
    yield register.assets()
    db.close()


def _report(assets: list, fy: int, as_of: date) -> Report:
    return build_report(assets, CONFIG, fy, as_of, 1_750_000_000.0)


@pytest.mark.parametrize(("fy", "as_of", "expected"), [
    # the battery lapses on 1 June 2025, inside FY 2568: "due in the year" whatever the
    # report date (issue 14: the budget does not depend on the day it is written)
    (2568, date(2025, 7, 1), {"BAT-1": "due_in_fy", "PC-1": "overdue", "SRV-1": "due_in_fy",
                              "SRV-2": "next_fy", "SRV-3": "next_fy", "UPS-1": "later",
                              "PC-X": "unknown"}),
    (2568, date(2025, 5, 31), {"BAT-1": "due_in_fy"}),
    # SRV-1 lapsed on 30 Sep 2025, the last day of FY 2568: already past at the FY 2569 start
    (2569, date(2025, 9, 1), {"BAT-1": "overdue", "SRV-1": "overdue", "SRV-2": "due_in_fy",
                              "SRV-3": "due_in_fy", "UPS-1": "next_fy"}),
    (2570, date(2026, 9, 1), {"UPS-1": "due_in_fy"}),
])
def test_sections_across_fiscal_years(assets: list, fy: int, as_of: date,
                                      expected: dict[str, str]) -> None:
    states = {i.asset.name: i.state for i in collect(assets, CONFIG.policies.assets, fy, as_of)}
    assert "PC-9" not in states  # disposed
    for name, state in expected.items():
        assert states[name] == state, name


def test_budget_lines_group_by_site_and_class(assets: list) -> None:
    report = _report(assets, 2569, date(2025, 9, 1))
    data = report.data
    # overdue: BAT-1 3,500 + PC-1 22,000 + SRV-1; due in FY 2569: SRV-2, SRV-3 (120,000 each)
    assert data["budget_thb"] == 3_500 + 22_000 + 3 * 120_000
    assert data["next_fiscal_year_thb"] == 25_000  # UPS-1 at its model price
    budget = report.sections[0].table
    assert budget is not None
    lines = [(r.get("site"), getattr(r.get("class"), "en", None),
              getattr(r.get("qty"), "value", r.get("qty")),
              getattr(r.get("amount"), "value", r.get("amount"))) for r in budget.rows]
    assert ("branch-cm", "PC", 1, 22_000.0) in lines
    assert ("branch-cm", "Server", 1, 120_000.0) in lines
    assert ("hq", "Server", 2, 240_000.0) in lines
    assert ("hq", "UPS battery", 1, 3_500.0) in lines
    assert lines[-1][2:] == (5, 385_500.0)
    due = report.sections[2].table
    assert due is not None
    subtotals = [r for r in due.rows if "Subtotal" in getattr(r.get("class"), "en", "")]
    assert [(r["site"], r["qty"].value, r["amount"].value)  # type: ignore[union-attr]
            for r in subtotals] == [
        ("branch-cm", 1, 120_000.0), ("hq", 1, 120_000.0)]


def test_csv_xlsx_json(assets: list, tmp_path: Path) -> None:
    report = _report(assets, 2569, date(2025, 9, 1))
    rows = list(csv.reader(io.StringIO(render_bytes(report, "csv", "th").decode("utf-8-sig"))))
    assert ["ปีงบประมาณ", "พ.ศ. 2569"] in rows
    total = next(r for r in rows if r and r[0] == "รวมงบประมาณที่ขอ")
    assert total[4] == "385500.0"  # the amount column
    assert any("1 มี.ค. 2562" in r for r in rows)  # BE dates
    book = load_workbook(io.BytesIO(render_bytes(report, "xlsx", "en")))
    values = [c.value for row in book.active.iter_rows() for c in row]
    assert 3_500.0 in values and 120_000.0 in values  # numbers procurement can sum
    assert any(isinstance(v, str) and v.startswith("=SUM(") for v in values)  # totals
    doc = json.loads(render_bytes(report, "json", "en"))
    assert doc["data"]["budget_thb"] == 385_500.0
    assert doc["summary"][0]["value"] == "THB 385,500.00"


def _pdf_text(path: Path) -> str:
    out = subprocess.run([need_binary("pdftotext"), "-layout", str(path), "-"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return "".join(out.split())


def test_thai_pdf(assets: list) -> None:
    need_binary("pdftoppm")
    out = REPO / "test-artifacts"
    out.mkdir(exist_ok=True)
    pdf = render(_report(assets, 2569, date(2025, 9, 1)), "pdf", "th", out / "assets-th.pdf")
    text = _pdf_text(pdf)
    for words in ("รายงานครุภัณฑ์ที่ครบอายุการใช้งาน", "ปีงบประมาณพ.ศ.2569",
                  "1ต.ค.2568–30ก.ย.2569", "เครื่องคอมพิวเตอร์แม่ข่าย", "แบตเตอรี่เครื่องสำรองไฟฟ้า",
                  "1มิ.ย.2568", "385,500.00บาท", "สามแสนแปดหมื่นห้าพันห้าร้อยบาทถ้วน",
                  "ผู้อนุมัติ"):
        assert words in text, words
    subprocess.run(["pdftoppm", "-png", "-r", "90", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(out / "assets-th")], check=True, timeout=60)
    assert (out / "assets-th.png").stat().st_size > 10_000
    english = _pdf_text(render(_report(assets, 2569, date(2025, 9, 1)), "pdf", "en",
                               out / "assets-en.pdf"))
    assert "THB385,500.00" in english and "1Jun2025" in english
