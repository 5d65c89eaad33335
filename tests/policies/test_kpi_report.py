"""``upkeep report kpi``: content per system, summary, the scale; four formats, two languages."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from tests.support import need_binary, run_cli
from upkeep.config import parse_config
from upkeep.kit.thai import BANGKOK
from upkeep.policies.incidents import Ledger
from upkeep.policies.kpi_report import build_report
from upkeep.policies.render import render, render_bytes

H = 3600


def ict(*args: int) -> float:
    return datetime(*args, tzinfo=BANGKOK).timestamp()  # type: ignore[misc]


CONFIG = {
    "site": "jfo-hq",
    "systems": [
        {"name": "jfs", "title_th": "ระบบสารสนเทศกองทุนยุติธรรม",
         "title_en": "Justice Fund information system", "checks": ["web:jfs"]},
        {"name": "mis", "title_th": "ระบบสารสนเทศเพื่อการบริหาร", "title_en": "Management system",
         "checks": ["web:mis"]},
        {"name": "lab", "checks": ["web:lab"], "kpi": False},
    ],
}
REPORT_AT = ict(2025, 10, 1, 9, 0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scenario 8 data plus a carried-over incident and a review case."""
    root = tmp_path_factory.mktemp("kpi")
    ledger = Ledger.open(root)
    add = ledger.add
    # carried over from FY 2567 (54 h, scenario 4): listed in FY 2568, not graded there
    add("jfs", ict(2024, 9, 29, 20, 0), restored_at=ict(2024, 10, 2, 2, 0), actor="t",
        at=1.0, cause_category="hardware", cause_text="ดิสก์เสีย", fix_text="เปลี่ยนดิสก์")
    add("jfs", ict(2025, 2, 3, 8, 0), restored_at=ict(2025, 2, 3, 11, 0), actor="t", at=1.0,
        cause_category="power_ups", cause_text="ไฟดับ", fix_text="เดินเครื่องปั่นไฟ")
    add("jfs", ict(2025, 3, 3, 8, 0), restored_at=ict(2025, 3, 3, 21, 0), actor="t", at=1.0,
        cause_category="network_isp", cause_text="สายใยแก้วขาด", fix_text="ผู้ให้บริการซ่อม")
    # mis: 30 h with a data gap at the start (best 11 h 30 m / L5 ... worst 30 h / L3)
    add("mis", ict(2025, 4, 1, 8, 0), restored_at=ict(2025, 4, 2, 14, 0), actor="t", at=1.0,
        started_earliest=ict(2025, 4, 1, 8, 0), cause_text="")
    add("mis", ict(2025, 9, 28, 8, 0), restored_at=None, actor="t", at=1.0)  # open: 73 h
    add("lab", ict(2025, 5, 1, 8, 0), restored_at=ict(2025, 5, 5, 8, 0), actor="t", at=1.0)
    ledger.close()
    return root


def report_json(data_dir: Path, lang: str, system: str | None = None) -> dict:  # type: ignore[type-arg]
    config = parse_config(yaml.safe_dump({**CONFIG, "data_dir": str(data_dir)}))
    ledger = Ledger.open(data_dir)
    try:
        report = build_report(config, ledger, 2568, REPORT_AT, system)
    finally:
        ledger.close()
    return json.loads(render_bytes(report, "json", lang))


def test_levels_and_summary(data_dir: Path) -> None:
    doc = report_json(data_dir, "en")
    systems = doc["data"]["systems"]
    assert set(systems) == {"jfs", "mis"}          # lab is not in the KPI
    assert (systems["jfs"]["level"], systems["jfs"]["incidents"]) == (4, 2)
    assert systems["jfs"]["worst_seconds"] == 13 * H
    assert (systems["mis"]["level"], systems["mis"]["provisional"]) == (0, True)
    office = doc["data"]["office"]
    assert (office["level"], office["incidents"], office["worst_seconds"]) == (0, 4, 73 * H)
    incidents = {(i["system"], i["started_at"]): i for i in doc["data"]["incidents"]}
    carried = incidents[("jfs", ict(2024, 9, 29, 20, 0))]
    assert (carried["carried_over"], carried["fiscal_year"], carried["level"]) == (True, 2567, 1)
    summary = {s["label"]: s["value"] for s in doc["summary"]}
    assert summary["Incidents graded"] == 4
    assert summary["Mean time to restore"] == "15 h 20 min"   # (3 + 13 + 30) / 3 restored
    assert summary["Median time to restore"] == "13 h 0 min"
    # worst over the same 3 restored incidents as the mean and median (issue 14); the open
    # one (73 h so far) is stated apart, and still sets the level
    assert summary["Worst time to restore"] == "1 d 6 h 0 min"
    assert summary["Still open (graded provisionally on the time elapsed)"] == 1
    assert summary["Longest still-open incident so far"] == "3 d 1 h 0 min"
    assert summary["Office level"] == "0 (not achieved)"
    assert summary["Carried over (not graded)"] == 1
    scale = doc["sections"][-1]
    assert [r["max_hours"] for r in scale["rows"]] == [12, 24, 36, 48, 60]
    assert scale["rows"][0]["criterion"] == "the system went down but was fixed within half a day"


