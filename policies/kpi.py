"""The outage-recovery KPI, as pure functions (docs/background.md section 1).

- An incident's duration is ``restored - started`` minus the time it overlaps approved
  maintenance windows (wall clock, not business hours). Its level is the best level whose
  threshold it does not exceed, thresholds inclusive: exactly 12 h is level 5, one second more
  is level 4; beyond the level-1 threshold (60 h) it is level 0, "not achieved".
- Data gaps at a state change give a best and a worst case (``started_earliest`` /
  ``restored_earliest``); when their levels differ, the worse counts and the incident needs
  review.
- A window created after the outage began is not applied unless approved as a correction;
  while it is not, the incident needs review (an after-the-fact window must not quietly
  improve a KPI).
- An outage entirely inside applied windows is a maintenance record, not a KPI incident.
- An incident belongs to the fiscal year (Bangkok time) in which it started and is never
  split; a system's level for a year is its worst incident's; a year without incidents is
  ``no_incident_level`` (5). Open incidents count with their elapsed time, as provisional.
- Scales are versioned by the fiscal year they start in, so changing the scale never
  rewrites past years.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from upkeep.config.policy_kpi import KpiConfig
from upkeep.kit.thai import fiscal_year, fiscal_year_bounds

LEVELS = (5, 4, 3, 2, 1)
NOT_ACHIEVED = 0

REVIEW_DATA_GAP = "data_gap"
REVIEW_LATE_MAINTENANCE = "maintenance_after_start"


@dataclass(frozen=True)
class Scale:
    valid_from_fy: int
    #: level -> the longest duration (seconds, inclusive) that still earns it
    thresholds: Mapping[int, float]
    no_incident_level: int = 5


DEFAULT_SCALE = Scale(2500, {5: 43_200.0, 4: 86_400.0, 3: 129_600.0, 2: 172_800.0,
                             1: 216_000.0})


def scale_for(fy: int, scales: Sequence[Scale]) -> Scale:
    """The scale in force in fiscal year ``fy`` (the newest that started on or before it)."""
    usable = [s for s in scales if s.valid_from_fy <= fy]
    if not usable:
        raise ValueError(f"no KPI scale applies to fiscal year {fy}")
    return max(usable, key=lambda s: s.valid_from_fy)


def level_for(seconds: float, scale: Scale = DEFAULT_SCALE) -> int:
    for level in LEVELS:
        if seconds <= scale.thresholds[level]:
            return level
    return NOT_ACHIEVED


def next_threshold_seconds(seconds: float, scale: Scale = DEFAULT_SCALE) -> float:
    """Time left before an outage of ``seconds`` drops to the next level (0 at level 0)."""
    level = level_for(seconds, scale)
    if level == NOT_ACHIEVED:
        return 0.0
    return scale.thresholds[level] - seconds


@dataclass(frozen=True)
class Window:
    """A maintenance window. ``created_at`` None = known in advance (configured)."""

    start: float
    end: float
    system: str | None = None
    id: int | None = None
    created_at: float | None = None
    #: approved as a correction after the fact (then applied even if created late)
    correction: bool = False

    def covers(self, system: str) -> bool:
        return self.system in (None, "", system)


@dataclass(frozen=True)
class IncidentFacts:
    system: str
    started_at: float
    restored_at: float | None = None
    #: earliest possible start/restore when a data gap hides the transition
    started_earliest: float | None = None
    restored_earliest: float | None = None
    id: int | None = None
    source: str = "auto"
    gap_seconds: float = 0.0


@dataclass(frozen=True)
class Grade:
    fiscal_year: int
    duration_best: float
    duration_worst: float
    excluded_seconds: float
    level_best: int
    level_worst: int
    provisional: bool
    maintenance_only: bool
    review: tuple[str, ...] = ()
    applied_windows: tuple[int | None, ...] = ()

    @property
    def level(self) -> int:
        """The level reported: the worse of the two cases."""
        return self.level_worst

    @property
    def effective_seconds(self) -> float:
        return self.duration_worst

    @property
    def needs_review(self) -> bool:
        return bool(self.review)


def _merged(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def overlap_seconds(start: float, end: float, windows: Iterable[Window]) -> float:
    """Seconds of ``[start, end]`` inside the union of ``windows`` (overlapping ones count once)."""
    total = 0.0
    for w_start, w_end in _merged((w.start, w.end) for w in windows):
        total += max(0.0, min(end, w_end) - max(start, w_start))
    return total


def grade_incident(incident: IncidentFacts, windows: Sequence[Window], scale: Scale,
                   now: float) -> Grade:
    """Grade one incident; ``now`` is the elapsed-time end of an open one."""
    start = incident.started_at
    start_worst = min(start, incident.started_earliest or start)
    provisional = incident.restored_at is None
    end = now if incident.restored_at is None else incident.restored_at
    end = max(end, start)
    end_best = end if provisional else min(end, incident.restored_earliest or end)
    review: list[str] = []
    applied: list[Window] = []
    for window in windows:
        if not window.covers(incident.system):
            continue
        if overlap_seconds(start_worst, end, [window]) <= 0:
            continue
        late = window.created_at is not None and window.created_at > start_worst
        if late and not window.correction:
            review.append(REVIEW_LATE_MAINTENANCE)
            continue
        applied.append(window)
    excluded_worst = overlap_seconds(start_worst, end, applied)
    worst = (end - start_worst) - excluded_worst
    best = max(0.0, end_best - start) - overlap_seconds(start, end_best, applied)
    level_best, level_worst = level_for(best, scale), level_for(worst, scale)
    if level_best != level_worst:
        review.append(REVIEW_DATA_GAP)
    maintenance_only = not provisional and worst <= 0 and bool(applied)
    return Grade(fiscal_year(start), best, worst, excluded_worst, level_best, level_worst,
                 provisional, maintenance_only, tuple(dict.fromkeys(review)),
                 tuple(w.id for w in applied))


# --- fiscal-year aggregation ---------------------------------------------------------------

@dataclass(frozen=True)
class YearResult:
    system: str | None  # None = the office
    fiscal_year: int
    level: int
    incidents: int
    worst_seconds: float
    worst_incident: int | None
    provisional: bool
    needs_review: bool
    #: durations of the restored incidents (mean, median and restored worst are over these)
    durations: tuple[float, ...] = field(default=())
    #: elapsed time so far of the incidents still open (provisional)
    open_durations: tuple[float, ...] = field(default=())

    @property
    def restored_count(self) -> int:
        return len(self.durations)

    @property
    def open_count(self) -> int:
        return len(self.open_durations)

    @property
    def mean_seconds(self) -> float | None:
        return statistics.fmean(self.durations) if self.durations else None

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.durations) if self.durations else None

    @property
    def restored_worst_seconds(self) -> float | None:
        return max(self.durations) if self.durations else None

    @property
    def open_longest_seconds(self) -> float | None:
        return max(self.open_durations) if self.open_durations else None


def counted(incident: IncidentFacts, grade: Grade, fy: int) -> bool:
    """Does this incident count in fiscal year ``fy``'s grading?"""
    return grade.fiscal_year == fy and not grade.maintenance_only


