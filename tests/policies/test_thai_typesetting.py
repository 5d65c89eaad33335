"""Thai typesetting in the PDF reports: lines break only between dictionary words (PyThaiNLP
``newmm``), numbers, IDs and dates stay whole, headings stay with their table, the signature
block stays with the last table, and nothing invisible is left in the text a reader copies."""

from __future__ import annotations

import subprocess
import unicodedata
from pathlib import Path

import pytest

from tests.support import REPO, need_binary
from upkeep.policies.render import Column, Line, Report, Section, T, Table, render
from upkeep.policies.thai_wrap import thai_words, units, wrap

LONG = ("สำนักงานกองทุนยุติธรรมรายงานผลตัวชี้วัดระบบสามารถใช้งานได้อย่างต่อเนื่อง"
        "ผู้ตรวจสอบภายในขอให้เปลี่ยนแบตเตอรี่เครื่องสำรองไฟฟ้าก่อนหมดอายุการรับประกัน")
KEEP = ("10,304.07", "SYS-SNMP-01", "2 ธ.ค. 2570")
MIXED = "ค่าซ่อมบำรุง 10,304.07 บาท ระบบ SYS-SNMP-01 ใช้ได้ถึง 2 ธ.ค. 2570 ตามสัญญาเลขที่ 12/2568"


def pdf_lines(path: Path) -> list[str]:
    need_binary("pdftotext")
    out = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", str(path), "-"],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    return out.splitlines()


def invisible(text: str) -> set[str]:
    return {c for c in text if unicodedata.category(c) == "Cf" or c == "\u00ad"}


def narrow_report(rows: int = 3) -> Report:
    cols = [Column("id", "รหัส", "ID", 1.0), Column("what", "รายละเอียดของรายการ", "Details", 1.2),
            Column("money", "จำนวนเงิน", "Amount", 0.8, "R"), Column("rest", "อื่น ๆ", "Other", 6)]
    table = Table(cols, [{"id": f"SYS-SNMP-{i:02d}", "what": LONG, "money": 10304.07,
                          "rest": MIXED} for i in range(rows)])
    return Report(kind="demo", title=T("รายงานทดสอบการตัดคำภาษาไทย", "Thai line breaking"),
                  meta=[Line(T("หน่วยงาน", "Office"), "สำนักงานกองทุนยุติธรรม")],
                  sections=[Section(T("ตารางที่ 1 รายละเอียด", "Table 1"), table)],
                  footnotes=[T(LONG * 3, "note")])


def spaceless(text: str) -> str:
    return "".join(text.split())


def split_points(lines: list[str], whole: str) -> list[int] | None:
    """Where ``whole`` (spaceless) was cut into consecutive ``lines``, or None if not found."""
    flat = [spaceless(line) for line in lines]
    for start, line in enumerate(flat):
        if not line or not whole.startswith(line):
            continue
        done, cuts = line, []
        for nxt in flat[start + 1:]:
            if done == whole:
                break
            if not nxt or not whole.startswith(done + nxt):
                break
            cuts.append(len(done))
            done += nxt
        if done == whole:
            return cuts
    return None


def boundaries(text: str) -> set[int]:
    """Offsets (in the spaceless text) between the segmenter's words and at spaces."""
    out, pos = set(), 0
    for unit in units(text):
        pos += len(spaceless(unit))
        out.add(pos)
    return out


def test_no_invisible_characters_and_no_word_split(tmp_path: Path) -> None:
    path = render(narrow_report(), "pdf", "th", tmp_path / "th.pdf")
    lines = pdf_lines(path)
    text = "\n".join(lines)
    assert not invisible(text), sorted(hex(ord(c)) for c in invisible(text))
    cuts = split_points(lines, spaceless(LONG))
    assert cuts, "the long Thai cell is not found as consecutive lines: " + text[:2000]
    allowed = boundaries(LONG)
    words = thai_words(LONG)
    for cut in cuts:
        assert cut in allowed, (cut, spaceless(LONG)[:cut][-12:], spaceless(LONG)[cut:][:12],
                                words)
    for keep in KEEP:
        assert any(keep in line for line in lines), (keep, text[:3000])