def test_thai_content(data_dir: Path) -> None:
    doc = report_json(data_dir, "th")
    assert doc["title"] == ("รายงานผลตัวชี้วัด ระบบสามารถใช้งานได้อย่างต่อเนื่อง "
                            "ปีงบประมาณ พ.ศ. 2568")
    meta = {m["label"]: m["value"] for m in doc["meta"]}
    assert meta["ช่วงเวลา"] == "1 ต.ค. 2567 – 30 ก.ย. 2568"
    assert meta["จัดทำเมื่อ"] == "1 ต.ค. 2568 09:00"
    jfs = doc["sections"][1]
    assert jfs["title"] == "เหตุขัดข้อง: ระบบสารสนเทศกองทุนยุติธรรม (jfs)"
    first = jfs["rows"][0]
    assert first["started"] == "29 ก.ย. 2567 20:00" and first["restored"] == "2 ต.ค. 2567 02:00"
    assert first["duration"] == "2 วัน 6 ชั่วโมง 0 นาที" and first["hours"] == 54.0
    assert "ยกมาจากปีงบประมาณ 2567" in first["flags"]
    assert first["cause"] == "ฮาร์ดแวร์: ดิสก์เสีย" and first["fix"] == "เปลี่ยนดิสก์"
    assert jfs["rows"][2]["level"] == "4"
    mis = doc["sections"][2]["rows"]
    assert mis[1]["restored"] == "ยังไม่กลับมาใช้งาน" and mis[1]["level"] == "0 (ไม่ผ่าน)"
    assert "ชั่วคราว" in mis[1]["flags"]


def test_one_system(data_dir: Path) -> None:
    doc = report_json(data_dir, "en", "jfs")
    assert set(doc["data"]["systems"]) == {"jfs"} and doc["data"]["office"]["level"] == 4


@pytest.mark.parametrize("lang", ["th", "en"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf", "json"])
def test_all_formats(data_dir: Path, tmp_path: Path, fmt: str, lang: str) -> None:
    config = tmp_path / "upkeep.yml"
    config.write_text(yaml.safe_dump({**CONFIG, "data_dir": str(data_dir)},
                                     allow_unicode=True), encoding="utf-8")
    out = tmp_path / f"kpi-{lang}.{fmt}"
    if (fmt, lang) in {("pdf", "th"), ("xlsx", "en")}:   # the command itself, twice
        result = run_cli("report", "kpi", "-c", str(config), "--fiscal-year", "2568",
                         "--format", fmt, "--lang", lang, "-o", str(out), "--at",
                         "2025-10-01 09:00")
        assert result.returncode == 0, result.stderr
    else:   # the same code in-process (a CLI start costs ~1.5 s on a busy machine)
        parsed = parse_config(config.read_text(encoding="utf-8"))
        ledger = Ledger.open(data_dir)
        try:
            render(build_report(parsed, ledger, 2568, REPORT_AT), fmt, lang, out)
        finally:
            ledger.close()
    expect_date = "29 ก.ย. 2567 20:00" if lang == "th" else "29 Sep 2024 20:00"
    expect_level = "0 (ไม่ผ่าน)" if lang == "th" else "0 (not achieved)"
    if fmt == "csv":
        data = out.read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")
        cells = [c for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for c in row]
    elif fmt == "xlsx":
        sheet = load_workbook(out).active
        assert sheet is not None
        cells = [c.value for row in sheet.iter_rows() for c in row]
        assert 54.0 in cells and 13.0 in cells        # hours stay numbers
        # times are real date cells, shown in the Buddhist Era in Thai (issue 14)
        started = next(c for row in sheet.iter_rows() for c in row
                       if c.value == datetime(2024, 9, 29, 20, 0))
        assert ("107041E" in started.number_format) == (lang == "th")
        cells = [c for c in cells if not isinstance(c, datetime)] + [expect_date]
    elif fmt == "json":
        cells = [json.dumps(json.loads(out.read_text("utf-8")), ensure_ascii=False)]
    else:
        need_binary("pdftotext")
        raw = subprocess.run(["pdftotext", "-raw", str(out), "-"], capture_output=True,
                             text=True, check=True, timeout=30).stdout
        flat = "".join(raw.replace("\u200b", "").split())
        for word in (expect_date, expect_level, "jfs", "mis"):
            assert "".join(word.split()) in flat, word
        if lang == "th":
            assert "ระบบล่มแต่แก้ไขได้ภายในครึ่งวัน" in flat
        return
    text = "\n".join(str(c) for c in cells if c is not None)
    assert expect_date in text and expect_level in text


def test_cli_errors(data_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "upkeep.yml"
    config.write_text(yaml.safe_dump({**CONFIG, "data_dir": str(data_dir)}), encoding="utf-8")
    bad = run_cli("report", "kpi", "-c", str(config), "--system", "nope", "-o",
                  str(tmp_path / "x.pdf"))
    assert bad.returncode == 2 and "unknown system 'nope'" in bad.stderr
    bad = run_cli("report", "kpi", "-c", str(config), "-o", str(tmp_path / "x.docx"))
    assert bad.returncode == 2 and "give --format" in bad.stderr
