"""Thai conventions: BE dates, fiscal years in Bangkok time, Thai digits, baht in words."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from upkeep.kit import thai
from upkeep.kit.thai import BANGKOK


def ict(*args: int) -> datetime:
    return datetime(*args, tzinfo=BANGKOK)  # type: ignore[misc]


@pytest.mark.parametrize(("when", "fy"), [
    (ict(2024, 9, 30, 22, 0), 2567),                        # scenario 3a start
    (ict(2024, 9, 30, 23, 59, 59), 2567),                   # 3b last second of FY 2567
    (ict(2024, 10, 1, 0, 0, 0), 2568),                      # 3b FY start inclusive
    (datetime(2024, 9, 30, 17, 30, tzinfo=UTC), 2568),      # 3c UTC date says 30 Sep
    (datetime(2024, 9, 30, 16, 59, 59, tzinfo=UTC), 2567),
    (ict(2025, 9, 30, 23, 0), 2568),
    (ict(2023, 10, 1, 0, 0), 2567),                         # CONTEXT: FY 2567 = Oct 2023
    (ict(2024, 9, 29, 20, 0), 2567),                        # scenario 4 start
])
def test_fiscal_year_in_bangkok_time(when: datetime, fy: int) -> None:
    assert thai.fiscal_year(when) == fy
    assert thai.fiscal_year(when.timestamp()) == fy


def test_fiscal_year_bounds() -> None:
    start, end = thai.fiscal_year_bounds(2568)
    assert start == datetime(2024, 9, 30, 17, 0, tzinfo=UTC).timestamp()
    assert end == datetime(2025, 9, 30, 17, 0, tzinfo=UTC).timestamp()
    assert thai.fiscal_year(start) == 2568 and thai.fiscal_year(end - 1) == 2568
    assert thai.fiscal_year(end) == 2569


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        thai.fiscal_year(datetime(2024, 10, 1))


@pytest.mark.parametrize(("when", "lang", "kwargs", "text"), [
    (date(2024, 10, 1), "th", {}, "1 ต.ค. 2567"),
    (date(2024, 10, 1), "en", {}, "1 Oct 2024"),
    (date(2025, 3, 15), "th", {"long": True}, "15 มีนาคม 2568"),
    (date(2025, 9, 30), "th", {"digits": "thai"}, "๓๐ ก.ย. ๒๕๖๘"),
    (datetime(2024, 9, 30, 17, 30, tzinfo=UTC), "th", {}, "1 ต.ค. 2567"),
    (datetime(2024, 9, 30, 17, 30, tzinfo=UTC).timestamp(), "en", {}, "1 Oct 2024"),
])
def test_format_date(when: object, lang: str, kwargs: dict[str, str], text: str) -> None:
    assert thai.format_date(when, lang, **kwargs) == text  # type: ignore[arg-type]


def test_labels_and_period() -> None:
    assert thai.fiscal_year_label(2568) == "ปีงบประมาณ พ.ศ. 2568"
    assert thai.fiscal_year_label(2568, "en") == "fiscal year 2568 BE"
    assert thai.fiscal_year_period(2568) == "1 ต.ค. 2567 – 30 ก.ย. 2568"
    assert thai.fiscal_year_period(2568, "en") == "1 Oct 2024 – 30 Sep 2025"
    assert thai.thai_digits("2568") == "๒๕๖๘"
    assert thai.format_datetime(ict(2025, 3, 15, 22, 10)) == "15 มี.ค. 2568 22:10"
    assert thai.format_datetime(ict(2025, 3, 15, 22, 10), "en") == "15 Mar 2025 22:10"


@pytest.mark.parametrize(("seconds", "th", "en"), [
    (46_800, "13 ชั่วโมง 0 นาที", "13 h 0 min"),
    (194_400, "2 วัน 6 ชั่วโมง 0 นาที", "2 d 6 h 0 min"),
    (37_800, "10 ชั่วโมง 30 นาที", "10 h 30 min"),
    (65, "0 ชั่วโมง 1 นาที 5 วินาที", "0 h 1 min 5 s"),
])
def test_format_duration(seconds: int, th: str, en: str) -> None:
    assert thai.format_duration(seconds, "th") == th
    assert thai.format_duration(seconds, "en") == en


@pytest.mark.parametrize(("amount", "words"), [
    (0, "ศูนย์บาทถ้วน"),
    (1, "หนึ่งบาทถ้วน"),
    (11, "สิบเอ็ดบาทถ้วน"),
    (21, "ยี่สิบเอ็ดบาทถ้วน"),
    (100, "หนึ่งร้อยบาทถ้วน"),
    (101, "หนึ่งร้อยเอ็ดบาทถ้วน"),
    (120_000, "หนึ่งแสนสองหมื่นบาทถ้วน"),
    (105_000, "หนึ่งแสนห้าพันบาทถ้วน"),
    (1_000_001, "หนึ่งล้านเอ็ดบาทถ้วน"),
    (11_000_000, "สิบเอ็ดล้านบาทถ้วน"),
    (21_500_000, "ยี่สิบเอ็ดล้านห้าแสนบาทถ้วน"),
    (1_000_000_000_000, "หนึ่งล้านล้านบาทถ้วน"),
    ("1.50", "หนึ่งบาทห้าสิบสตางค์"),
    (Decimal("0.25"), "ยี่สิบห้าสตางค์"),
    (12_345.67, "หนึ่งหมื่นสองพันสามร้อยสี่สิบห้าบาทหกสิบเจ็ดสตางค์"),
    ("0.005", "หนึ่งสตางค์"),
    (-5, "ลบห้าบาทถ้วน"),
])
def test_baht_text(amount: object, words: str) -> None:
    assert thai.baht_text(amount) == words  # type: ignore[arg-type]


def test_number_formatting() -> None:
    assert thai.format_number(105000) == "105,000.00"
    assert thai.format_number(1234.565, 2) == "1,234.57"
    assert thai.format_number(2568, 0, digits="thai") == "๒,๕๖๘"
    assert thai.format_baht(105000) == "105,000.00 บาท"
    assert thai.format_baht(105000, "en") == "THB 105,000.00"
