"""The outage state machine: docs/background.md section 1.2, scenarios 5 (flapping) and 7 (data gaps)."""

from __future__ import annotations

from datetime import datetime

import pytest

from upkeep.kit.thai import BANGKOK
from upkeep.policies.detector import Detector, DetectorParams, Outage, detect
from upkeep.policies.kpi import DEFAULT_SCALE, IncidentFacts, grade_incident

MIN = 60.0
DAY = (2025, 3, 10)
PARAMS = DetectorParams(open_after=2, close_after=3, merge_gap=15 * MIN, interval=60,
                        gap_factor=1.5)


def t(hhmm: str) -> float:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime(*DAY, hour, minute, tzinfo=BANGKOK).timestamp()


def series(*spans: tuple[str, str, bool | None]) -> list[tuple[float, bool | None]]:
    """Minute samples: each span is (first, last inclusive, up); None = no sample (a gap)."""
    out: list[tuple[float, bool | None]] = []
    for first, last, up in spans:
        at = t(first)
        while at <= t(last):
            if up is not None:
                out.append((at, up))
            at += MIN
    return out


def hours(outage: Outage) -> float:
    assert outage.restored_at is not None
    return (outage.restored_at - outage.started_at) / 3600


def facts(outage: Outage) -> IncidentFacts:
    return IncidentFacts("jfs", outage.started_at, outage.restored_at, outage.started_earliest,
                         outage.restored_earliest, gap_seconds=outage.gap_seconds)


FLAP_B = series(("07:00", "07:59", True), ("08:00", "19:54", False), ("19:55", "19:59", True),
                ("20:00", "20:29", False), ("20:30", "23:00", True))
FLAP_C = series(("09:00", "09:59", True), ("10:00", "10:04", False), ("10:05", "10:06", True),
                ("10:07", "13:59", False), ("14:00", "15:00", True))


@pytest.mark.parametrize(("name", "samples", "params", "expected"), [
    # 5a: a single failed sample at 09:00 is ignored (open_after = 2)
    ("5a single failure", series(("08:00", "08:59", True), ("09:00", "09:00", False),
                                 ("09:01", "10:00", True)), PARAMS, []),
    # 5b without merging: two outages, the longest 11 h 55 m (would be L5)
    ("5b no merge", FLAP_B, DetectorParams(merge_gap=0, interval=60),
     [("08:00", "19:55"), ("20:00", "20:30")]),
    # 5b with merge_gap 15 min (the gap is 5 min): one incident 08:00 -> 20:30 = 12 h 30 m
    ("5b merged", FLAP_B, PARAMS, [("08:00", "20:30")]),
    # 5c: 2 good samples (< close_after) do not restore: one incident 10:00 -> 14:00
    ("5c short recovery", FLAP_C, PARAMS, [("10:00", "14:00")]),
    # merging is by gap: 20 min apart stays two incidents
    ("gap above merge_gap", series(("07:00", "07:59", True), ("08:00", "08:30", False),
                                   ("08:31", "08:50", True), ("08:51", "09:00", False),
                                   ("09:01", "09:30", True)), PARAMS,
     [("08:00", "08:31"), ("08:51", "09:01")]),
])
def test_flapping(name: str, samples: list[tuple[float, bool | None]], params: DetectorParams,
                  expected: list[tuple[str, str]]) -> None:
    found = detect(samples, params)
    assert [(o.started_at, o.restored_at) for o in found] == [(t(a), t(b)) for a, b in expected]


def test_flapping_levels() -> None:
    merged = detect(FLAP_B, PARAMS)
    assert hours(merged[0]) == 12.5
    assert grade_incident(facts(merged[0]), [], DEFAULT_SCALE, 0).level == 4
    split = detect(FLAP_B, DetectorParams(merge_gap=0, interval=60))
    assert max(hours(o) for o in split) == pytest.approx(11 + 55 / 60)
    assert max(grade_incident(facts(o), [], DEFAULT_SCALE, 0).level for o in split) == 5
    assert merged[0].parts == [[t("08:00"), t("19:55")], [t("20:00"), t("20:30")]]
    assert hours(detect(FLAP_C, PARAMS)[0]) == 4
    assert grade_incident(facts(detect(FLAP_C, PARAMS)[0]), [], DEFAULT_SCALE, 0).level == 5


