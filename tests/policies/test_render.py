"""The generic report renderer: CSV with BOM, XLSX with numbers, JSON, Thai PDF shaped."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.support import REPO, need_binary
from upkeep.policies.render import (
    Column,
    Line,
    RenderError,
    Report,
    Section,
    T,
    Table,
    find_thai_font,
    render,
    render_bytes,
)

# classic stacking cases (docs/background.md section 2): tone mark over an upper vowel
STACKING = "ที่ นี้ หนี้ เยิ้ม ผู้ใช้ กองทุนยุติธรรม"


def sample_report() -> Report:
    columns = [Column("n", "ลำดับ", "No.", 0.5, "R"), Column("what", "รายการ", "Item", 3),
               Column("amount", "จำนวนเงิน (บาท)", "Amount (THB)", 1.5, "R")]
    rows: list[dict[str, object]] = [
        {"n": 1, "what": T(STACKING, "stacking words"), "amount": 105000.0},
        {"n": 2, "what": "UPS 3 kVA", "amount": 12345.5},
        {"n": 3, "what": None, "amount": None},
    ]
    return Report(
        kind="demo", title=T("รายงานทดสอบ ปีงบประมาณ พ.ศ. 2568", "Test report FY 2568 BE"),
        meta=[Line(T("หน่วยงาน", "Office"), T("สำนักงานกองทุนยุติธรรม", "Justice Fund Office"))],
        sections=[Section(T("ตารางที่ 1", "Table 1"), Table(columns, rows),  # type: ignore[arg-type]
                          notes=[T("หมายเหตุของตาราง", "table note")])],
        summary=[Line(T("รวม", "Total"), 117345.5)],
        footnotes=[T("เชิงอรรถ: ระดับ 5 ภายในครึ่งวัน", "Footnote: level 5 within half a day")])


def test_csv_has_bom_and_round_trips() -> None:
    data = render_bytes(sample_report(), "csv", "th")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["รายงานทดสอบ ปีงบประมาณ พ.ศ. 2568"]
    assert ["ลำดับ", "รายการ", "จำนวนเงิน (บาท)"] in rows
    assert ["1", STACKING, "105000.0"] in rows
    assert ["รวม", "117345.5"] in rows
    english = render_bytes(sample_report(), "csv", "en").decode("utf-8-sig")
    assert "stacking words" in english and "ที่" not in english


def test_json_keeps_numbers() -> None:
    doc = json.loads(render_bytes(sample_report(), "json", "en"))
    assert doc["title"] == "Test report FY 2568 BE"
    rows = doc["sections"][0]["rows"]
    assert rows[0] == {"n": 1, "what": "stacking words", "amount": 105000.0}
    assert rows[2] == {"n": 3, "what": None, "amount": None}
    assert doc["summary"] == [{"label": "Total", "value": 117345.5}]


def test_xlsx_numbers_are_numbers(tmp_path: Path) -> None:
    path = render(sample_report(), "xlsx", "th", tmp_path / "r.xlsx")
    sheet = load_workbook(path).active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert ["ลำดับ", "รายการ", "จำนวนเงิน (บาท)"] in values
    assert [1, STACKING, 105000.0] in values
    assert sheet["A1"].font.name == "TH Sarabun New"


def test_unknown_format_and_language() -> None:
    with pytest.raises(RenderError, match="unknown format"):
        render_bytes(sample_report(), "docx", "th")
    with pytest.raises(RenderError, match="unknown language"):
        render_bytes(sample_report(), "pdf", "fr")


def test_missing_thai_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="fonts-tlwg"):
        find_thai_font([tmp_path / "DejaVuSans.ttf"])


def pdf_text(path: Path) -> str:
    need_binary("pdftotext")
    out = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    # pdftotext puts a space where a shaped mark's advance is zero (ปี งบ, สำ นัก):
    # compare the characters and their order, not the spacing
    return "".join(out.split())


@pytest.mark.parametrize("lang", ["th", "en"])
def test_pdf_text_round_trips(tmp_path: Path, lang: str) -> None:
    path = render(sample_report(), "pdf", lang, tmp_path / f"r-{lang}.pdf")
    assert path.read_bytes().startswith(b"%PDF")
    out = pdf_text(path)
    if lang == "th":
        for word in ("รายงานทดสอบ", "ปีงบประมาณ", "สำนักงานกองทุนยุติธรรม", "ที่", "หนี้",
                     "เยิ้ม", "ผู้ใช้", "จำนวนเงิน", "105,000.00", "ผู้อนุมัติ", "หน้า 1/1"):
            assert word.replace(" ", "") in out, word
    else:
        for word in ("Test report FY 2568 BE", "stacking words", "Approved by", "Page 1/1"):
            assert word.replace(" ", "") in out, word
        assert "ที่" not in out


def test_pdf_page_renders_to_png() -> None:
    """Writes test-artifacts/render-th.png for a human look at tone-mark placement."""
    need_binary("pdftoppm")
    out_dir = REPO / "test-artifacts"
    out_dir.mkdir(exist_ok=True)
    pdf = render(sample_report(), "pdf", "th", out_dir / "render-th.pdf")
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-singlefile", str(pdf),
                    str(out_dir / "render-th")], check=True, timeout=60)
    png = out_dir / "render-th.png"
    assert png.stat().st_size > 10_000
