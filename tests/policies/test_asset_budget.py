"""The replacement budget for a fiscal year is the same whatever day it is written, and every
line says where its price came from (issue 14)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from upkeep.config import parse_config
from upkeep.kit.db import Database
from upkeep.policies.assets import Asset, AssetRegister
from upkeep.policies.assets_report import build_report, collect

CONFIG = parse_config("""
site: hq
policies:
  assets:
    prices:
      - {class: ups_battery, unit_price_thb: 3500, source: "quote 2568"}
      - {class: ups, kva: 3, unit_price_thb: 31000, source: "quote 2568"}
""")

# FY 2569 = 1 Oct 2025 - 30 Sep 2026
LIST = ("asset_tag,class,site,model,serial,in_service,capacity_kva,replacement_price\n"
        # overdue before FY 2569 starts (battery 3 y: 2022-06-01 -> 2025-06-01)
        "BAT-1,ups_battery,hq,RBC7,B1,2022-06-01,,\n"
        # 30 Sep 2025 is the last day of FY 2568: overdue at the FY 2569 start
        "PC-1,pc,hq,OptiPlex,P1,2020-09-30,,\n"
        # due inside FY 2569 (UPS 10 y: 2015-11-15 -> 2025-11-15), 3 kVA from the table
        "UPS-3,ups,hq,SRT3000,U3,2015-11-15,3,\n"
        # due inside FY 2569, 6 kVA: no table line of its own in the config, default table has
        "UPS-6,ups,branch-cm,SRT6K,U6,2016-03-01,6,\n"
        # due inside FY 2569 with its own replacement price
        "SRV-1,server,hq,R740,S1,2021-09-30,,95000\n"
        # FY 2570 (next): the server reaches 5 years on 1 Oct 2026
        "SRV-2,server,hq,R750,S2,2021-10-01,,\n"
        # FY 2571: later, in no section
        "SRV-3,server,hq,R760,S3,2022-10-01,,\n")


@pytest.fixture
def assets(tmp_path: Path) -> list[Asset]:
    db = Database(tmp_path / "upkeep.db")
    register = AssetRegister(db)
    path = tmp_path / "list.csv"
    path.write_text(LIST, encoding="utf-8")
    result = register.import_file(path)
    assert not result.rejected, result.rejected
    out = register.assets()
    db.close()
    return out


EXPECTED = {"BAT-1": "overdue", "PC-1": "overdue", "UPS-3": "due_in_fy", "UPS-6": "due_in_fy",
            "SRV-1": "due_in_fy", "SRV-2": "next_fy", "SRV-3": "later"}


@pytest.mark.parametrize("today", [
    date(2024, 6, 1),    # before FY 2569
    date(2025, 10, 1),   # its first day
    date(2026, 3, 15),   # inside it
    date(2026, 9, 30),   # its last day
    date(2027, 2, 1),    # after it ended (FY 2570 items must not turn "overdue")
])
def test_sections_do_not_depend_on_the_run_date(assets: list[Asset], today: date) -> None:
    states = {i.asset.name: i.state for i in collect(assets, CONFIG.policies.assets, 2569, today)}
    assert states == EXPECTED


def test_budget_totals_identical_before_inside_after(assets: list[Asset]) -> None:
    reports = [build_report(assets, CONFIG, 2569, today, 1_750_000_000.0)
               for today in (date(2024, 6, 1), date(2026, 3, 15), date(2027, 2, 1))]
    budgets = {r.data["budget_thb"] for r in reports}
    forecasts = {r.data["next_fiscal_year_thb"] for r in reports}
    assert len(budgets) == 1 and len(forecasts) == 1
    budget_rows = {tuple(str(r.get(k)) for k in ("site", "class", "qty", "amount"))
                   for r in reports[0].sections[0].table.rows}  # type: ignore[union-attr]
    for other in reports[1:]:
        assert budget_rows == {tuple(str(r.get(k)) for k in ("site", "class", "qty", "amount"))
                               for r in other.sections[0].table.rows}  # type: ignore[union-attr]
    # BAT-1 3,500 + PC-1 22,000 (default) + UPS-3 31,000 + UPS-6 (default 6 kVA) + SRV-1 95,000
    items = {i["asset"]: i for i in reports[0].data["items"]}
    assert items["UPS-6"]["unit_price_thb"] > items["UPS-3"]["unit_price_thb"] > 5_800
    assert budgets == {3_500 + 22_000 + 31_000 + items["UPS-6"]["unit_price_thb"] + 95_000}


def test_status_today_is_an_extra_column(assets: list[Asset]) -> None:
    after = build_report(assets, CONFIG, 2569, date(2027, 2, 1), 1_750_000_000.0)
    items = {i["asset"]: i for i in after.data["items"]}
    assert items["SRV-2"]["state"] == "next_fy"
    assert items["SRV-2"]["status_today"] == "overdue"  # 1 Oct 2026 is before 1 Feb 2027
    before = build_report(assets, CONFIG, 2569, date(2024, 6, 1), 1_750_000_000.0)
    assert {i["asset"]: i for i in before.data["items"]}["SRV-2"]["status_today"] == "in_service"


def test_price_sources(assets: list[Asset]) -> None:
    report = build_report(assets, CONFIG, 2569, date(2025, 12, 1), 1_750_000_000.0)
    items = {i["asset"]: i for i in report.data["items"]}
    assert items["SRV-1"]["unit_price_thb"] == 95_000
    assert items["SRV-1"]["price_from"] == "asset"
    assert not items["SRV-1"]["price_placeholder"]
    assert items["UPS-3"]["price_from"] == "table"
    assert items["UPS-3"]["unit_price_thb"] == 31_000 and not items["UPS-3"]["price_placeholder"]
    assert items["UPS-6"]["price_from"] == "table" and items["UPS-6"]["price_placeholder"]
    assert items["PC-1"]["price_from"] == "class_default" and items["PC-1"]["price_placeholder"]
    assert items["BAT-1"]["price_from"] == "class_default"
    assert not items["BAT-1"]["price_placeholder"]
    # the report itself says which prices are placeholders, line by line and in a note
    due = report.sections[2].table
    assert due is not None
    ups6 = next(r for r in due.rows if r.get("tag") == "UPS-6")
    assert "*" in str(getattr(ups6["price_from"], "en", ups6["price_from"]))
    assert any("placeholder" in n.en for n in report.sections[0].notes)


def test_unknown_capacity_and_larger_than_the_table() -> None:
    config = CONFIG.policies.assets
    small = config.resolve_price("ups", None, None, "")
    assert small is not None and small.origin == "class_default"
    huge = config.resolve_price("ups", None, 400, "")
    assert huge is not None and huge.origin == "class_default" and huge.placeholder
    two = config.resolve_price("ups", None, 2.2, "")
    # the smallest table line that carries the load: 3 kVA
    assert two is not None and two.unit_price_thb == 31_000


THAI_LIST = ("เลขครุภัณฑ์,ประเภท,สถานที่,ยี่ห้อ,รุ่น,หมายเลขเครื่อง,วันที่เริ่มใช้งาน,หมายเหตุ\n"
             "UPS-9,ups,สำนักงานใหญ่,APC,SRT3000,TH1,15/11/2559,ห้องเครื่องชั้น 2\n")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp874", "tis-620"])
def test_thai_excel_csv_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / f"list-{encoding}.csv"
    path.write_bytes(THAI_LIST.encode(encoding))
    db = Database(tmp_path / "upkeep.db")
    try:
        register = AssetRegister(db)
        result = register.import_file(path)
        assert (result.added, result.rejected) == (1, [])
        asset = register.assets()[0]
    finally:
        db.close()
    assert asset.get("site") == "สำนักงานใหญ่"
    assert asset.get("notes") == "ห้องเครื่องชั้น 2"
    assert asset.get("in_service") == "2016-11-15"


def test_undecodable_csv_is_a_clear_error(tmp_path: Path) -> None:
    from upkeep.policies.assets_import import AssetFileError

    path = tmp_path / "bad.csv"
    path.write_bytes(b"class,serial\nups,\xdb\xfc\n")  # bytes cp874 leaves undefined
    db = Database(tmp_path / "upkeep.db")
    try:
        with pytest.raises(AssetFileError, match="neither UTF-8 nor"):
            AssetRegister(db).import_file(path)
    finally:
        db.close()
