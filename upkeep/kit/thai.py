"""Thai conventions for reports: Buddhist-Era dates, fiscal years, Thai digits, baht in words.

Everything here is pure. Times are converted to Asia/Bangkok (UTC+7, no daylight saving since
1920) *before* a calendar date or a fiscal year is derived, because a UTC timestamp such as
``2024-09-30T17:30Z`` already falls on 1 Oct in Bangkok and so in fiscal year 2568.

- BE = CE + 543 (valid for dates after 1941, when Thailand moved New Year to 1 January).
- A fiscal year runs 1 October - 30 September and is named by the BE year in which it ends:
  FY 2568 = 1 Oct 2024 - 30 Sep 2025.
- Amounts in words follow the Thai cheque convention ("bahttext"): เอ็ด for a final one after
  tens or higher (สิบเอ็ด, หนึ่งร้อยเอ็ด), ยี่สิบ for twenty, ล้าน repeated for large numbers,
  ถ้วน when there are no satang.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

Lang = Literal["th", "en"]

#: Asia/Bangkok: a fixed UTC+7 offset is exact for every date this software will see, and
#: needs no tzdata on the target machine (Windows has none by default)
BANGKOK = timezone(timedelta(hours=7), "ICT")
BE_OFFSET = 543

THAI_MONTHS = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม",
               "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม")
THAI_MONTHS_ABBR = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.",
                    "ต.ค.", "พ.ย.", "ธ.ค.")
EN_MONTHS_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                  "Dec")
EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")

_THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


# --- time and fiscal years -----------------------------------------------------------------

def to_bangkok(when: float | datetime) -> datetime:
    """A Unix timestamp or an aware datetime as Bangkok local time (naive datetimes refused)."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("a naive datetime is ambiguous; give a timezone or a timestamp")
        return when.astimezone(BANGKOK)
    return datetime.fromtimestamp(float(when), BANGKOK)


def be_year(ce_year: int) -> int:
    return ce_year + BE_OFFSET


def fiscal_year(when: float | datetime) -> int:
    """The BE fiscal year of an instant, judged in Bangkok time (1 Oct starts the next FY)."""
    local = to_bangkok(when)
    return local.year + BE_OFFSET + (1 if local.month >= 10 else 0)


def fiscal_year_start(fy_be: int) -> datetime:
    """First instant of fiscal year ``fy_be`` (1 October 00:00 Bangkok of the previous CE year)."""
    return datetime(fy_be - BE_OFFSET - 1, 10, 1, tzinfo=BANGKOK)


def fiscal_year_bounds(fy_be: int) -> tuple[float, float]:
    """``[start, end)`` of the fiscal year as Unix timestamps."""
    return fiscal_year_start(fy_be).timestamp(), fiscal_year_start(fy_be + 1).timestamp()


def thai_digits(text: str) -> str:
    """Arabic digits to Thai digits (๐-๙), leaving everything else alone."""
    return text.translate(_THAI_DIGITS)


def format_date(when: float | datetime | date, lang: Lang = "th", *, long: bool = False,
                digits: Literal["arabic", "thai"] = "arabic") -> str:
    """``1 ต.ค. 2567`` (th, BE) or ``1 Oct 2024`` (en, CE); ``long`` spells the month out."""
    if isinstance(when, datetime) or not isinstance(when, date):
        when = to_bangkok(when).date()
    if lang == "th":
        month = (THAI_MONTHS if long else THAI_MONTHS_ABBR)[when.month - 1]
        text = f"{when.day} {month} {when.year + BE_OFFSET}"
        return thai_digits(text) if digits == "thai" else text
    month = (EN_MONTHS if long else EN_MONTHS_ABBR)[when.month - 1]
    return f"{when.day} {month} {when.year}"


def format_datetime(when: float | datetime, lang: Lang = "th", *, seconds: bool = False,
                    digits: Literal["arabic", "thai"] = "arabic") -> str:
    """``1 ต.ค. 2567 08:00`` (th) / ``1 Oct 2024 08:00`` (en), Bangkok time."""
    local = to_bangkok(when)
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    text = f"{format_date(local, lang)} {clock}"
    return thai_digits(text) if digits == "thai" and lang == "th" else text


