"""``upkeep assets template``: an empty asset register the office fills in and imports.

Every header carries the Thai name and the import's column key (``ประเภท / class``), and the
columns with a fixed set of values list them (``[ups, ups_battery, ...]``); dates say how to
type them. ``assets_import`` reads these headers as they are, so a filled template imports
without renaming anything. The XLSX adds drop-down lists for class and status, date and number
formats, and a second sheet (คำอธิบาย / Help) explaining every column in Thai and English.
"""

from __future__ import annotations

import csv
import io

from upkeep.config.policy_assets import ASSET_CLASSES
from upkeep.kit.messages import T
from upkeep.policies.assets_import import ASSET_STATUSES, COLUMNS, DATE_FIELDS

FORMATS = ("csv", "xlsx")

#: column -> (Thai heading, what goes in it); the English heading is the import's column name
HELP: dict[str, tuple[str, T]] = {
    "asset_tag": ("เลขครุภัณฑ์", T("เลขครุภัณฑ์ตามทะเบียนพัสดุ (ต้องมีเลขครุภัณฑ์หรือหมายเลขเครื่องอย่างใดอย่างหนึ่ง)",
                                   "the supplies register's asset number (a tag or a serial is required)")),
    "class": ("ประเภท", T("ประเภทครุภัณฑ์ (ต้องระบุ)", "asset class (required)")),
    "site": ("สถานที่", T("สำนักงานหรือที่ตั้ง", "office or location")),
    "manufacturer": ("ยี่ห้อ", T("ยี่ห้อหรือผู้ผลิต", "manufacturer")),
    "model": ("รุ่น", T("รุ่น (ใช้หาราคาอ้างอิงตามรุ่น)", "model (matched against the price table)")),
    "serial": ("หมายเลขเครื่อง", T("หมายเลขเครื่อง (serial) ใช้จับคู่กับข้อมูลที่เอเจนต์ตรวจพบ",
                                  "serial number, matched with what the agent discovers")),
    "parent_serial": ("หมายเลขเครื่อง UPS ที่ติดตั้ง", T("สำหรับแบตเตอรี่: หมายเลขเครื่อง UPS ที่ติดตั้งอยู่",
                                                      "for a battery: the serial of its UPS")),
    "purchase_date": ("วันที่ซื้อ", T("วันที่ซื้อ", "purchase date")),
    "in_service": ("วันที่เริ่มใช้งาน", T("วันที่เริ่มใช้งาน (ใช้คำนวณวันครบอายุ)",
                                         "in-service date (the end of life counts from it)")),
    "price_thb": ("ราคาที่ซื้อ", T("ราคาที่ซื้อ (บาท)", "purchase price (THB)")),
    "replacement_price_thb": ("ราคาทดแทน", T("ราคาทดแทน (บาท) ถ้าระบุจะใช้แทนราคาอ้างอิง",
                                             "replacement price (THB); wins over the price table")),
    "capacity_kva": ("ขนาด kVA", T("ขนาด UPS (kVA)", "UPS capacity (kVA)")),
    "warranty_end": ("วันสิ้นสุดการรับประกัน", T("วันสิ้นสุดการรับประกัน", "warranty end")),
    "life_years": ("อายุการใช้งาน", T("อายุการใช้งาน (ปี) ถ้าต่างจากค่าของประเภท",
                                     "service life in years, when not the class's")),
    "vendor_eos": ("วันสิ้นสุดการสนับสนุน", T("วันที่ผู้ผลิตยุติการสนับสนุน",
                                             "the vendor's end of support")),
    "status": ("สถานะ", T("สถานะ (ว่าง = ใช้งาน)", "status (empty = in use)")),
    "notes": ("หมายเหตุ", T("หมายเหตุ", "notes")),
}
CLASS_TH = {"ups": "เครื่องสำรองไฟฟ้า", "ups_battery": "แบตเตอรี่ UPS", "server": "เครื่องแม่ข่าย",
            "pc": "คอมพิวเตอร์", "notebook": "โน้ตบุ๊ก", "network": "อุปกรณ์เครือข่าย",
            "other": "อื่น ๆ"}
STATUS_TH = {"in_use": "ใช้งาน", "spare": "สำรอง", "repair": "ส่งซ่อม",
             "pending_disposal": "รอจำหน่าย", "disposed": "จำหน่ายแล้ว"}
ALLOWED: dict[str, tuple[str, ...]] = {"class": ASSET_CLASSES, "status": ASSET_STATUSES}
DATE_HINT = "วว/ดด/ปปปป"


def headings() -> list[str]:
    """The template's header row: ``Thai / column [allowed, values]``."""
    out = []
    for key in COLUMNS:
        label = f"{HELP[key][0]} / {COLUMNS[key][0]}"
        if key in ALLOWED:
            label += f" [{', '.join(ALLOWED[key])}]"
        elif key in DATE_FIELDS:
            label += f" [{DATE_HINT}]"
        out.append(label)
    return out


def template_bytes(fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (use csv or xlsx)")
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerow(headings())
        return buf.getvalue().encode("utf-8-sig")  # the BOM: Excel reads it as UTF-8
    return _xlsx()


def _xlsx() -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    font = Font(name="TH Sarabun New", size=14)
    bold = Font(name="TH Sarabun New", size=14, bold=True)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "ทะเบียนครุภัณฑ์"
    keys = list(COLUMNS)
    last = 1000
    for col, label in enumerate(headings(), start=1):
        cell = sheet.cell(row=1, column=col, value=label)
        cell.font = bold
        cell.fill = PatternFill("solid", fgColor="DDE4EE")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        letter = get_column_letter(col)
        sheet.column_dimensions[letter].width = 18 if keys[col - 1] not in ALLOWED else 24
        key = keys[col - 1]
        if key in ALLOWED:
            check = DataValidation(type="list", formula1=f'"{",".join(ALLOWED[key])}"',
                                   allow_blank=True, showErrorMessage=True,
                                   errorTitle="upkeep", error="ใช้ค่าจากรายการ / pick a listed value")
            check.add(f"{letter}2:{letter}{last}")
            sheet.add_data_validation(check)
        elif key in DATE_FIELDS or key in ("asset_tag", "serial", "parent_serial"):
            # text cells: Excel would otherwise turn 15/11/2559 into a number or drop zeros
            for row in range(2, last + 1):
                sheet.cell(row=row, column=col).number_format = "@"
    sheet.freeze_panes = "A2"
    sheet.row_dimensions[1].height = 48
    guide = book.create_sheet("คำอธิบาย Help")
    guide.append(["คอลัมน์ / column", "ความหมาย", "meaning", "ค่าที่ใช้ได้ / allowed values"])
    for cell in guide[1]:
        cell.font = bold
    for key in keys:
        th, meaning = HELP[key]
        if key == "class":
            allowed = "; ".join(f"{v} = {CLASS_TH[v]}" for v in ASSET_CLASSES)
        elif key == "status":
            allowed = "; ".join(f"{v} = {STATUS_TH[v]}" for v in ASSET_STATUSES)
        elif key in DATE_FIELDS:
            allowed = "วว/ดด/ปปปป (พ.ศ. หรือ ค.ศ.) หรือ YYYY-MM-DD"
        else:
            allowed = ""
        guide.append([f"{th} / {COLUMNS[key][0]}", meaning.th, meaning.en, allowed])
    for row in guide.iter_rows(min_row=2):
        for cell in row:
            cell.font = font
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for letter, width in zip("ABCD", (30, 50, 50, 60), strict=True):
        guide.column_dimensions[letter].width = width
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
