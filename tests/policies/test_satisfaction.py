"""The user-satisfaction KPI: survey exports as offices make them, exact percentages and
levels on the 83 / 87 % boundaries, aggregates with evidence, and bad input refused whole."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from openpyxl import Workbook

from tests.support import AgentProcess, free_port, metric, need_binary, parse_metrics
from upkeep.agents.cli import main
from upkeep.config import load_config
from upkeep.kit.thai import fiscal_year
from upkeep.policies.satisfaction import (
    level_for,
    percent_from_histogram,
    scale_for,
    scales_from_config,
)
from upkeep.policies.survey_import import parse_rating
from upkeep.policies.surveys import SurveyLedger

Q1 = "1. ความพึงพอใจต่อความรวดเร็วในการใช้งานระบบ"
Q2 = "2. ความพึงพอใจต่อความถูกต้องของข้อมูล"
Q3 = "3. ความพึงพอใจต่อการให้บริการของเจ้าหน้าที่"
COMMENT = "ข้อเสนอแนะเพิ่มเติม"

#: a Google Forms export (Thai UI): 7 good respondents, 20 ratings summing 87 (one blank
#: answer), then a rating out of range and a respondent who answered twice
GOOGLE_ROWS = [
    ["ประทับเวลา", "ที่อยู่อีเมล", "ท่านใช้งานระบบในฐานะ", Q1, Q2, Q3, COMMENT],
    ["1/10/2024, 9:01:02", "a@moj.go.th", "เจ้าหน้าที่ส่วนกลาง", "5", "5", "มากที่สุด", ""],
    ["1/10/2024, 9:05:40", "b@moj.go.th", "เจ้าหน้าที่จังหวัด", "5", "4", "มากที่สุด",
     "อยากให้ระบบเร็วกว่านี้ ติดต่อ 081-234-5678"],
    ["2/10/2024, 10:00:00", "c@moj.go.th", "เจ้าหน้าที่จังหวัด", "4", "4", "มาก", ""],
    ["2/10/2024, 11:12:13", "d@moj.go.th", "ประชาชน", "5", "", "มาก", ""],
    ["3/10/2024, 8:00:00", "e@moj.go.th", "ประชาชน", "4", "4", "มากที่สุด", "ดีมาก"],
    ["3/10/2024, 8:30:00", "f@moj.go.th", "เจ้าหน้าที่ส่วนกลาง", "4", "5", "มาก", ""],
    ["4/10/2024, 14:00:00", "g@moj.go.th", "ประชาชน", "4", "4", "ปานกลาง", ""],
    ["4/10/2024, 15:00:00", "h@moj.go.th", "ประชาชน", "6", "5", "มาก", ""],
    ["5/10/2024, 9:00:00", "B@moj.go.th", "เจ้าหน้าที่จังหวัด", "1", "1", "น้อยที่สุด", ""],
]


def _csv(rows: list[list[str]]) -> str:
    return "\r\n".join(",".join(f'"{c}"' for c in row) for row in rows) + "\r\n"


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "upkeep.yml"
    path.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"),
        "systems": [{"name": "jfs", "title_th": "ระบบสารสนเทศกองทุนยุติธรรม",
                     "checks": ["web:jfs"]}],
        "websites": [{"name": "jfo", "url": "https://127.0.0.1:9/"}]},
        allow_unicode=True), encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def surveys(config: str) -> list[dict[str, object]]:
    ledger = SurveyLedger.open(load_config(config))
    try:
        return [s.to_json(comments=True) for s in ledger.history()]
    finally:
        ledger.close()


# --- pure scoring ------------------------------------------------------------------------

@pytest.mark.parametrize(("ratings", "rule", "percent", "level"), [
    ({5: 15, 4: 85}, "mean", Fraction(83), 1),  # 415 / 500
    ({5: 14, 4: 86}, "mean", Fraction(4140, 50), 0),  # 82.8 %: not met
    ({5: 35, 4: 65}, "mean", Fraction(87), 5),  # 435 / 500
    ({5: 34, 4: 66}, "mean", Fraction(4340, 50), 4),  # 86.8 %
    ({5: 83, 1: 17}, "top2", Fraction(83), 1),
    ({4: 86, 2: 14}, "top2", Fraction(86), 4),
    ({5: 8299, 3: 1701}, "top2", Fraction(8299, 100), 0),  # 82.99 %
])
def test_percent_and_level_exact_on_boundaries(ratings: dict[int, int], rule: str,
                                               percent: Fraction, level: int,
                                               config: str) -> None:
    got = percent_from_histogram({"q": ratings}, rule)
    assert got == percent
    scale = scale_for(2568, scales_from_config(load_config(config).policies.satisfaction))
    assert level_for(got, scale) == level


@pytest.mark.parametrize(("cell", "rating"), [
    ("5", 5), (4, 4), (3.0, 3), ("๕", 5), ("5 (มากที่สุด)", 5), ("มากที่สุด", 5), ("มาก", 4),
    ("ปานกลาง", 3), ("น้อย", 2), ("น้อยที่สุด", 1), ("พึงพอใจมาก", 4), ("Very satisfied", 5),
    ("", None), (None, None), ("  ", None)])
def test_rating_cells(cell: object, rating: int | None) -> None:
    assert parse_rating(cell) == rating


@pytest.mark.parametrize("cell", ["6", "0", "4.5", "ดีเยี่ยม", "มากๆ", True])
def test_bad_rating_cells(cell: object) -> None:
    with pytest.raises(ValueError):
        parse_rating(cell)


# --- imports ---------------------------------------------------------------------------

def test_google_forms_export_rejected_rows_refuse_the_whole_file(
        tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "แบบสอบถาม.csv"
    export.write_text(_csv(GOOGLE_ROWS), encoding="utf-8-sig")
    code, _, err = run(capsys, "satisfaction", "import", "-c", config, "--system", "jfs",
                       "--fiscal-year", "2568", str(export))
    assert code == 2
    assert "row 9: " + Q1 + ": rating 6 is outside 1-5" in err
    assert "row 10: respondent 'B@moj.go.th' already answered in row 3" in err
    assert "nothing imported" in err
    assert surveys(config) == []


def test_google_forms_export_cp874_skip_bad_rows_is_87_percent_level_5(
        tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "survey.csv"
    export.write_bytes(_csv(GOOGLE_ROWS).encode("cp874"))
    code, out, err = run(capsys, "satisfaction", "import", "-c", config, "--system", "jfs",
                         "--fiscal-year", "2568", "--skip-bad-rows", str(export))
    assert code == 0, err
    assert "skipped row 9" in out and "skipped row 10" in out
    assert "not rating columns, left out: ท่านใช้งานระบบในฐานะ" in out
    assert "7 respondents, 87.00 % (mean), level 5" in out
    [stored] = surveys(config)
    assert stored["respondents"] == 7 and stored["blank_answers"] == 1
    assert stored["histogram"] == {Q1: {1: 0, 2: 0, 3: 0, 4: 4, 5: 3},
                                   Q2: {1: 0, 2: 0, 3: 0, 4: 4, 5: 2},
                                   Q3: {1: 0, 2: 0, 3: 1, 4: 3, 5: 3}}
    assert stored["comments"] == ["อยากให้ระบบเร็วกว่านี้ ติดต่อ 081-234-5678", "ดีมาก"]
    assert stored["sha256"] == hashlib.sha256(export.read_bytes()).hexdigest()
    evidence = Path(load_config(config).data_dir) / "evidence" / str(stored["evidence"])
    assert evidence.read_bytes() == export.read_bytes()
    code, out, _ = run(capsys, "satisfaction", "list", "-c", config)
    assert "81-234" not in out  # comments only when asked
    code, out, _ = run(capsys, "satisfaction", "list", "-c", config, "--comments")
    assert "081-234-5678" in out


def test_microsoft_forms_xlsx_at_83_percent_is_level_1(
        tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["ID", "Start time", "Completion time", "Email", "Name",
                  "Ease of use", "Speed", "Accuracy", "Support", "Overall", "Comments"])
    # 4 respondents x 5 questions = 20 ratings summing 83: 83.00 % exactly
    for rid, ratings in enumerate([(5, 5, 4, 4, 4), (4, 4, 4, 4, 4), (4, 4, 4, 4, 4),
                                   (4, 4, 4, 4, 5)], start=1):
        sheet.append([rid, "10/1/24 9:00:00", "10/1/24 9:03:00", "anonymous", None,
                      *ratings, None])
    export = tmp_path / "forms.xlsx"
    book.save(export)
    code, out, err = run(capsys, "satisfaction", "import", "-c", config, "--website", "jfo",
                         "--fiscal-year", "2568", str(export))
    assert code == 0, err
    assert "web:jfo FY 2568: 4 respondents, 83.00 % (mean), level 1" in out


def test_record_aggregate_with_evidence(tmp_path: Path, config: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "สรุปผลการสำรวจ.pdf"
    report.write_bytes(b"%PDF-1.4 survey report")
    code, out, err = run(capsys, "satisfaction", "record", "-c", config, "--system", "jfs",
                         "--fiscal-year", "2567", "--respondents", "120", "--mean", "4.15",
                         "--evidence", str(report))
    assert code == 0, err
    assert "120 respondents, 83.00 % (mean), level 1" in out
    code, out, err = run(capsys, "satisfaction", "record", "-c", config, "--website", "jfo",
                         "--fiscal-year", "2567", "--respondents", "40", "--percent",
                         "82.99", "--evidence", str(report))
    assert code == 0, err
    assert "82.99 % (reported), level 0" in out
    code, out, _ = run(capsys, "satisfaction", "list", "-c", config, "--json")
    items = json.loads(out)
    assert [(i["subject"], i["level"], i["counts"]) for i in items] == [
        ("jfs", 1, True), ("web:jfo", 0, True)]
    assert items[0]["sha256"] == hashlib.sha256(report.read_bytes()).hexdigest()


# --- bad input ---------------------------------------------------------------------------

def test_file_without_rating_columns(tmp_path: Path, config: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "names.csv"
    export.write_text(_csv([["ประทับเวลา", "หน่วยงาน", COMMENT],
                            ["1/10/2024", "สำนักงานจังหวัดเชียงใหม่", "ดี"]]), encoding="utf-8")
    code, _, err = run(capsys, "satisfaction", "import", "-c", config, "--system", "jfs",
                       "--fiscal-year", "2568", str(export))
    assert code == 2
    assert "has no rating columns" in err and "หน่วยงาน" in err
    assert surveys(config) == []


def test_text_ratings_map_thai_labels_and_reject_the_rest(
        tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "labels.csv"
    export.write_text(_csv([["ประทับเวลา", Q1, Q2],
                            ["1", "มาก", "มากที่สุด"],
                            ["2", "ดีเยี่ยม", "มาก"],
                            ["3", "มากที่สุด", "พอใช้"]]), encoding="utf-8")
    code, _, err = run(capsys, "satisfaction", "import", "-c", config, "--system", "jfs",
                       "--fiscal-year", "2568", str(export))
    assert code == 2
    assert f"row 3: {Q1}: 'ดีเยี่ยม' is neither a rating 1-5 nor a known label" in err
    assert f"row 4: {Q2}: 'พอใช้' is neither" in err
    assert surveys(config) == []


@pytest.mark.parametrize("year", ["2025", "2024"])
def test_gregorian_fiscal_year_refused(tmp_path: Path, config: str, year: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "ok.csv"
    export.write_text(_csv([["ประทับเวลา", Q1], ["1", "5"]]), encoding="utf-8")
    code, _, err = run(capsys, "satisfaction", "import", "-c", config, "--system", "jfs",
                       "--fiscal-year", year, str(export))
    assert code == 2
    assert f"fiscal year {year} looks like a Gregorian (CE) year" in err
    assert f"e.g. {int(year) + 544}" in err
    assert surveys(config) == []


def test_unknown_subject_refused(tmp_path: Path, config: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "ok.csv"
    export.write_text(_csv([["ประทับเวลา", Q1], ["1", "5"]]), encoding="utf-8")
    code, _, err = run(capsys, "satisfaction", "import", "-c", config, "--system", "hr",
                       "--fiscal-year", "2568", str(export))
    assert code == 2 and "unknown system 'hr' (configured: jfs, web:jfo)" in err


# --- the combined KPI report -----------------------------------------------------------

@pytest.fixture
def surveyed(tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]) -> str:
    """jfs: the Google export (87 %, level 5); the website: a recorded 83 % (level 1)."""
    export = tmp_path / "survey.csv"
    export.write_text(_csv(GOOGLE_ROWS[:8]), encoding="utf-8")
    assert run(capsys, "satisfaction", "import", "-c", config, "--system", "jfs",
               "--fiscal-year", "2568", str(export))[0] == 0
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4")
    assert run(capsys, "satisfaction", "record", "-c", config, "--website", "jfo",
               "--fiscal-year", "2568", "--respondents", "52", "--percent", "83",
               "--evidence", str(report))[0] == 0
    return config


def test_report_json_has_both_indicators(surveyed: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kpi.json"
    code, _, err = run(capsys, "report", "kpi", "-c", surveyed, "--fiscal-year", "2568",
                       "--lang", "en", "--at", "2025-10-01 09:00", "-o", str(out))
    assert code == 0, err
    doc = json.loads(out.read_text("utf-8"))
    assert doc["data"]["systems"]["jfs"]["level"] == 5  # recovery: no incidents
    subjects = doc["data"]["satisfaction"]["subjects"]
    assert (subjects["jfs"]["level"], subjects["jfs"]["ratio"]) == (5, 0.87)
    assert subjects["jfs"]["question_means"][Q1] == pytest.approx(31 / 7)
    assert (subjects["web:jfo"]["level"], subjects["web:jfo"]["rule"]) == (1, "reported")
    assert "comments" not in subjects["jfs"]["survey"]
    assert "081-234-5678" not in out.read_text("utf-8")
    assert any("mean of every rating given ÷ 5 × 100" in f for f in doc["footnotes"])
    code, _, _ = run(capsys, "report", "kpi", "-c", surveyed, "--fiscal-year", "2568",
                     "--comments", "-o", str(out))
    assert "081-234-5678" in out.read_text("utf-8")


def test_report_thai_xlsx_and_pdf(surveyed: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from openpyxl import load_workbook

    xlsx = tmp_path / "kpi.xlsx"
    assert run(capsys, "report", "kpi", "-c", surveyed, "--fiscal-year", "2568",
               "-o", str(xlsx))[0] == 0
    book = load_workbook(xlsx)
    cells = [c.value for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert "ผลตัวชี้วัดความพึงพอใจของผู้ใช้งาน รายระบบและเว็บไซต์" in cells
    assert 87.0 in cells and 83.0 in cells  # percentages stay numbers
    assert "0 (ไม่ผ่าน)" not in cells
    assert "เว็บไซต์ jfo" in cells
    pdf = tmp_path / "kpi.pdf"
    assert run(capsys, "report", "kpi", "-c", surveyed, "--fiscal-year", "2568",
               "-o", str(pdf))[0] == 0
    need_binary("pdftotext")
    raw = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    flat = "".join(raw.replace("\u200b", "").split())
    for words in ("ความพึงพอใจของผู้ใช้งาน", "ผู้ใช้งานพึงพอใจไม่น้อยกว่าร้อยละ 87.00",
                  "คะแนนเฉลี่ยของทุกคำตอบ ÷ 5 × 100", "web:jfo", "87.00"):
        assert "".join(words.split()) in flat, words


# --- /metrics ------------------------------------------------------------------------------

def test_agent_exports_latest_level_and_ratio(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    current = fiscal_year(time.time())
    config = {"site": "hq", "host": {"enabled": False}, "ups": [],
              "websites": [{"name": "jfo", "url": f"https://127.0.0.1:{free_port()}/"}],
              "systems": [{"name": "jfs", "checks": ["web:jfo"]}]}
    agent = AgentProcess(tmp_path, config)  # writes the config; started after the surveys
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4")
    cfg = str(agent.config_path)
    for who, fy, args in (("--system", current, ("--mean", "4.3")),        # 86 %: level 4
                          ("--system", current, ("--percent", "87")),      # newer: level 5
                          ("--website", current - 1, ("--percent", "82.5")),
                          ("--system", current - 2, ("--percent", "90"))):  # too old
        name = "jfs" if who == "--system" else "jfo"
        assert run(capsys, "satisfaction", "record", "-c", cfg, who, name, "--fiscal-year",
                   str(fy), "--respondents", "30", *args, "--evidence", str(report))[0] == 0
    agent.start()
    try:
        series = parse_metrics(agent.metrics())
    finally:
        agent.stop()
    now_fy, last_fy = str(current), str(current - 1)
    assert metric(series, "upkeep_satisfaction_level", system="jfs", fiscal_year=now_fy) == 5
    assert metric(series, "upkeep_satisfaction_ratio", system="jfs",
                  fiscal_year=now_fy) == pytest.approx(0.87)
    assert metric(series, "upkeep_satisfaction_level", system="web:jfo",
                  fiscal_year=last_fy) == 0
    assert metric(series, "upkeep_satisfaction_ratio", system="web:jfo",
                  fiscal_year=last_fy) == pytest.approx(0.825)
    exported = {dict(labels)["fiscal_year"] for name, labels in series
                if name == "upkeep_satisfaction_level"}
    assert exported == {now_fy, last_fy}
