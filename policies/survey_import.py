"""Reading a satisfaction survey export (CSV or XLSX) into per-question rating counts.

Offices export responses from Google Forms or Microsoft Forms: one row per respondent, a
column per question, Thai or English headers, UTF-8 (with or without BOM) or Windows Thai
(cp874) for a CSV that passed through Excel. Columns are recognised by header:

- time stamps (``Timestamp`` / ``ประทับเวลา``, ``Start time`` / ``Completion time``), a name
  column and any column given to ``ignore`` are skipped;
- a respondent id (``ID``, ``Respondent``, ``รหัสผู้ตอบ``, ``Email`` / ``อีเมล``) is used only to
  find duplicates (``anonymous`` and blanks are not ids); it is not stored;
- comment columns (headers with ข้อเสนอแนะ, ความคิดเห็น, comment, suggestion, feedback) are
  kept as free text;
- every other column is a rating question when most of its answers are ratings: 1-5 (also
  Thai digits, ``5 (มากที่สุด)``) or the usual five-point labels (มากที่สุด 5, มาก 4, ปานกลาง 3,
  น้อย 2, น้อยที่สุด 1, also with พึงพอใจ/พอใจ before them, and the English ones); other
  columns (e.g. age group, office) are not ratings and are left out.

A blank answer is not a rating (the respondent still counts). Any other bad cell (a rating
out of 1-5, an unknown label) or a duplicate respondent rejects the row, with the
spreadsheet's own row number (header = row 1). Pure apart from reading the file.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upkeep.errors import UpkeepError

_LABELS: dict[str, int] = {
    "มากที่สุด": 5, "มาก": 4, "ปานกลาง": 3, "น้อย": 2, "น้อยที่สุด": 1,
    "very satisfied": 5, "satisfied": 4, "neutral": 3, "dissatisfied": 2,
    "very dissatisfied": 1, "strongly agree": 5, "agree": 4, "neither agree nor disagree": 3,
    "disagree": 2, "strongly disagree": 1, "excellent": 5, "very good": 4, "good": 4,
    "fair": 3, "poor": 2, "very poor": 1,
}
_LABEL_PREFIXES = ("พึงพอใจ", "พอใจ", "ระดับ")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_NUMBER = re.compile(r"^([+-]?\d+(?:\.\d+)?)(?:\s*[-(:.]\s*.*)?$")

_SKIP = ("timestamp", "ประทับเวลา", "start time", "completion time", "last modified time",
         "เวลาเริ่มต้น", "เวลาที่เสร็จสมบูรณ์", "เวลาที่แก้ไขล่าสุด", "name", "ชื่อ",
         "ชื่อ-นามสกุล", "ชื่อ - นามสกุล")
_ID = ("respondent id", "respondent", "respondent_id", "รหัสผู้ตอบ", "รหัสผู้ตอบแบบสอบถาม",
       "id", "email", "email address", "อีเมล", "ที่อยู่อีเมล")
_COMMENT_WORDS = ("ข้อเสนอแนะ", "ความคิดเห็น", "comment", "suggestion", "feedback")
_NOT_IDS = ("", "anonymous", "ไม่ระบุตัวตน")


class SurveyFileError(UpkeepError):
    """The survey file cannot be imported (as a whole, or because of rejected rows)."""


@dataclass(frozen=True)
class Rejection:
    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass
class ParsedSurvey:
    questions: list[str]
    #: question -> rating (1-5) -> count
    histogram: dict[str, dict[int, int]]
    respondents: int
    blank_answers: int
    comments: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def parse_rating(value: Any) -> int | None:
    """A cell as a rating 1-5; None for a blank; ValueError naming what is wrong."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a rating")
    if isinstance(value, int | float):
        number = float(value)
        text = f"{value:g}"
    else:
        text = " ".join(str(value).split())
        if not text:
            return None
        match = _NUMBER.match(text.translate(_THAI_DIGITS))
        if match is None:
            label = text.lower()
            for prefix in _LABEL_PREFIXES:
                if label.startswith(prefix) and label != prefix:
                    label = label[len(prefix):].strip()
                    break
            if label in _LABELS:
                return _LABELS[label]
            raise ValueError(f"{text!r} is neither a rating 1-5 nor a known label "
                             "(มากที่สุด, มาก, ปานกลาง, น้อย, น้อยที่สุด)")
        number = float(match.group(1))
    if not number.is_integer() or not 1 <= number <= 5:
        raise ValueError(f"rating {text} is outside 1-5")
    return int(number)


