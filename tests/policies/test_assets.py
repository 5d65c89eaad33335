"""Asset register: end of life across fiscal-year boundaries, import, re-import, conflicts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from upkeep.config.policy_assets import AssetsConfig, ServiceLife
from upkeep.kit.db import Database
from upkeep.policies.assets import (
    Asset,
    AssetRegister,
    add_years,
    classify,
    date_fiscal_year,
    end_of_life,
    state_now,
)
from upkeep.policies.assets_discovery import host_asset, read_dmi, ups_assets
from upkeep.policies.assets_import import AssetFileError
from upkeep.reading import Reading


def _asset(cls: str, **values: str) -> Asset:
    return Asset(1, None, "T1", None, values={"class": cls, **values})


CFG = AssetsConfig(life={"ups_battery": ServiceLife(years=4, source="test")})


@pytest.mark.parametrize(("cls", "in_service", "extra", "due", "fy", "reason"), [
    # the cases: a UPS in service 2016-11-15, 10 years -> 2026-11-15, FY 2570
    ("ups", "2016-11-15", {}, date(2026, 11, 15), 2570, "age"),
    # battery installed 2021-06-01, 4-year life -> 2025-06-01, FY 2568
    ("ups_battery", "2021-06-01", {}, date(2025, 6, 1), 2568, "age"),
    # a PC in service 2019-03-01, 5 years -> 2024-03-01, FY 2567
    ("pc", "2019-03-01", {}, date(2024, 3, 1), 2567, "age"),
    # 30 September is the last day of a fiscal year, 1 October the first of the next
    ("server", "2020-09-30", {}, date(2025, 9, 30), 2568, "age"),
    ("server", "2020-10-01", {}, date(2025, 10, 1), 2569, "age"),
    # vendor end of support earlier than age wins; later does not
    ("server", "2020-10-01", {"vendor_eos": "2024-12-31"}, date(2024, 12, 31), 2568,
     "vendor_eos"),
    ("server", "2020-10-01", {"vendor_eos": "2027-01-01"}, date(2025, 10, 1), 2569, "age"),
    # the asset's own life override
    ("ups", "2016-11-15", {"life_years": "8"}, date(2024, 11, 15), 2568, "age"),
    # 29 February plus whole years lands on 28 February
    ("pc", "2020-02-29", {}, date(2025, 2, 28), 2568, "age"),
    # a battery flagged for replacement is due the day it was flagged
    ("ups_battery", "2024-01-10", {"flagged_at": "2025-03-02", "selftest_result": "failed"},
     date(2025, 3, 2), 2568, "battery_selftest_failed"),
    ("ups_battery", "2024-01-10", {"flagged_at": "2025-03-02"}, date(2025, 3, 2), 2568,
     "battery_replace_flag"),
    # no start date at all: unknown
    ("ups_battery", "", {}, None, None, "unknown"),
])
def test_end_of_life_table(cls: str, in_service: str, extra: dict[str, str], due: date | None,
                           fy: int | None, reason: str) -> None:
    eol = end_of_life(_asset(cls, in_service=in_service, **extra), CFG)
    assert eol.due == due
    assert eol.reason == reason
    assert (date_fiscal_year(eol.due) if eol.due else None) == fy


def test_default_battery_life_is_three_years() -> None:
    eol = end_of_life(_asset("ups_battery", in_service="2021-06-01"), AssetsConfig())
    assert eol.due == date(2024, 6, 1) and eol.life_years == 3


@pytest.mark.parametrize(("due", "fy", "as_of", "expected"), [
    # battery due 2025-06-01: due in FY 2568 whatever the report date (issue 14)
    (date(2025, 6, 1), 2568, date(2025, 6, 2), "due_in_fy"),
    (date(2025, 6, 1), 2568, date(2026, 6, 2), "due_in_fy"),
    (date(2025, 6, 1), 2568, date(2025, 6, 1), "due_in_fy"),
    (date(2025, 6, 1), 2568, date(2024, 10, 1), "due_in_fy"),
    (date(2025, 6, 1), 2569, date(2025, 8, 1), "overdue"),
    (date(2025, 6, 1), 2567, date(2024, 5, 1), "next_fy"),
    # UPS due 2026-11-15 (FY 2570): next year in a FY 2569 budget, this year in FY 2570
    (date(2026, 11, 15), 2569, date(2025, 9, 1), "next_fy"),
    (date(2026, 11, 15), 2570, date(2026, 10, 1), "due_in_fy"),
    (date(2026, 11, 15), 2568, date(2025, 1, 1), "later"),
    (None, 2569, date(2025, 1, 1), "unknown"),
])
def test_classify(due: date | None, fy: int, as_of: date, expected: str) -> None:
    assert classify(due, fy, as_of) == expected


def test_state_now_across_fiscal_year_end() -> None:
    assert state_now(date(2025, 9, 30), date(2025, 9, 1)) == "due_this_fiscal_year"
    assert state_now(date(2025, 10, 1), date(2025, 9, 30)) == "in_service"
    assert state_now(date(2025, 6, 1), date(2025, 6, 2)) == "overdue"
    assert state_now(None, date(2025, 6, 2)) == "unknown"


def test_add_years_fractional() -> None:
    assert add_years(date(2020, 1, 31), 0.25) == date(2020, 4, 30)


# --- import ---------------------------------------------------------------------------------

HEADER = "asset_tag,class,site,manufacturer,model,serial,in_service,price,status,life_years\n"
GOOD = ("7440-001-0001,ups,hq,APC,Smart-UPS 1500,AS1234,2016-11-15,25000,in_use,\n"
        "7440-001-0002,ups_battery,hq,APC,RBC7,,2021-06-01,4500,in_use,4\n"
        "7440-001-0003,pc,branch-cm,Dell,OptiPlex 7070,DL999,15/03/2562,21000,in_use,\n")
BAD = ("7440-001-0004,toaster,hq,,,,2020-01-01,,,\n"
       ",pc,hq,HP,ProDesk,,2020-01-01,,,\n"
       "7440-001-0006,pc,hq,HP,ProDesk,HP1,2020-13-45,,,\n"
       "7440-001-0007,pc,hq,HP,ProDesk,HP2,2020-01-01,cheap,,\n"
       "7440-001-0008,pc,hq,HP,ProDesk,HP3,2020-01-01,,broken,\n"
       "7440-001-0001,ups,hq,APC,Smart-UPS 1500,AS1234,2016-11-15,25000,in_use,\n")


@pytest.fixture
def register(tmp_path: Path) -> AssetRegister:
    db = Database(tmp_path / "upkeep.db")
    yield AssetRegister(db)
    db.close()


def test_import_keeps_good_rows_and_rejects_bad_ones_by_row(register: AssetRegister,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "assets.csv"
    path.write_text(HEADER + GOOD + BAD, encoding="utf-8")
    result = register.import_file(path)
    assert (result.added, result.updated, result.unchanged) == (3, 0, 0)
    rejected = {r.row: r.reason for r in result.rejected}
    assert set(rejected) == {5, 6, 7, 8, 9, 10}
    assert "unknown class 'toaster'" in rejected[5]
    assert "asset tag or a serial" in rejected[6]
    assert "in_service" in rejected[7] and "not a valid date" in rejected[7]
    assert "price_thb" in rejected[8] and "not a number" in rejected[8]
    assert "unknown status 'broken'" in rejected[9]
    assert "same asset as row 2" in rejected[10]
    by_tag = {a.tag: a for a in register.assets()}
    assert by_tag["7440-001-0001"].serial == "AS1234"
    # a Buddhist-Era date typed day-first: 15/03/2562 = 2019-03-15
    assert by_tag["7440-001-0003"].get("in_service") == "2019-03-15"
    assert by_tag["7440-001-0002"].get("life_years") == "4"


def test_reimport_is_idempotent_and_updates_changes(register: AssetRegister,
                                                    tmp_path: Path) -> None:
    path = tmp_path / "assets.csv"
    path.write_text(HEADER + GOOD, encoding="utf-8")
    register.import_file(path)
    before = [a.to_json() for a in register.assets()]
    again = register.import_file(path)
    assert (again.added, again.updated, again.unchanged, again.rejected) == (0, 0, 3, [])
    assert [a.to_json() for a in register.assets()] == before
    path.write_text(HEADER + GOOD.replace("OptiPlex 7070", "OptiPlex 7080"), encoding="utf-8")
    third = register.import_file(path)
    assert (third.added, third.updated, third.unchanged) == (0, 1, 2)
    assert {a.tag: a.get("model") for a in register.assets()}["7440-001-0003"] == "OptiPlex 7080"


def test_import_xlsx_with_thai_headers_and_placeholder_battery_date(
        register: AssetRegister, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["เลขครุภัณฑ์", "ประเภท", "สถานที่", "รุ่น", "วันที่เริ่มใช้งาน", "ราคา"])
    sheet.append(["B-1", "ups_battery", "hq", "RBC7", datetime(2001, 9, 25), 1500])
    sheet.append(["S-1", "server", "hq", "PowerEdge", datetime(2020, 10, 1), 120000])
    path = tmp_path / "assets.xlsx"
    book.save(path)
    result = register.import_file(path)
    assert result.added == 2 and not result.rejected
    assert result.warnings and result.warnings[0][0] == 2 and "placeholder" in result.warnings[0][1]
    by_tag = {a.tag: a for a in register.assets()}
    battery = by_tag["B-1"]
    assert battery.get("in_service") == ""
    assert end_of_life(battery, AssetsConfig()).due is None
    assert by_tag["S-1"].get("price_thb") == "120000.00"


def test_import_refuses_an_unreadable_file(register: AssetRegister, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("name,colour\nx,y\n", encoding="utf-8")
    with pytest.raises(AssetFileError, match="no 'class' column"):
        register.import_file(path)
    with pytest.raises(AssetFileError, match="csv or .xlsx"):
        register.import_file(tmp_path / "a.txt")


# --- discovery ------------------------------------------------------------------------------

def _ups_reading(serial: str = "AS1234", battery: float | None = None, *,
                 replace: bool = False, selftest: str = "passed") -> Reading:
    def ts(d: date) -> float:
        return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()

    return Reading("nut", "ups1", 1_700_000_000.0, True, info={
        "ups": "ups1", "mfr": "American Power Conversion", "model": "Smart-UPS 1500",
        "serial": serial, "ups_manufactured": ts(date(2016, 10, 1)),
        "battery_installed": battery if battery is None else ts(date.fromtimestamp(battery)),
        "replace_needed": replace, "selftest_result": selftest, "status": ["OL"]})


def test_discovery_matches_imported_serial_and_shows_conflicts(register: AssetRegister,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "assets.csv"
    path.write_text(HEADER + GOOD, encoding="utf-8")
    register.import_file(path)
    for found in ups_assets(_ups_reading(" as1234 "), "hq"):
        register.discover(serial=found.serial, ref=found.ref, values=found.values)
    ups = next(a for a in register.assets() if a.serial == "AS1234")
    assert ups.tag == "7440-001-0001"
    # imported model wins, the discovered one is kept and the disagreement shown
    assert ups.get("model") == "Smart-UPS 1500"
    assert ups.get("manufacturer") == "APC"
    conflicts = {c.field: (c.imported, c.discovered) for c in ups.conflicts}
    assert conflicts == {"manufacturer": ("APC", "American Power Conversion")}
    assert ups.sources["discovery"]["manufactured"] == "2016-10-01"


def test_battery_flag_sets_due_date_once_and_clears(register: AssetRegister) -> None:
    day = 86400.0
    t0 = datetime(2025, 3, 2, 3, tzinfo=UTC).timestamp()
    for found in ups_assets(_ups_reading(replace=True), "hq"):
        register.discover(serial=found.serial, ref=found.ref, values=found.values, now=t0)
    for found in ups_assets(_ups_reading(replace=True), "hq"):
        register.discover(serial=found.serial, ref=found.ref, values=found.values,
                          now=t0 + 5 * day)
    battery = next(a for a in register.assets() if a.asset_class == "ups_battery")
    assert battery.get("flagged_at") == "2025-03-02"
    assert battery.get("in_service") == ""  # no battery date reported: unknown
    eol = end_of_life(battery, AssetsConfig())
    assert (eol.due, eol.reason) == (date(2025, 3, 2), "battery_replace_flag")
    for found in ups_assets(_ups_reading(replace=False), "hq"):
        register.discover(serial=found.serial, ref=found.ref, values=found.values)
    battery = next(a for a in register.assets() if a.asset_class == "ups_battery")
    assert battery.get("flagged_at") == ""


def test_host_discovery_with_dmi(tmp_path: Path) -> None:
    dmi = tmp_path / "dmi"
    dmi.mkdir()
    (dmi / "sys_vendor").write_text("Dell Inc.\n")
    (dmi / "product_name").write_text("PowerEdge R740\n")
    (dmi / "product_serial").write_text("To Be Filled By O.E.M.\n")
    facts = read_dmi(dmi)
    assert facts == {"manufacturer": "Dell Inc.", "model": "PowerEdge R740"}
    reading = Reading("host", "srv1", 0.0, True, info={"hostname": "srv1", "os": "Debian 12"})
    found = host_asset(reading, "hq", facts)
    assert found is not None and found.serial is None and found.ref == "host:hq/srv1"
    assert found.values["os"] == "Debian 12" and found.values["class"] == "server"
    (dmi / "product_serial").write_text("7XQ1234\n")
    assert host_asset(reading, "hq", read_dmi(dmi)).serial == "7XQ1234"  # type: ignore[union-attr]


@pytest.mark.parametrize(("serial", "usable"), [
    ("QS0411211473", "QS0411211473"), (" as 1234 ", "AS1234"), ("000000000000", None),
    ("********", None), ("[unknown]", None), ("unknown", None), ("<redacted>", None),
    ("ID: XXXXXXXXXX , Msg: 5PX1500iRT", None), ("", None), (None, None), ("A1", None),
])
def test_usable_serial(serial: str | None, usable: str | None) -> None:
    from upkeep.policies.assets_discovery import usable_serial

    assert usable_serial(serial) == usable


def test_snmp_reading_discovers_like_nut() -> None:
    reading = Reading("snmp", "rack-ups", 0.0, True, info={
        "ups": "rack-ups", "mfr": "APC", "model": "Smart-UPS 3000", "serial": "AS0711123456",
        "ups_manufactured": None, "battery_installed": None, "replace_needed": True,
        "selftest_result": "unknown", "status": ["OL", "RB"]})
    unit, battery = ups_assets(reading, "branch-cm")
    assert (unit.serial, unit.values["monitor_ref"]) == ("AS0711123456", "snmp:rack-ups")
    assert battery.ref == "battery:AS0711123456" and battery.values["flagged"] == "1"
    down = Reading("snmp", "rack-ups", 0.0, False, reason="timeout")
    assert ups_assets(down, "branch-cm") == []


def test_replaced_ups_is_a_new_asset(register: AssetRegister) -> None:
    for found in ups_assets(_ups_reading("AS1111"), "hq"):
        register.discover(serial=found.serial, ref=found.ref, values=found.values)
    for found in ups_assets(_ups_reading("AS2222"), "hq"):
        register.discover(serial=found.serial, ref=found.ref, values=found.values)
    units = {a.serial: a for a in register.assets() if a.asset_class == "ups"}
    assert set(units) == {"AS1111", "AS2222"}
    assert units["AS2222"].ref == "ups:hq/ups1" and units["AS1111"].ref is None
    batteries = {a.ref for a in register.assets() if a.asset_class == "ups_battery"}
    assert batteries == {"battery:AS1111", "battery:AS2222"}
