"""One report model, four formats, two languages.

Every policy report (KPI, checklist, assets) builds a ``Report``: bilingual titles, meta lines
(office, fiscal year, period, generated at), sections each holding a table whose columns have
Thai and English headings, a summary and footnotes. ``render(report, fmt, lang, path)`` writes
it as CSV, XLSX, PDF or JSON.

- CSV is UTF-8 *with* a BOM: Excel on Thai Windows otherwise reads it as TIS-620 and garbles it.
- XLSX keeps numbers as numbers (so people can sum them) and sets a Thai-capable font name.
- PDF uses fpdf2 with HarfBuzz shaping (``set_text_shaping``): without GPOS positioning Thai
  tone marks and upper vowels collide ("ที่" drawn with the mai ek on top of the sara i). The
  font is a Thai TTF from Debian's fonts-tlwg-* found through fontconfig; it is never fetched
  at run time, and a missing one is a clear ``RenderError``.
- JSON carries the same content for machines (numbers stay numbers).

A cell value is ``None``, a number, a string, or a ``T(th, en)`` when the words differ (``T``
and the report's own words come from the shared catalogue, ``upkeep.kit.messages``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from upkeep.config.policy_reports import Bilingual, ReportsConfig
from upkeep.errors import UpkeepError
from upkeep.kit.messages import MESSAGES
from upkeep.kit.messages import T as T  # re-exported: the report model's cell text
from upkeep.kit.thai import BANGKOK, Lang, format_date, format_datetime

Format = Literal["csv", "xlsx", "pdf", "json"]
FORMATS: tuple[str, ...] = ("csv", "xlsx", "pdf", "json")
LANGS: tuple[str, ...] = ("th", "en")

#: preferred Thai faces, best first: Sarabun-like (the government face) then the tlwg sans
FONT_PREFERENCE = ("Sarabun", "Laksaman", "Garuda", "Loma", "Norasi", "Kinnari", "Waree",
                   "Umpush", "TlwgTypo")
FONT_DIRS = (Path("/usr/share/fonts/truetype/tlwg"), Path("/usr/share/fonts/truetype/thai"),
             Path("/usr/share/fonts/opentype/tlwg"), Path("/usr/share/fonts"))


class RenderError(UpkeepError):
    """A report could not be written (unknown format, no Thai font, unwritable path)."""


@dataclass(frozen=True)
class Day:
    """A date (or a Bangkok date and time) that XLSX writes as a real date cell shown in the
    Buddhist Era (Thai) or CE (English); text formats show it as ``format_date`` does."""

    value: date | datetime

    def pick(self, lang: Lang) -> str:
        if isinstance(self.value, datetime):
            return format_datetime(self.value, lang)
        return format_date(self.value, lang)


@dataclass(frozen=True)
class Total:
    """A subtotal or total: the sum of other rows of the same column (``rows`` are indexes
    into the table's rows). XLSX writes it as a ``SUM`` formula, other formats the value."""

    value: float | int
    rows: tuple[int, ...]


Cell = T | Day | Total | str | int | float | None


def text(value: Cell, lang: Lang) -> str:
    if value is None:
        return ""
    if isinstance(value, Total):
        value = value.value
    if isinstance(value, T | Day):
        return value.pick(lang)
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return str(value)


def _plain(value: Cell, lang: Lang) -> str | int | float | None:
    """The value for machine formats: numbers stay numbers, texts pick the language."""
    if isinstance(value, T | Day):
        return value.pick(lang)
    if isinstance(value, Total):
        return value.value
    return value


@dataclass(frozen=True)
class Column:
    key: str
    th: str
    en: str
    #: relative width in the PDF
    width: float = 1.0
    align: Literal["L", "R", "C"] = "L"
    #: how XLSX formats the column's numbers: money (#,##0.00), count, hours
    kind: Literal["text", "money", "count", "hours"] = "text"

    def title(self, lang: Lang) -> str:
        return self.th if lang == "th" else self.en


@dataclass
class Table:
    columns: list[Column]
    rows: list[dict[str, Cell]] = field(default_factory=list)


@dataclass
class Section:
    title: T
    table: Table | None = None
    #: paragraphs printed above the table
    notes: list[T] = field(default_factory=list)


@dataclass
class Line:
    """``label: value`` (meta lines and summary lines)."""

    label: T
    value: Cell


@dataclass(frozen=True)
class Signer:
    """One line of the signature block: the role (ผู้จัดทำ ...), and the name and position
    printed under the signature line (blank dotted lines when not configured)."""

    role: T
    name: str = ""
    position: str = ""


@dataclass
class Report:
    kind: str
    title: T
    meta: list[Line] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    summary: list[Line] = field(default_factory=list)
    footnotes: list[T] = field(default_factory=list)
    #: signature block (ผู้จัดทำ / ผู้ตรวจสอบ / ผู้อนุมัติ) at the end of the PDF
    signatures: bool = True
    #: who signs (``policies.reports.signatures.<kind>``); empty: the three roles, unnamed
    signers: list[Signer] = field(default_factory=list)
    #: the office above the title (``policies.reports.organisation`` and ``unit``)
    organisation: T | None = None
    unit: T | None = None
    #: machine-readable extras for the JSON output only
    data: dict[str, Any] = field(default_factory=dict)


SIGNATURES = tuple(MESSAGES[f"report.{role}"]
                   for role in ("prepared_by", "reviewed_by", "approved_by"))
SIGN = MESSAGES["report.sign"]
POSITION = MESSAGES["report.position"]
DATE_LINE = MESSAGES["report.date_line"]
SUMMARY = MESSAGES["report.summary"]
NOTES = MESSAGES["report.notes"]
PAGE = MESSAGES["report.page"]


ROLES = {"prepared": SIGNATURES[0], "reviewed": SIGNATURES[1], "approved": SIGNATURES[2]}


def _bilingual(name: Bilingual | None) -> T | None:
    return None if name is None else T(name.th, name.en or name.th)


def sign_off(report: Report, settings: ReportsConfig) -> Report:
    """``report`` with the office's names and the signers of its kind from
    ``policies.reports`` (docs/reports.md)."""
    report.organisation = _bilingual(settings.organisation)
    report.unit = _bilingual(settings.unit)
    signers = getattr(settings.signatures, report.kind, [])
    report.signers = [Signer(ROLES[s.role], s.name, s.position) for s in signers]
    return report


def _office(report: Report, lang: Lang) -> list[str]:
    return [n.pick(lang) for n in (report.organisation, report.unit) if n is not None]


def render(report: Report, fmt: str, lang: str, path: str | Path) -> Path:
    """Write ``report`` to ``path`` in ``fmt`` and ``lang``; returns the path."""
    data = render_bytes(report, fmt, lang)
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as err:
        raise RenderError(f"cannot write {out}: {err.strerror}") from err
    return out


def render_bytes(report: Report, fmt: str, lang: str) -> bytes:
    if fmt not in FORMATS:
        raise RenderError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    if lang not in LANGS:
        raise RenderError(f"unknown language {lang!r} (use th or en)")
    language: Lang = "th" if lang == "th" else "en"
    if fmt == "csv":
        return _csv(report, language)
    if fmt == "json":
        return _json(report, language)
    if fmt == "xlsx":
        return _xlsx(report, language)
    return _pdf(report, language)


# --- json and csv --------------------------------------------------------------------------

def to_json(report: Report, lang: Lang) -> dict[str, Any]:
    sections = []
    for section in report.sections:
        item: dict[str, Any] = {"title": section.title.pick(lang),
                                "notes": [n.pick(lang) for n in section.notes]}
        if section.table is not None:
            cols = section.table.columns
            item["columns"] = [{"key": c.key, "title": c.title(lang)} for c in cols]
            item["rows"] = [{c.key: _plain(row.get(c.key), lang) for c in cols}
                            for row in section.table.rows]
        sections.append(item)
    return {
        "kind": report.kind,
        "lang": lang,
        "organisation": report.organisation.pick(lang) if report.organisation else None,
        "unit": report.unit.pick(lang) if report.unit else None,
        "title": report.title.pick(lang),
        "signatures": [{"role": s.role.pick(lang), "name": s.name, "position": s.position}
                       for s in report.signers] if report.signatures else [],
        "meta": [{"label": m.label.pick(lang), "value": _plain(m.value, lang)}
                 for m in report.meta],
        "sections": sections,
        "summary": [{"label": s.label.pick(lang), "value": _plain(s.value, lang)}
                    for s in report.summary],
        "footnotes": [f.pick(lang) for f in report.footnotes],
        "data": report.data,
    }


def _json(report: Report, lang: Lang) -> bytes:
    return json.dumps(to_json(report, lang), ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


def _csv(report: Report, lang: Lang) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for name in _office(report, lang):
        writer.writerow([name])
    writer.writerow([report.title.pick(lang)])
    for line in report.meta:
        writer.writerow([line.label.pick(lang), _plain(line.value, lang)])
    for section in report.sections:
        writer.writerow([])
        writer.writerow([section.title.pick(lang)])
        for note in section.notes:
            writer.writerow([note.pick(lang)])
        if section.table is not None:
            cols = section.table.columns
            writer.writerow([c.title(lang) for c in cols])
            for row in section.table.rows:
                writer.writerow([_plain(row.get(c.key), lang) for c in cols])
    if report.summary:
        writer.writerow([])
        writer.writerow([SUMMARY.pick(lang)])
        for line in report.summary:
            writer.writerow([line.label.pick(lang), _plain(line.value, lang)])
    if report.footnotes:
        writer.writerow([])
        for note in report.footnotes:
            writer.writerow([note.pick(lang)])
    # the BOM makes Excel read UTF-8 instead of the Windows code page
    return buf.getvalue().encode("utf-8-sig")


# --- xlsx ----------------------------------------------------------------------------------

XLSX_FONT = "TH Sarabun New"
#: Excel's LCID date codes: 01 = Western digits, 07 = the Thai Buddhist calendar, 041E = Thai;
#: Excel and LibreOffice show the year in the Buddhist Era (2568), the cell stays a date
XLSX_DATE = {"th": "[$-107041E]d mmm yyyy", "en": "d mmm yyyy"}
XLSX_DATETIME = {"th": "[$-107041E]d mmm yyyy hh:mm", "en": "d mmm yyyy hh:mm"}
XLSX_FORMATS = {"money": "#,##0.00", "count": "#,##0", "hours": "0.00"}


def _xlsx(report: Report, lang: Lang) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    size = 14 if lang == "th" else 11  # Thai faces are drawn small for their point size
    normal = Font(name=XLSX_FONT, size=size)
    bold = Font(name=XLSX_FONT, size=size, bold=True)
    title_font = Font(name=XLSX_FONT, size=size + 4, bold=True)
    head_fill = PatternFill("solid", fgColor="DDE4EE")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = report.kind[:31] or "report"
    widths: dict[int, int] = {}

    def put(row: int, col: int, value: Cell, font: Font = normal, fmt: str | None = None
            ) -> None:
        shown: Any = value
        if isinstance(value, Day):
            day = value.value
            if isinstance(day, datetime):  # Bangkok wall time: Excel has no zones
                shown = day.astimezone(BANGKOK).replace(tzinfo=None)
                fmt = XLSX_DATETIME[lang]
            else:
                shown = day
                fmt = XLSX_DATE[lang]
        elif isinstance(value, T):
            shown = value.pick(lang)
        cell = sheet.cell(row=row, column=col, value=shown)
        cell.font = font
        cell.alignment = Alignment(vertical="top", wrap_text=isinstance(shown, str))
        if fmt and not isinstance(shown, str):
            cell.number_format = fmt
        if value is not None:
            longest = max((len(p) for p in text(value, lang).splitlines()), default=0)
            widths[col] = max(widths.get(col, 8), min(60, longest + 2))

    row = 1
    for name in _office(report, lang):
        sheet.cell(row=row, column=1, value=name).font = bold
        row += 1
    sheet.cell(row=row, column=1, value=report.title.pick(lang)).font = title_font
    row += 1
    for line in report.meta:
        put(row, 1, line.label.pick(lang), bold)
        put(row, 2, line.value)
        row += 1
    first_table: tuple[int, int, int] | None = None  # header row, last row, columns
    for section in report.sections:
        row += 1
        sheet.cell(row=row, column=1, value=section.title.pick(lang)).font = bold
        row += 1
        for note in section.notes:
            sheet.cell(row=row, column=1, value=note.pick(lang)).font = normal
            row += 1
        if section.table is None:
            continue
        columns = section.table.columns
        header = row
        for col, column in enumerate(columns, start=1):
            put(row, col, column.title(lang), bold)
            sheet.cell(row=row, column=col).fill = head_fill
        row += 1
        first = row
        for item in section.table.rows:
            for col, column in enumerate(columns, start=1):
                value = item.get(column.key)
                fmt = XLSX_FORMATS.get(column.kind)
                if isinstance(value, Total):
                    letter = get_column_letter(col)
                    refs = ",".join(f"{letter}{first + i}" for i in value.rows)
                    cell = sheet.cell(row=row, column=col,
                                      value=f"=SUM({refs})" if refs else 0)
                    cell.font = bold
                    cell.number_format = fmt or "General"
                    widths[col] = max(widths.get(col, 8), len(text(value, lang)) + 2)
                else:
                    put(row, col, value, normal, fmt)
            row += 1
        if first_table is None and section.table.rows:
            first_table = (header, row - 1, len(columns))
    if report.summary:
        row += 1
        sheet.cell(row=row, column=1, value=SUMMARY.pick(lang)).font = bold
        row += 1
        for line in report.summary:
            put(row, 1, line.label.pick(lang), bold)
            put(row, 2, line.value)
            row += 1
    if report.footnotes:
        row += 1
        for note in report.footnotes:
            sheet.cell(row=row, column=1, value=note.pick(lang)).font = normal
            row += 1
    for col, width in widths.items():
        sheet.column_dimensions[get_column_letter(col)].width = width
    # print and navigation: the first table's header stays in view and repeats on every
    # printed page; landscape A4 fitted to the page width
    if first_table is not None:
        header, last, ncols = first_table
        sheet.freeze_panes = f"A{header + 1}"
        sheet.auto_filter.ref = f"A{header}:{get_column_letter(ncols)}{last}"
        sheet.print_title_rows = f"{header}:{header}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


# --- pdf -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ThaiFont:
    family: str
    regular: Path
    bold: Path | None


def _fc_list() -> list[Path]:
    binary = shutil.which("fc-list")
    if binary is None:
        return []
    try:
        out = subprocess.run([binary, ":lang=th", "file"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [Path(line.split(":", 1)[0].strip()) for line in out.splitlines() if line.strip()]


def find_thai_font(candidates: Sequence[Path] | None = None) -> ThaiFont:
    """The best installed Thai TrueType face (fontconfig first, then the Debian font dirs)."""
    files = list(candidates) if candidates is not None else _fc_list()
    if candidates is None and not files:
        files = [p for d in FONT_DIRS if d.is_dir() for p in d.rglob("*.ttf")]
    ttfs = {p.name: p for p in files if p.suffix.lower() == ".ttf" and p.is_file()}
    for family in FONT_PREFERENCE:
        for regular_name in (f"{family}.ttf", f"{family}-Regular.ttf"):
            if regular_name in ttfs:
                bold = ttfs.get(f"{family}-Bold.ttf")
                return ThaiFont(family, ttfs[regular_name], bold)
    raise RenderError(
        "no Thai TrueType font found: install Debian's fonts-tlwg-garuda-ttf or "
        "fonts-tlwg-loma-ttf (fc-list :lang=th lists none); fonts are never downloaded")


def _pdf(report: Report, lang: Lang, font: ThaiFont | None = None) -> bytes:
    # fontTools logs every subsetting step at INFO: noise in the CLI's output
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    face = font or find_thai_font()
    widths: dict[tuple[str, float, str], float] = {}  # measured once for both passes
    first = _PdfWriter(report, lang, face, widths=widths)
    data = first.build()
    if first.signatures_alone:
        # the signature block went to a page of its own: take the last table's last rows
        # along, so the signatures sit under the figures they sign for
        data = _PdfWriter(report, lang, face, carry=2, widths=widths).build()
    return data


class _PdfWriter:
    """One pass of the PDF layout. Every text is wrapped here (``thai_wrap.wrap``: between
    dictionary words, numbers, IDs and dates whole) and handed to fpdf2 as explicit lines, so
    fpdf2 never breaks a line itself and no break hint is left in the text."""

    LINE = 5.5      # table line height (mm)
    PADDING = 1.0   # table cell padding (mm)
    SLACK = 0.3     # measured widths are a hair short of fpdf2's own (rounding)
    WIDEST = 40.0   # the most a column widens for one unbreakable unit (mm)

    def __init__(self, report: Report, lang: Lang, face: ThaiFont, carry: int = 0,
                 widths: dict[tuple[str, float, str], float] | None = None) -> None:
        self.report = report
        self.lang: Lang = lang
        self.face = face
        self.carry = carry
        self.signatures_alone = False
        self.table_end_page = 0
        self.pdf: Any = None
        self.widths = {} if widths is None else widths

    # -- helpers --
    def _font(self, style: str, size: float) -> None:
        self.pdf.set_font(self.face.family, style, size)

    def lines(self, value: str, width: float) -> list[str]:
        from upkeep.policies.thai_wrap import wrap

        return wrap(value, width - self.SLACK, self.measure)

    def measure(self, value: str) -> float:
        """The shaped width of ``value`` in the current font (HarfBuzz is slow: cached)."""
        key = (self.pdf.font_style, self.pdf.font_size_pt, value)
        if key not in self.widths:
            self.widths[key] = float(self.pdf.get_string_width(value))
        return self.widths[key]

    def para(self, value: str, height: float, style: str = "", size: float = 10,
             align: str = "L") -> None:
        pdf = self.pdf
        self._font(style, size)
        lines = self.lines(value, pdf.epw - 2 * pdf.c_margin)
        pdf.multi_cell(pdf.epw, height, "\n".join(lines), align=align,
                       new_x="LMARGIN", new_y="NEXT")

    def para_height(self, value: str, height: float, style: str = "", size: float = 10
                    ) -> float:
        self._font(style, size)
        return height * len(self.lines(value, self.pdf.epw - 2 * self.pdf.c_margin))

    def cells(self, table: Table, widths: tuple[float, ...], row: dict[str, Cell] | None
              ) -> list[str]:
        inner = [w - 2 * self.PADDING for w in widths]
        if row is None:
            self._font("B", 9)
            return ["\n".join(self.lines(c.title(self.lang), w))
                    for c, w in zip(table.columns, inner, strict=True)]
        self._font("", 9)
        return ["\n".join(self.lines(text(row.get(c.key), self.lang), w))
                for c, w in zip(table.columns, inner, strict=True)]

    def column_widths(self, table: Table) -> tuple[float, ...]:
        """The columns' relative widths over the page width, each widened to its widest
        unbreakable unit (word, number, ID, date) when the page allows, taking the room
        from the columns that have some to spare."""
        from upkeep.policies.thai_wrap import widest_unit

        total = sum(c.width for c in table.columns)
        widths = [self.pdf.epw * c.width / total for c in table.columns]
        extra = 2 * self.PADDING + self.SLACK + 0.2
        needs = []
        for column in table.columns:
            self._font("B", 9)
            need = widest_unit(column.title(self.lang), self.measure)
            self._font("", 9)
            for row in table.rows:
                need = max(need, widest_unit(text(row.get(column.key), self.lang),
                                             self.measure))
            # a hash or a long URL cannot fit a column anyway: it alone is cut, never
            # allowed to squeeze every other column
            needs.append(min(need + extra, self.WIDEST))
        short = sum(max(0.0, n - w) for n, w in zip(needs, widths, strict=True))
        spare = sum(max(0.0, w - n) for n, w in zip(needs, widths, strict=True))
        if short <= 0 or spare <= 0:
            return tuple(widths)
        take = min(1.0, short / spare)  # the share of every column's spare room given up
        give = min(1.0, spare / short)  # the share of every shortfall made good
        return tuple(w + (n - w) * give if n > w else w - (w - n) * take
                     for n, w in zip(needs, widths, strict=True))

    def row_height(self, texts: list[str]) -> float:
        return self.LINE * max((t.count("\n") + 1 for t in texts), default=1) \
            + 2 * self.PADDING

    def room(self) -> float:
        return float(self.pdf.page_break_trigger - self.pdf.get_y())

    # -- the document --
    def build(self) -> bytes:
        from fpdf import FPDF

        report, lang, face = self.report, self.lang, self.face
        title_text = report.title.pick(lang)

        class _Pdf(FPDF):
            def footer(self) -> None:
                self.set_y(-12)
                self.set_font(face.family, size=8)
                self.cell(0, 6, f"{title_text} · {PAGE.pick(lang)} {self.page_no()}/{{nb}}",
                          align="C")

        pdf = self.pdf = _Pdf(orientation="L", unit="mm", format="A4")
        pdf.set_title(title_text)
        pdf.set_creator("upkeep")
        pdf.creation_date = datetime.now().astimezone()
        pdf.add_font(face.family, "", str(face.regular))
        pdf.add_font(face.family, "B", str(face.bold or face.regular))
        pdf.set_text_shaping(True)
        pdf.set_auto_page_break(True, margin=16)
        pdf.alias_nb_pages()
        pdf.add_page()
        for name in (report.organisation, report.unit):
            if name is not None and name.pick(lang):
                self.para(name.pick(lang), 6, "B", 11, align="C")
        self.para(title_text, 9, "B", 16, align="C")
        pdf.ln(2)
        for line in report.meta:
            self.para(f"{line.label.pick(lang)}: {text(line.value, lang)}", 6)
        tables = [i for i, s in enumerate(report.sections)
                  if s.table is not None and s.table.columns]
        for index, section in enumerate(report.sections):
            self.section(section, last=bool(tables) and index == tables[-1])
        if report.summary:
            pdf.ln(3)
            self.para(SUMMARY.pick(lang), 8, "B", 12)
            for line in report.summary:
                self.para(f"{line.label.pick(lang)}: {text(line.value, lang)}", 6)
        if report.footnotes:
            pdf.ln(3)
            for note in report.footnotes:
                self.para(note.pick(lang), 5, size=8)
        if report.signatures:
            self.signature_block(bool(tables))
        return bytes(pdf.output())

    def section(self, section: Section, *, last: bool) -> None:
        from fpdf.fonts import FontFace

        pdf, lang = self.pdf, self.lang
        table = section.table if section.table is not None and section.table.columns else None
        title = section.title.pick(lang)
        widths: tuple[float, ...] = ()
        head: list[str] = []
        body: list[list[str]] = []
        if table is not None:
            widths = self.column_widths(table)
            head = self.cells(table, widths, None)
            body = [self.cells(table, widths, row) for row in table.rows]
        # the heading, its notes, the table's header and first row go on one page
        needed = 3 + self.para_height(title, 8, "B", 12) \
            + sum(self.para_height(n.pick(lang), 5, size=9) for n in section.notes)
        if table is not None:
            needed += self.row_height(head) + (self.row_height(body[0]) if body else 0)
        # re-laid for the signatures: the last table's last rows start a page; a table too
        # short to split goes there whole, with its heading
        carry = min(self.carry, len(body) - 1) if last and self.carry else 0
        whole = last and self.carry > 0 and carry < self.carry
        if (needed > self.room() or whole) and pdf.get_y() > pdf.t_margin + 1:
            pdf.add_page()
        if whole:
            carry = 0
        pdf.ln(3)
        self.para(title, 8, "B", 12)
        for note in section.notes:
            self.para(note.pick(lang), 5, size=9)
        if table is None:
            return
        heading = FontFace(family=self.face.family, emphasis="BOLD",
                           fill_color=(221, 228, 238))
        parts = [body[:len(body) - carry], body[len(body) - carry:]] if carry > 0 else [body]
        for number, part in enumerate(parts):
            if number:
                pdf.add_page()
            self._font("", 9)
            with pdf.table(col_widths=widths, headings_style=heading, line_height=self.LINE,
                           text_align=tuple(c.align for c in table.columns),
                           first_row_as_headings=True, padding=self.PADDING) as grid:
                header = grid.row()
                for cell in head:
                    header.cell(cell)
                for texts in part:
                    row = grid.row()
                    for cell in texts:
                        row.cell(cell)
        self.table_end_page = pdf.page_no()

    def signature_block(self, has_table: bool) -> None:
        """Per signer: the role, a line to sign on, the name in brackets, the position and a
        date line; names and positions come from ``policies.reports.signatures``."""
        pdf, lang = self.pdf, self.lang
        signers = self.report.signers or [Signer(role) for role in SIGNATURES]
        dots = "." * 40
        blocks = []
        for signer in signers:
            name = signer.name or dots
            blocks.append([signer.role.pick(lang),
                           f"{SIGN.pick(lang)} {dots}",
                           f"( {name} )",
                           f"{POSITION.pick(lang)} {signer.position or dots}",
                           DATE_LINE.pick(lang)])
        height = 10 + 7 * max(len(b) for b in blocks)
        if height > self.room():
            pdf.add_page()
        # on a page that holds no row of the last table: the caller re-lays the report so
        # that the table's last rows come along
        self.signatures_alone = has_table and pdf.page_no() > self.table_end_page
        pdf.ln(10)
        box = pdf.epw / len(blocks)
        self._font("", 10)
        for line in range(max(len(b) for b in blocks)):
            for block in blocks:
                value = block[line] if line < len(block) else ""
                fitted = self.lines(value, box - 2 * pdf.c_margin)
                pdf.cell(box, 7, fitted[0] if fitted else "", align="C")
            pdf.ln(7)