def _looks_like_rating(value: Any) -> bool:
    try:
        parse_rating(value)
    except ValueError as err:
        return "outside 1-5" in str(err)
    return True


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def _decode(data: bytes, path: Path) -> str:
    for encoding in ("utf-8-sig", "cp874"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SurveyFileError(f"{path}: neither UTF-8 nor Windows Thai (cp874) text")


def read_rows(path: Path) -> list[list[Any]]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return list(csv.reader(io.StringIO(_decode(path.read_bytes(), path))))
        if suffix in (".xlsx", ".xlsm"):
            from openpyxl import load_workbook

            book = load_workbook(path, read_only=True, data_only=True)
            try:
                return [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
            finally:
                book.close()
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, csv.Error) as err:
        if isinstance(err, SurveyFileError):
            raise
        raise SurveyFileError(f"cannot read {path}: {err}") from err
    raise SurveyFileError(f"{path}: use a .csv or .xlsx export")


def parse_survey(rows: list[list[Any]], *, ignore: tuple[str, ...] = (),
                 source: str = "the file") -> ParsedSurvey:
    """Classify the columns and count the ratings; rows with problems go to ``rejected``."""
    if not rows or not any(_text(v) for v in rows[0]):
        raise SurveyFileError(f"{source} has no header row")
    header = [_text(v).lstrip("\ufeff") for v in rows[0]]
    data = [(n, r) for n, r in enumerate(rows[1:], start=2) if any(_text(v) for v in r)]
    if not data:
        raise SurveyFileError(f"{source} has a header but no responses")
    ignored = {name.strip().lower() for name in ignore}

    def cell(row: list[Any], index: int) -> Any:
        return row[index] if index < len(row) else None

    id_col: int | None = None
    comments: list[int] = []
    ratings: list[int] = []
    left_out: list[str] = []
    for index, name in enumerate(header):
        label = name.lower()
        if not label or label in _SKIP or label in ignored:
            continue
        if label in _ID:
            id_col = index if id_col is None or label.startswith(("respondent", "รหัส")) \
                else id_col
            continue
        if any(word in label for word in _COMMENT_WORDS):
            comments.append(index)
            continue
        answers = [cell(r, index) for _, r in data if _text(cell(r, index))]
        if answers and 2 * sum(_looks_like_rating(a) for a in answers) > len(answers):
            ratings.append(index)
        else:
            left_out.append(name)
    if not ratings:
        raise SurveyFileError(
            f"{source} has no rating columns (answers 1-5 or มากที่สุด ... น้อยที่สุด); "
            f"columns: {', '.join(h for h in header if h) or 'none'}")
    questions = [header[i] for i in ratings]
    if len(set(questions)) != len(questions):
        raise SurveyFileError(f"{source}: two rating columns have the same header")
    out = ParsedSurvey(questions, {q: dict.fromkeys(range(1, 6), 0) for q in questions}, 0, 0,
                       ignored_columns=left_out)
    seen: dict[str, int] = {}
    for number, row in data:
        problems: list[str] = []
        values: list[tuple[str, int | None]] = []
        for index in ratings:
            try:
                values.append((header[index], parse_rating(cell(row, index))))
            except ValueError as err:
                problems.append(f"{header[index]}: {err}")
        respondent = _text(cell(row, id_col)) if id_col is not None else ""
        if respondent.lower() not in _NOT_IDS:
            first = seen.get(respondent.lower())
            if first is not None:
                problems.append(f"respondent {respondent!r} already answered in row {first}")
            else:
                seen[respondent.lower()] = number
        if problems:
            out.rejected.append(Rejection(number, "; ".join(problems)))
            continue
        out.respondents += 1
        for question, rating in values:
            if rating is None:
                out.blank_answers += 1
            else:
                out.histogram[question][rating] += 1
        out.comments.extend(text for i in comments if (text := _text(cell(row, i))))
    return out


def read_survey(path: Path, *, ignore: tuple[str, ...] = ()) -> ParsedSurvey:
    return parse_survey(read_rows(path), ignore=ignore, source=str(path))
