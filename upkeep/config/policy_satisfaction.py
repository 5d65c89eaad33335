"""``policies.satisfaction:``: the user-satisfaction KPI (plan projects 3, 4 and 6).

Example::

    policies:
      satisfaction:
        rule: mean              # mean score / 5 x 100 (default), or top2: share of ratings 4-5
        scales:                 # versioned: a new scale applies from its fiscal year on
          - valid_from_fy: 2500
            thresholds: {1: 83, 2: 84, 3: 85, 4: 86, 5: 87}   # percent, inclusive

The five levels 83 / 84 / 85 / 86 / 87 % are the Digital Action Plan's (CONTEXT.md); below
the level-1 threshold the KPI is "not met" (level 0).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from upkeep.config.base import StrictModel

DEFAULT_PERCENT_THRESHOLDS = {1: 83.0, 2: 84.0, 3: 85.0, 4: 86.0, 5: 87.0}
SCORING_RULES = ("mean", "top2")


class SatisfactionScale(StrictModel):
    #: first Buddhist-Era fiscal year this scale applies to
    valid_from_fy: Annotated[int, Field(ge=2400, le=3000)] = 2500
    #: level -> the lowest percentage (inclusive) that earns it
    thresholds: dict[int, float] = dict(DEFAULT_PERCENT_THRESHOLDS)

    @field_validator("thresholds")
    @classmethod
    def _levels(cls, value: dict[int, float]) -> dict[int, float]:
        if sorted(value) != [1, 2, 3, 4, 5]:
            raise ValueError("give a threshold for each of the levels 1, 2, 3, 4 and 5")
        for level in range(1, 5):
            if value[level] >= value[level + 1]:
                raise ValueError(f"level {level + 1} must need more than level {level}")
        if not all(0 < v <= 100 for v in value.values()):
            raise ValueError("thresholds are percentages between 0 and 100")
        return value


class SatisfactionConfig(StrictModel):
    #: how a survey's ratings become one percentage (docs/reports.md "User satisfaction")
    rule: Literal["mean", "top2"] = "mean"
    scales: Annotated[list[SatisfactionScale], Field(min_length=1)] = [SatisfactionScale()]

    @field_validator("scales")
    @classmethod
    def _distinct(cls, value: list[SatisfactionScale]) -> list[SatisfactionScale]:
        years = [s.valid_from_fy for s in value]
        if len(set(years)) != len(years):
            raise ValueError("two scales start in the same fiscal year")
        return sorted(value, key=lambda s: s.valid_from_fy)