def fiscal_year_label(fy_be: int, lang: Lang = "th") -> str:
    """``ปีงบประมาณ พ.ศ. 2568`` / ``fiscal year 2568 BE``."""
    return f"ปีงบประมาณ พ.ศ. {fy_be}" if lang == "th" else f"fiscal year {fy_be} BE"


def fiscal_year_period(fy_be: int, lang: Lang = "th") -> str:
    """``1 ต.ค. 2567 – 30 ก.ย. 2568`` / ``1 Oct 2024 – 30 Sep 2025``."""
    start = fiscal_year_start(fy_be).date()
    end = fiscal_year_start(fy_be + 1).date() - timedelta(days=1)
    return f"{format_date(start, lang)} – {format_date(end, lang)}"


def format_duration(seconds: float, lang: Lang = "th") -> str:
    """``13 ชั่วโมง 0 นาที`` / ``13 h 0 min``; days shown from 24 h (``2 วัน 6 ชั่วโมง 0 นาที``)."""
    total = max(0, int(round(seconds)))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if lang == "th":
        parts = ([f"{days} วัน"] if days else []) + [f"{hours} ชั่วโมง", f"{minutes} นาที"]
        if secs and not days:
            parts.append(f"{secs} วินาที")
    else:
        parts = ([f"{days} d"] if days else []) + [f"{hours} h", f"{minutes} min"]
        if secs and not days:
            parts.append(f"{secs} s")
    return " ".join(parts)


# --- numbers and money ---------------------------------------------------------------------

def format_number(value: float | Decimal, decimals: int = 2,
                  digits: Literal["arabic", "thai"] = "arabic") -> str:
    """Thousands separators and a fixed number of decimals: ``105,000.00``."""
    quant = Decimal(1).scaleb(-decimals)
    text = f"{Decimal(str(value)).quantize(quant, rounding=ROUND_HALF_UP):,.{decimals}f}"
    return thai_digits(text) if digits == "thai" else text


def format_baht(value: float | Decimal, lang: Lang = "th") -> str:
    """``105,000.00 บาท`` / ``THB 105,000.00``."""
    return f"{format_number(value)} บาท" if lang == "th" else f"THB {format_number(value)}"


_DIGIT_WORDS = ("ศูนย์", "หนึ่ง", "สอง", "สาม", "สี่", "ห้า", "หก", "เจ็ด", "แปด", "เก้า")
_PLACES = ("", "สิบ", "ร้อย", "พัน", "หมื่น", "แสน")


def _group_words(number: int, has_higher: bool) -> str:
    """Words for 0 <= number < 1,000,000 (empty for 0); ``has_higher`` = a ล้าน part precedes."""
    text = ""
    digits = str(number)
    width = len(digits)
    for index, char in enumerate(digits):
        digit = int(char)
        place = width - index - 1
        if digit == 0:
            continue
        if place == 1:
            text += {1: "", 2: "ยี่"}.get(digit, _DIGIT_WORDS[digit]) + "สิบ"
        elif place == 0:
            # เอ็ด: a final one after anything bigger (11, 101, 1,000,001)
            text += "เอ็ด" if digit == 1 and (number > 9 or has_higher) else _DIGIT_WORDS[digit]
        else:
            text += _DIGIT_WORDS[digit] + _PLACES[place]
    return text


def thai_number_words(number: int) -> str:
    """A whole number in Thai words: 21 -> ยี่สิบเอ็ด, 1,000,001 -> หนึ่งล้านเอ็ด."""
    if number < 0:
        return "ลบ" + thai_number_words(-number)
    if number == 0:
        return _DIGIT_WORDS[0]
    if number < 1_000_000:
        return _group_words(number, False)
    high, low = divmod(number, 1_000_000)
    return thai_number_words(high) + "ล้าน" + _group_words(low, True)


def baht_text(amount: float | int | Decimal | str) -> str:
    """An amount in words for budget tables: 105000 -> หนึ่งแสนห้าพันบาทถ้วน,
    1.50 -> หนึ่งบาทห้าสิบสตางค์, 0.25 -> ยี่สิบห้าสตางค์ (satang rounded half up)."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "ลบ" if value < 0 else ""
    value = abs(value)
    baht = int(value)
    satang = int((value - baht) * 100)
    if baht == 0 and satang == 0:
        return "ศูนย์บาทถ้วน"
    text = sign
    if baht:
        text += thai_number_words(baht) + "บาท"
    text += thai_number_words(satang) + "สตางค์" if satang else "ถ้วน"
    return text
