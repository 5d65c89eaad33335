"""Reading the office's asset list (CSV or XLSX) into validated rows. Pure apart from the file.

Row numbers are the spreadsheet's own (the header is row 1), so a rejection can be found in
Excel at once. Dates may be ISO (2016-11-15), day-first (15/11/2016) or carry a Buddhist-Era
year (15/11/2559, 2559-11-15): Thai offices type both. A UPS battery date that vendors use as
a placeholder (2001-09-25 and friends) is kept as *unknown*, not as a 25-year-old battery.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from upkeep.collectors.ups_model import PLACEHOLDER_DATES
from upkeep.config.policy_assets import ASSET_CLASSES
from upkeep.errors import UpkeepError

ASSET_STATUSES = ("in_use", "spare", "repair", "pending_disposal", "disposed")

#: column -> accepted header spellings (lower-case; Thai headers as the office's sheet has them)
COLUMNS: dict[str, tuple[str, ...]] = {
    "asset_tag": ("asset_tag", "tag", "asset tag", "เลขครุภัณฑ์", "หมายเลขครุภัณฑ์"),
    "class": ("class", "category", "ประเภท"),
    "site": ("site", "location", "สถานที่", "หน่วยงาน"),
    "manufacturer": ("manufacturer", "mfr", "vendor", "ยี่ห้อ", "ผู้ผลิต"),
    "model": ("model", "รุ่น"),
    "serial": ("serial", "serial_number", "serial number", "หมายเลขเครื่อง"),
    "parent_serial": ("parent_serial", "ups_serial"),
    "purchase_date": ("purchase_date", "purchase date", "วันที่ซื้อ"),
    "in_service": ("in_service", "in_service_date", "in-service date", "installed",
                   "วันที่เริ่มใช้งาน"),
    "price_thb": ("price", "price_thb", "purchase_cost", "ราคา", "ราคาที่ซื้อ"),
    "replacement_price_thb": ("replacement_price", "replacement_price_thb",
                              "replacement price", "ราคาทดแทน"),
    "capacity_kva": ("capacity_kva", "kva", "capacity", "ขนาด (kva)", "ขนาด kva"),
    "warranty_end": ("warranty_end", "warranty end", "วันสิ้นสุดการรับประกัน"),
    "life_years": ("life_years", "life", "life override", "อายุการใช้งาน"),
    "vendor_eos": ("vendor_eos", "end_of_support", "vendor end of support"),
    "status": ("status", "สถานะ"),
    "notes": ("notes", "note", "หมายเหตุ"),
}
DATE_FIELDS = ("purchase_date", "in_service", "warranty_end", "vendor_eos")
#: numeric column -> accepted range
NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "price_thb": (0.0, 1e10), "replacement_price_thb": (0.0, 1e10),
    "life_years": (0.01, 50.0), "capacity_kva": (0.01, 10_000.0)}


class AssetFileError(UpkeepError):
    """The file as a whole cannot be read (not its rows: those are rejected one by one)."""


@dataclass
class ParsedRow:
    row: int
    values: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Rejection:
    row: int
    reason: str


def normalize_serial(value: str | None) -> str | None:
    if value is None:
        return None
    clean = re.sub(r"\s+", "", str(value)).upper()
    return clean or None


_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_YMD = re.compile(r"^(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})$")


def parse_date(value: Any) -> date:
    """ISO, day-first, or Buddhist-Era; raises ValueError with a readable message."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        year = value.year
        return value.replace(year=year - 543) if year > 2400 else value
    text = str(value).strip()
    m = _YMD.match(text)
    if m:
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif m := _DMY.match(text):
        day, month, year = int(m[1]), int(m[2]), int(m[3])
    else:
        raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD or DD/MM/YYYY)")
    if year > 2400:  # Buddhist Era
        year -= 543
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid date") from None


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def validate_row(row: int, raw: dict[str, Any]) -> ParsedRow | Rejection:
    out = ParsedRow(row)
    values = {k: _cell(v) for k, v in raw.items()}
    cls = values.get("class", "").lower().replace(" ", "_").replace("-", "_")
    if not cls:
        return Rejection(row, "class is empty (ups, ups_battery, server, pc, ...)")
    if cls not in ASSET_CLASSES:
        return Rejection(row, f"unknown class {values['class']!r} "
                              f"(use one of {', '.join(ASSET_CLASSES)})")
    values["class"] = cls
    if not values.get("asset_tag") and not values.get("serial"):
        return Rejection(row, "needs an asset tag or a serial number")
    for key in DATE_FIELDS:
        if values.get(key):
            try:
                parsed = parse_date(raw[key])
            except ValueError as err:
                return Rejection(row, f"{key}: {err}")
            if parsed in PLACEHOLDER_DATES or parsed.year < 1980:
                out.warnings.append(f"{key} {parsed.isoformat()} is a vendor placeholder; "
                                    "treated as unknown")
                values[key] = ""
            else:
                values[key] = parsed.isoformat()
    for key, (lower, upper) in NUMBER_RANGES.items():
        if values.get(key):
            try:
                number = float(values[key].replace(",", ""))
            except ValueError:
                return Rejection(row, f"{key}: {values[key]!r} is not a number")
            if not math.isfinite(number) or number < lower or number > upper:
                return Rejection(row, f"{key}: {values[key]} is out of range "
                                      f"({lower:g} to {upper:g})")
            values[key] = f"{number:.2f}" if key.endswith("_thb") else f"{number:g}"
    status = values.get("status", "").lower().replace(" ", "_")
    if status and status not in ASSET_STATUSES:
        return Rejection(row, f"unknown status {values['status']!r} "
                              f"(use one of {', '.join(ASSET_STATUSES)})")
    values["status"] = status
    for key in ("serial", "parent_serial"):
        values[key] = normalize_serial(values.get(key)) or ""
    out.values = {k: v for k, v in values.items() if k in COLUMNS}
    return out


