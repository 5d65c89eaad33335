"""The user-satisfaction KPI, as pure functions (plan projects 3, 4 and 6; CONTEXT.md).

- A survey becomes one percentage by the configured rule (``policies.satisfaction.rule``):
  ``mean`` (default, as Thai government satisfaction surveys report it) is the mean of every
  rating given, divided by 5, times 100; ``top2`` is the share of ratings that are 4 or 5.
  Blank answers are not ratings: they count in neither the numerator nor the denominator.
  An aggregate recorded from a survey report carries its own mean (scored as ``mean``) or its
  own percentage (used as reported).
- Arithmetic is exact (fractions): 83 % is level 1, 82.999... % is "not met". Levels are the
  best whose threshold the percentage reaches, thresholds inclusive (83 / 84 / 85 / 86 / 87 %
  for levels 1-5); below level 1 is level 0, "not met".
- Scales are versioned by the fiscal year they start in, like the recovery scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from upkeep.config.policy_satisfaction import SatisfactionConfig

NOT_MET = 0
RATINGS = (1, 2, 3, 4, 5)

#: the rules, as printed on the report
RULE_TEXT: dict[str, tuple[str, str]] = {
    "mean": ("ร้อยละความพึงพอใจ = คะแนนเฉลี่ยของทุกคำตอบ ÷ 5 × 100 (ไม่นับคำตอบที่เว้นว่าง)",
             "satisfaction % = mean of every rating given ÷ 5 × 100 (blank answers not counted)"),
    "top2": ("ร้อยละความพึงพอใจ = จำนวนคำตอบระดับ 4-5 (มาก, มากที่สุด) ÷ จำนวนคำตอบทั้งหมด × 100",
             "satisfaction % = ratings of 4 or 5 ÷ all ratings given × 100"),
    "reported": ("ร้อยละตามที่รายงานในเอกสารผลการสำรวจ", "the percentage stated in the survey "
                 "report"),
}


@dataclass(frozen=True)
class SatisfactionScale:
    valid_from_fy: int
    #: level -> the lowest percentage (inclusive) that earns it
    thresholds: Mapping[int, Fraction]


def scales_from_config(config: SatisfactionConfig) -> list[SatisfactionScale]:
    return [SatisfactionScale(s.valid_from_fy,
                              {k: Fraction(Decimal(str(v))) for k, v in s.thresholds.items()})
            for s in config.scales]


def scale_for(fy: int, scales: Sequence[SatisfactionScale]) -> SatisfactionScale:
    usable = [s for s in scales if s.valid_from_fy <= fy]
    if not usable:
        raise ValueError(f"no satisfaction scale applies to fiscal year {fy}")
    return max(usable, key=lambda s: s.valid_from_fy)


def level_for(percent: Fraction, scale: SatisfactionScale) -> int:
    for level in sorted(scale.thresholds, reverse=True):
        if percent >= scale.thresholds[level]:
            return level
    return NOT_MET


Histogram = Mapping[str, Mapping[int, int]]  # question -> rating -> count


def totals(histogram: Histogram) -> dict[int, int]:
    out = dict.fromkeys(RATINGS, 0)
    for counts in histogram.values():
        for rating, count in counts.items():
            out[int(rating)] += count
    return out


def question_means(histogram: Histogram) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for question, counts in histogram.items():
        n = sum(counts.values())
        out[question] = (sum(int(r) * c for r, c in counts.items()) / n) if n else None
    return out


def percent_from_histogram(histogram: Histogram, rule: str) -> Fraction | None:
    """The satisfaction percentage of a survey's ratings by ``rule``; None without ratings."""
    counts = totals(histogram)
    n = sum(counts.values())
    if n == 0:
        return None
    if rule == "top2":
        return Fraction((counts[4] + counts[5]) * 100, n)
    if rule == "mean":
        return Fraction(sum(r * c for r, c in counts.items()) * 100, n * 5)
    raise ValueError(f"unknown scoring rule {rule!r} (use mean or top2)")


def exact(text: str, what: str, low: Fraction | int, high: Fraction | int) -> Fraction:
    """A decimal number given by a person (``4.15``, ``83.4``) as an exact fraction in range."""
    try:
        value = Fraction(Decimal(text.strip().replace(",", "")))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{what} {text} is outside {float(low):g}-{float(high):g}")
    return value


@dataclass(frozen=True)
class SatisfactionResult:
    """One subject's graded survey for a fiscal year."""

    subject: str
    fiscal_year: int
    percent: Fraction | None  # None: no survey (or no ratings)
    level: int | None  # None: no survey
    rule: str
    respondents: int
    survey_id: int | None = None

    @property
    def ratio(self) -> float | None:
        return None if self.percent is None else float(self.percent / 100)


def percent_text(percent: Fraction | None) -> str:
    """Two decimals, rounded half up for display only (grading uses the exact value)."""
    if percent is None:
        return "-"
    value = Decimal(percent.numerator) / Decimal(percent.denominator)
    return f"{value.quantize(Decimal('0.01'), rounding='ROUND_HALF_UP')}"