def test_heading_stays_with_its_table(tmp_path: Path) -> None:
    filler = Section(T("ส่วนที่หนึ่ง", "Part one"),
                     notes=[T(f"บรรทัดที่ {i} " + LONG[:40], "x") for i in range(25)])
    report = narrow_report(rows=2)
    report.sections.insert(0, filler)
    report.footnotes = []
    path = render(report, "pdf", "th", tmp_path / "keep.pdf")
    pages = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True,
                           text=True, check=True, timeout=30).stdout.split("\f")
    heading = next(i for i, p in enumerate(pages) if "ตารางที่1" in spaceless(p))
    assert "SYS-SNMP-00" in pages[heading], "the table heading is left alone at a page foot"


@pytest.mark.parametrize("footnotes", [0, 6])
def test_signature_block_stays_with_the_last_table(tmp_path: Path, footnotes: int) -> None:
    for rows in range(6, 11):
        report = narrow_report(rows=rows)
        report.footnotes = [T(f"เชิงอรรถที่ {i} " + LONG, "note") for i in range(footnotes)]
        path = render(report, "pdf", "th", tmp_path / f"sig{rows}.pdf")
        pages = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True,
                               text=True, check=True, timeout=30).stdout.split("\f")
        pages = [p for p in pages if p.strip()]
        last = pages[-1]
        assert "ผู้อนุมัติ" in spaceless(last)
        assert "SYS-SNMP-" in last, f"{rows} rows: the signatures are alone on the last page"


@pytest.mark.parametrize("text", ["ชั่วคราวยังไม่กลับมาใช้งาน", "ที่นี้หนี้เยิ้มผู้ใช้",
                                  "สำนักงานกองทุนยุติธรรม", "เปลี่ยนฮาร์ดดิสก์แล้ว"])
def test_forced_breaks_keep_marks_with_their_base(text: str) -> None:
    lines = wrap(text, 3, len)  # narrower than any word: the last-resort cut
    assert "".join(lines) == text and len(lines) > 1
    for line in lines[1:]:
        assert not ("\u0e30" <= line[0] <= "\u0e3a" or "\u0e47" <= line[0] <= "\u0e4e"), lines
    for line in lines[:-1]:
        assert line[-1] not in "เแโใไ", lines


def test_units_keep_numbers_ids_and_dates_whole() -> None:
    got = units(MIXED)
    for keep in KEEP:
        assert any(keep in u for u in got), (keep, got)
    assert units("UPS 3 kVA") == ["UPS", " ", "3", " ", "kVA"]
    assert wrap("ระบบ" + "\u200b" + "ล่ม", 100, len) == ["ระบบล่ม"]


def test_thai_pdf_page_renders_to_png() -> None:
    """Writes test-artifacts/thai-wrap.png for a human look at the line breaks."""
    need_binary("pdftoppm")
    out_dir = REPO / "test-artifacts"
    out_dir.mkdir(exist_ok=True)
    pdf = render(narrow_report(), "pdf", "th", out_dir / "thai-wrap.pdf")
    subprocess.run(["pdftoppm", "-png", "-r", "100", "-f", "1", "-singlefile", str(pdf),
                    str(out_dir / "thai-wrap")], check=True, timeout=60)
    assert (out_dir / "thai-wrap.png").stat().st_size > 10_000


def test_narrow_columns_widen_for_ids_and_words(tmp_path: Path) -> None:
    """A column too narrow for an ID or a dictionary word takes room from its neighbours."""
    cols = [Column("id", "รหัส", "ID", 0.3), Column("check", "วิธีตรวจ", "Check", 0.3),
            Column("rest", "รายละเอียด", "Details", 8)]
    rows = [{"id": "  P11-PRIV-03.1", "check": "รับรองโดยผู้รับผิดชอบ", "rest": LONG},
            {"id": "SYS-SNMP-01", "check": "อัตโนมัติ", "rest": MIXED}]
    report = Report(kind="demo", title=T("ทดสอบความกว้างคอลัมน์", "Column widths"),
                    sections=[Section(T("ตาราง", "Table"), Table(cols, rows))],  # type: ignore[arg-type]
                    signatures=False)
    lines = pdf_lines(render(report, "pdf", "th", tmp_path / "narrow.pdf"))
    flat = [spaceless(line) for line in lines]
    for whole in ("P11-PRIV-03.1", "SYS-SNMP-01", "ผู้รับผิดชอบ"):
        assert any(whole in line for line in flat), (whole, lines)