def test_data_gap_at_a_transition() -> None:
    """Scenario 7: UP to 07:59, nothing 08:00-08:40, DOWN 08:41-20:10, UP from 20:11."""
    samples = series(("07:00", "07:59", True), ("08:00", "08:40", None),
                     ("08:41", "20:10", False), ("20:11", "21:00", True))
    [outage] = detect(samples, PARAMS)
    assert (outage.started_at, outage.started_earliest) == (t("08:41"), t("08:00"))
    assert outage.restored_at == outage.restored_earliest == t("20:11")
    grade = grade_incident(facts(outage), [], DEFAULT_SCALE, 0)
    assert grade.duration_best == 11 * 3600 + 30 * 60     # 08:41 -> 20:11, L5
    assert grade.duration_worst == 12 * 3600 + 11 * 60    # 08:00 -> 20:11, L4
    assert (grade.level_best, grade.level_worst, grade.level) == (5, 4, 4)
    assert grade.needs_review and "data_gap" in grade.review


def test_data_gap_at_restoration() -> None:
    samples = series(("07:00", "07:59", True), ("08:00", "17:59", False),
                     ("18:00", "18:20", None), ("18:21", "19:00", True))
    [outage] = detect(samples, PARAMS)
    assert outage.restored_earliest == t("18:00") and outage.restored_at == t("18:21")
    grade = grade_incident(facts(outage), [], DEFAULT_SCALE, 0)
    assert (grade.duration_best, grade.duration_worst) == (10 * 3600, 10 * 3600 + 21 * 60)
    assert grade.level == 5 and not grade.needs_review   # same level: nothing to review


def test_same_state_gap_is_bridged() -> None:
    """Scenario 7b: DOWN before and after a 40-minute gap; outage 06:00 -> 11:00."""
    samples = series(("05:00", "05:59", True), ("06:00", "07:59", False),
                     ("08:00", "08:39", None), ("08:40", "10:59", False),
                     ("11:00", "12:00", True))
    [outage] = detect(samples, PARAMS)
    assert (outage.started_at, outage.restored_at) == (t("06:00"), t("11:00"))
    assert outage.started_earliest == t("06:00") and outage.gap_seconds == 2400
    grade = grade_incident(facts(outage), [], DEFAULT_SCALE, 0)
    assert grade.duration_worst == 5 * 3600 and grade.level == 5 and not grade.needs_review


def test_state_round_trips_mid_outage() -> None:
    """A detector rebuilt from its saved state continues the same outage (agent restart)."""
    samples = series(("07:00", "07:59", True), ("08:00", "09:00", False))
    machine = Detector(PARAMS)
    events = [e for at, up in samples if up is not None for e in machine.feed(at, up)]
    assert [e.kind for e in events] == ["open"]
    machine.state.current.ref = 42  # type: ignore[union-attr]
    saved = machine.to_dict()
    resumed = Detector(PARAMS, saved)
    # the agent was down for 30 minutes, the site still down, then it comes back
    later = [e for at, up in series(("09:31", "10:00", False), ("10:01", "10:05", True))
             if up is not None for e in resumed.feed(at, up)]
    assert [e.kind for e in later] == ["restore"]
    outage = later[0].outage
    assert (outage.ref, outage.started_at, outage.restored_at) == (42, t("08:00"), t("10:01"))
    assert outage.gap_seconds == 30 * 60


def test_out_of_order_samples_are_ignored() -> None:
    machine = Detector(PARAMS)
    assert machine.feed(t("08:00"), False) == []
    assert machine.feed(t("07:59"), False) == []
    assert machine.feed(t("08:00"), False) == []
    assert [e.kind for e in machine.feed(t("08:01"), False)] == ["open"]