def _column_key(label: str, lookup: dict[str, str]) -> str | None:
    """The column a header names: an alias as it is, or the template's bilingual heading
    ``ประเภท / class [ups, ...]`` (the bracketed hint dropped, either side of the slash)."""
    candidates = [label]
    bare = re.sub(r"\s*\[[^\]]*\]\s*$", "", label)
    candidates += [bare, *(part.strip() for part in bare.split("/"))]
    for candidate in candidates:
        key = lookup.get(candidate) or lookup.get(candidate.replace(" ", "_"))
        if key is not None:
            return key
    return None


def _header_map(header: list[Any]) -> dict[int, str]:
    lookup = {alias: key for key, aliases in COLUMNS.items() for alias in aliases}
    mapping: dict[int, str] = {}
    unknown: list[str] = []
    for index, name in enumerate(header):
        label = _cell(name).lower().lstrip("\ufeff")
        if not label:
            continue
        key = _column_key(label, lookup)
        if key is None:
            unknown.append(_cell(name))
        else:
            mapping[index] = key
    if "class" not in mapping.values():
        raise AssetFileError("the header row has no 'class' column "
                           f"(columns: {', '.join(COLUMNS)})")
    if unknown:
        raise AssetFileError(f"unknown column(s) {', '.join(unknown)} "
                           f"(known: {', '.join(COLUMNS)})")
    return mapping


def decode_csv(data: bytes, path: Path) -> str:
    """UTF-8 (with or without the BOM Excel writes), else Windows-874 / TIS-620, which Thai
    Excel uses for "CSV (Comma delimited)". UTF-8 is tried first: Thai text in TIS-620 is
    never valid UTF-8, so a file that decodes as UTF-8 is UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp874")
    except UnicodeDecodeError as err:
        raise AssetFileError(
            f"{path}: the file is neither UTF-8 nor Thai Windows-874/TIS-620 (byte "
            f"{data[err.start]:#04x} at offset {err.start}); save it from Excel as "
            "\"CSV UTF-8\" or as .xlsx") from None


def read_table(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(row number, {column: raw value}) for every non-empty data row of a CSV or XLSX file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            text = decode_csv(path.read_bytes(), path)
            rows: list[list[Any]] = list(csv.reader(io.StringIO(text)))
        elif suffix in (".xlsx", ".xlsm"):
            from openpyxl import load_workbook

            book = load_workbook(path, read_only=True, data_only=True)
            try:
                rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
            finally:
                book.close()
        else:
            raise AssetFileError(f"{path}: use a .csv or .xlsx file")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, zipfile.BadZipFile) as err:
        if isinstance(err, AssetFileError):
            raise
        raise AssetFileError(f"cannot read {path}: {err}") from err
    if not rows:
        raise AssetFileError(f"{path} is empty")
    mapping = _header_map(rows[0])
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(_cell(v) for v in row):
            continue
        out.append((number, {key: row[i] if i < len(row) else None
                             for i, key in mapping.items()}))
    return out
