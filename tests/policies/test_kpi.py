"""KPI grading: docs/background.md section 1.2, scenarios 1, 2, 3, 4, 6 and 8 with their exact numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from upkeep.kit.thai import BANGKOK
from upkeep.policies.kpi import (
    DEFAULT_SCALE,
    IncidentFacts,
    Scale,
    Window,
    carried_over,
    grade_incident,
    level_for,
    next_threshold_seconds,
    office_year,
    scale_for,
    system_year,
)

H = 3600


def ict(*args: int) -> float:
    return datetime(*args, tzinfo=BANGKOK).timestamp()  # type: ignore[misc]


def grade(start: float, restored: float | None, windows: list[Window] | None = None,
          now: float = 0.0, system: str = "jfs"):  # type: ignore[no-untyped-def]
    return grade_incident(IncidentFacts(system, start, restored), windows or [], DEFAULT_SCALE,
                          now)


@pytest.mark.parametrize(("seconds", "level"), [
    (46_800, 4),          # 1: 08:00 -> 21:00 = 13 h
    (24 * H, 4), (48 * H, 2), (3 * H, 5),
    (43_200, 5), (43_201, 4),         # 2: 12 h exactly is level 5 (inclusive)
    (129_600, 3), (129_601, 2),       # 36 h
    (216_000, 1), (216_001, 0),       # 60 h; beyond is level 0 (not achieved)
    (0, 5), (86_400, 4), (86_401, 3), (172_800, 2), (172_801, 1),
])
def test_levels_inclusive(seconds: float, level: int) -> None:
    assert level_for(seconds) == level


def test_plain_grading_from_timestamps() -> None:
    g = grade(ict(2025, 1, 6, 8, 0), ict(2025, 1, 6, 21, 0))
    assert (g.effective_seconds, g.level, g.provisional, g.needs_review) == (46_800, 4, False,
                                                                               False)
    g = grade(ict(2025, 1, 6, 8, 0, 0), ict(2025, 1, 6, 20, 0, 0))
    assert (g.effective_seconds, g.level) == (43_200, 5)


@pytest.mark.parametrize(("start", "restored", "fy", "level"), [
    # 3a: 30 Sep 22:00 -> 1 Oct 03:00 ICT = 5 h, attributed by start to FY 2567
    (ict(2024, 9, 30, 22, 0), ict(2024, 10, 1, 3, 0), 2567, 5),
    # 3b: the FY start is inclusive
    (ict(2024, 9, 30, 23, 59, 59), ict(2024, 10, 1, 1, 0), 2567, 5),
    (ict(2024, 10, 1, 0, 0, 0), ict(2024, 10, 1, 1, 0), 2568, 5),
    # 3c: stored as 2024-09-30T17:30:00Z = 1 Oct 00:30 ICT -> FY 2568
    (datetime(2024, 9, 30, 17, 30, tzinfo=UTC).timestamp(), ict(2024, 10, 1, 2, 0), 2568, 5),
    # 4: 29 Sep 20:00 -> 2 Oct 02:00 ICT = 54 h: L1, once, in FY 2567 (never split)
    (ict(2024, 9, 29, 20, 0), ict(2024, 10, 2, 2, 0), 2567, 1),
])
def test_fiscal_year_attribution(start: float, restored: float, fy: int, level: int) -> None:
    g = grade(start, restored)
    assert (g.fiscal_year, g.level) == (fy, level)


def test_incident_spanning_two_fiscal_years_counted_once() -> None:
    inc = IncidentFacts("jfs", ict(2024, 9, 29, 20, 0), ict(2024, 10, 2, 2, 0), id=7)
    g = grade_incident(inc, [], DEFAULT_SCALE, 0)
    assert g.effective_seconds == 194_400 and g.level == 1
    y2567 = system_year("jfs", 2567, [(inc, g)], DEFAULT_SCALE)
    y2568 = system_year("jfs", 2568, [(inc, g)], DEFAULT_SCALE)
    assert (y2567.level, y2567.incidents, y2567.worst_seconds) == (1, 1, 194_400)
    # FY 2568 lists it as carried over but does not grade it (a naive split: 28 h + 26 h, L3)
    assert (y2568.level, y2568.incidents) == (5, 0)
    assert carried_over(inc, 2568) and not carried_over(inc, 2567)


def test_provisional_open_incident_then_restored() -> None:
    start = ict(2024, 9, 29, 20, 0)
    # FY 2567 report generated 1 Oct 2024 08:00 while still open: 36 h -> provisional L3
    open_grade = grade(start, None, now=ict(2024, 10, 1, 8, 0))
    assert (open_grade.effective_seconds, open_grade.level, open_grade.provisional) == (
        129_600, 3, True)
    inc = IncidentFacts("jfs", start, None)
    year = system_year("jfs", 2567, [(inc, open_grade)], DEFAULT_SCALE)
    assert (year.level, year.provisional) == (3, True)
    assert grade(start, ict(2024, 10, 2, 2, 0)).level == 1   # after restoration: L1
    assert carried_over(inc, 2568)


MAINT = Window(ict(2025, 3, 15, 22, 0), ict(2025, 3, 16, 2, 0), "jfs", id=1)


@pytest.mark.parametrize(("start", "restored", "window", "effective", "level", "flags",
                          "maintenance_only"), [
    # 6: outage 22:10 -> 12:30 = 51,600 s; overlap 13,800 s; effective 37,800 s -> L5
    (ict(2025, 3, 15, 22, 10), ict(2025, 3, 16, 12, 30), MAINT, 37_800, 5, (), False),
    # without the window it is L4
    (ict(2025, 3, 15, 22, 10), ict(2025, 3, 16, 12, 30), None, 51_600, 4, (), False),
    # entirely inside the window: a maintenance record, no KPI incident
    (ict(2025, 3, 15, 22, 15), ict(2025, 3, 16, 1, 45), MAINT, 0, 5, (), True),
    # the same window created 16 Mar 09:00, after the outage began: not applied, review, L4
    (ict(2025, 3, 15, 22, 10), ict(2025, 3, 16, 12, 30),
     Window(MAINT.start, MAINT.end, "jfs", 2, created_at=ict(2025, 3, 16, 9, 0)),
     51_600, 4, ("maintenance_after_start",), False),
    # ... until approved as a correction
    (ict(2025, 3, 15, 22, 10), ict(2025, 3, 16, 12, 30),
     Window(MAINT.start, MAINT.end, "jfs", 3, created_at=ict(2025, 3, 16, 9, 0),
            correction=True), 37_800, 5, (), False),
    # a window created in advance (before the outage) applies
    (ict(2025, 3, 15, 22, 10), ict(2025, 3, 16, 12, 30),
     Window(MAINT.start, MAINT.end, None, 4, created_at=ict(2025, 3, 1, 9, 0)),
     37_800, 5, (), False),
    # another system's window does not apply
    (ict(2025, 3, 15, 22, 10), ict(2025, 3, 16, 12, 30),
     Window(MAINT.start, MAINT.end, "mis", 5), 51_600, 4, (), False),
])
def test_maintenance_windows(start: float, restored: float, window: Window | None,
                             effective: float, level: int, flags: tuple[str, ...],
                             maintenance_only: bool) -> None:
    g = grade(start, restored, [window] if window else [])
    assert g.effective_seconds == effective
    assert g.level == level
    assert g.review == flags
    assert g.maintenance_only is maintenance_only
    if window is MAINT and not maintenance_only:
        assert g.excluded_seconds == 13_800


def test_maintenance_only_is_not_graded() -> None:
    inc = IncidentFacts("jfs", ict(2025, 3, 15, 22, 15), ict(2025, 3, 16, 1, 45))
    g = grade_incident(inc, [MAINT], DEFAULT_SCALE, 0)
    year = system_year("jfs", 2568, [(inc, g)], DEFAULT_SCALE)
    assert (year.incidents, year.level) == (0, 5)


def test_fiscal_year_aggregation() -> None:
    """Scenario 8: A has 3 h and 13 h, B has 30 h -> A = L4, B = L3, office = L3."""
    day = ict(2025, 2, 3, 8, 0)
    incs = [IncidentFacts("A", day, day + 3 * H, id=1),
            IncidentFacts("A", day + 10 * 86400, day + 10 * 86400 + 13 * H, id=2),
            IncidentFacts("B", day + 20 * 86400, day + 20 * 86400 + 30 * H, id=3)]
    graded = [(i, grade_incident(i, [], DEFAULT_SCALE, 0)) for i in incs]
    a = system_year("A", 2568, graded, DEFAULT_SCALE)
    b = system_year("B", 2568, graded, DEFAULT_SCALE)
    c = system_year("C", 2568, graded, DEFAULT_SCALE)   # no incidents: level 5
    assert (a.level, a.incidents, a.worst_seconds, a.worst_incident) == (4, 2, 13 * H, 2)
    assert (b.level, b.worst_incident) == (3, 3)
    assert (c.level, c.incidents, c.worst_seconds) == (5, 0, 0)
    assert a.mean_seconds == 8 * H and a.median_seconds == 8 * H
    office = office_year(2568, [a, b, c], DEFAULT_SCALE)
    assert (office.level, office.incidents, office.worst_seconds) == (3, 3, 30 * H)
    assert office_year(2569, [], DEFAULT_SCALE).level == 5


def test_open_incident_beyond_scale_is_provisional_level_0() -> None:
    """Scenario 8: started 28 Sep 2025 08:00, open at 1 Oct 2025 09:00 -> 73 h -> L0, FY 2568."""
    inc = IncidentFacts("jfs", ict(2025, 9, 28, 8, 0), None)
    g = grade_incident(inc, [], DEFAULT_SCALE, ict(2025, 10, 1, 9, 0))
    assert (g.effective_seconds, g.level, g.provisional, g.fiscal_year) == (73 * H, 0, True,
                                                                             2568)
    year = system_year("jfs", 2568, [(inc, g)], DEFAULT_SCALE)
    assert (year.level, year.provisional) == (0, True)


def test_scales_are_versioned() -> None:
    strict = Scale(2569, {5: 6 * H, 4: 12 * H, 3: 18 * H, 2: 24 * H, 1: 30 * H})
    scales = [DEFAULT_SCALE, strict]
    assert scale_for(2568, scales) is DEFAULT_SCALE
    assert scale_for(2569, scales) is strict and scale_for(2575, scales) is strict
    assert level_for(10 * H, scale_for(2568, scales)) == 5
    assert level_for(10 * H, scale_for(2569, scales)) == 4
    with pytest.raises(ValueError, match="no KPI scale"):
        scale_for(2400, [strict])


@pytest.mark.parametrize(("elapsed", "left"), [
    (0, 43_200), (10 * H, 2 * H), (12 * H, 0), (12 * H + 1, 12 * H - 1), (60 * H, 0),
    (61 * H, 0),
])
def test_next_threshold(elapsed: float, left: float) -> None:
    assert next_threshold_seconds(elapsed) == left
