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

import re
from datetime import UTC, date, datetime, timedelta, timezone
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


# --- dates people type ---------------------------------------------------------------------

#: a year at or above this is Buddhist Era (BE 2400 = CE 1857: no date this software handles)
BE_THRESHOLD = 2400
#: the oldest year a typed date may carry (older is a typo or a placeholder)
OLDEST_YEAR = 1990
#: a clock skew allowed between the machine typing a time and the one judging "the future"
FUTURE_SLACK_SECONDS = 300.0

_DATE_PART = (r"(?:(?P<y1>\d{4})[-/.](?P<m1>\d{1,2})[-/.](?P<d1>\d{1,2})"
              r"|(?P<d2>\d{1,2})[-/.](?P<m2>\d{1,2})[-/.](?P<y2>\d{4}))")
_TYPED = re.compile(_DATE_PART + r"(?:[T ]+(?P<H>\d{1,2})[:.](?P<M>\d{2})(?::(?P<S>\d{2})"
                    r"(?:\.\d+)?)?)?\s*(?P<zone>Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)


class DateInputError(ValueError):
    """A typed date or time that cannot be used (garbage, impossible, too old, in the future)."""


def ce_year(year: int) -> int:
    """A typed year as CE: ``2568`` (BE, as Thai users type it) -> 2025; ``2025`` stays."""
    return year - BE_OFFSET if year >= BE_THRESHOLD else year


def parse_typed_datetime(text: str, *, now: float | None = None, allow_future: bool = False,
                         what: str = "time") -> float:
    """A time as people type it, as Unix seconds.

    ``now``; ISO ``2025-03-02 08:10`` or ``2025-03-02T01:10Z``; day-first ``02/03/2025 08:10``;
    a date alone means midnight. A year >= 2400 is Buddhist Era (``2568-03-02 08:10``), as Thai
    users type it. Without a zone the time is Bangkok's. Refused with a reason: garbage,
    impossible dates, years before 1990, and (unless ``allow_future``) a time after ``now``.
    """
    import time as _time

    current = _time.time() if now is None else now
    value = text.strip()
    if value.lower() == "now":
        return current
    m = _TYPED.match(value)
    if m is None:
        raise DateInputError(f"{what} {text!r} is not a date and time like 2025-03-02 08:10 or "
                             "02/03/2568 08:10 (Bangkok time; BE or CE year)")
    year = int(m["y1"] or m["y2"])
    month = int(m["m1"] or m["m2"])
    day = int(m["d1"] or m["d2"])
    typed_year, year = year, ce_year(year)
    if year < OLDEST_YEAR:
        raise DateInputError(f"{what} {text!r}: the year {typed_year} is before {OLDEST_YEAR} "
                             f"CE ({OLDEST_YEAR + BE_OFFSET} BE)")
    try:
        when = datetime(year, month, day, int(m["H"] or 0), int(m["M"] or 0), int(m["S"] or 0))
    except ValueError as err:
        raise DateInputError(f"{what} {text!r} is not a valid date: {err}") from None
    zone = m["zone"]
    if zone is None:
        aware = when.replace(tzinfo=BANGKOK)
    elif zone.upper() == "Z":
        aware = when.replace(tzinfo=UTC)
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        aware = when.replace(tzinfo=timezone(sign * offset))
    stamp = aware.timestamp()
    if not allow_future and stamp > current + FUTURE_SLACK_SECONDS:
        raise DateInputError(f"{what} {text!r} ({format_datetime(stamp, 'en')} Bangkok) is in "
                             "the future")
    return stamp


def parse_typed_date(text: str) -> date:
    """A calendar date as people type it (ISO or day-first, BE or CE year)."""
    value = text.strip()
    m = _TYPED.match(value)
    if m is None or m["H"] is not None or m["zone"] is not None:
        raise DateInputError(f"{text!r} is not a date like 2025-03-02 or 02/03/2568")
    year = ce_year(int(m["y1"] or m["y2"]))
    if year < OLDEST_YEAR:
        raise DateInputError(f"{text!r}: the year is before {OLDEST_YEAR} CE")
    try:
        return date(year, int(m["m1"] or m["m2"]), int(m["d1"] or m["d2"]))
    except ValueError as err:
        raise DateInputError(f"{text!r} is not a valid date: {err}") from None


def parse_fiscal_year(value: str | int) -> int:
    """A ``--fiscal-year`` as typed: a BE year (2568). A CE year is refused with the BE year
    it most likely means, because "fiscal year 2025" is ambiguous in an office (the year
    ending in September 2025 is FY 2568; the one starting in October 2025 is FY 2569)."""
    try:
        year = int(str(value).strip())
    except ValueError:
        raise DateInputError(f"fiscal year {value!r} is not a year (use the Buddhist Era, "
                             "e.g. 2568)") from None
    if BE_THRESHOLD + 100 <= year <= BE_THRESHOLD + 400:
        return year
    if OLDEST_YEAR <= year < BE_THRESHOLD:
        fy = year + BE_OFFSET
        raise DateInputError(
            f"fiscal year {year} looks like a Gregorian (CE) year: fiscal years are named in the "
            f"Buddhist Era. The year 1 Oct {year - 1} - 30 Sep {year} is {fy} "
            f"(--fiscal-year {fy}); the one starting 1 Oct {year} is {fy + 1}")
    raise DateInputError(f"fiscal year {year} is out of range (use the Buddhist Era, e.g. 2568)")