def carried_over(incident: IncidentFacts, fy: int) -> bool:
    """Started in an earlier year but still down on or after ``fy`` began: listed, not graded."""
    start, _ = fiscal_year_bounds(fy)
    return incident.started_at < start and (incident.restored_at is None
                                            or incident.restored_at >= start)


def system_year(system: str, fy: int, graded: Iterable[tuple[IncidentFacts, Grade]],
                scale: Scale) -> YearResult:
    mine = [(i, g) for i, g in graded if i.system == system and counted(i, g, fy)]
    if not mine:
        return YearResult(system, fy, scale.no_incident_level, 0, 0.0, None, False, False)
    worst_inc, worst = max(mine, key=lambda pair: pair[1].effective_seconds)
    return YearResult(
        system, fy, min(g.level for _, g in mine), len(mine), worst.effective_seconds,
        worst_inc.id, any(g.provisional for _, g in mine), any(g.needs_review for _, g in mine),
        tuple(g.effective_seconds for _, g in mine if not g.provisional),
        tuple(g.effective_seconds for _, g in mine if g.provisional))


def office_year(fy: int, results: Sequence[YearResult], scale: Scale) -> YearResult:
    """The office's level is its worst system's level."""
    if not results:
        return YearResult(None, fy, scale.no_incident_level, 0, 0.0, None, False, False)
    worst = max(results, key=lambda r: (r.worst_seconds, -r.level))
    return YearResult(
        None, fy, min(r.level for r in results), sum(r.incidents for r in results),
        worst.worst_seconds, worst.worst_incident, any(r.provisional for r in results),
        any(r.needs_review for r in results), tuple(d for r in results for d in r.durations),
        tuple(d for r in results for d in r.open_durations))


# --- from the configuration ----------------------------------------------------------------

def scales_from_config(config: KpiConfig) -> list[Scale]:
    return [Scale(s.valid_from_fy, dict(s.thresholds), s.no_incident_level)
            for s in config.scales]


def config_windows(config: KpiConfig) -> list[Window]:
    """Configured windows: approved in advance, so never retroactive (``created_at`` None)."""
    return [Window(w.start.timestamp(), w.end.timestamp(), w.system or None)
            for w in config.maintenance]
