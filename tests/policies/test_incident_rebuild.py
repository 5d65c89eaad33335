"""Rebuild from Prometheus: chunking, answer parsing, never duplicating an incident."""

from __future__ import annotations

import pytest

from upkeep.policies.detector import Outage
from upkeep.policies.incidents import Incident
from upkeep.policies.rebuild import (
    MAX_CHUNK_SECONDS,
    RebuildError,
    chunks,
    new_outages,
    parse_matrix,
    query,
)

DAY = 86400.0


@pytest.mark.parametrize(("span", "step", "count", "longest"), [
    (30 * DAY, 60, 5, MAX_CHUNK_SECONDS),          # 7-day chunks (10,080 points at 60 s)
    (7 * DAY, 60, 1, 7 * DAY),
    (1 * DAY, 1, 8, 10_999),                       # 1 s step: 11,000 points per query at most
    (10, 1, 1, 10),
])
def test_chunks(span: float, step: float, count: int, longest: float) -> None:
    parts = chunks(1000.0, 1000.0 + span, step)
    assert len(parts) == count
    assert parts[0][0] == 1000.0 and parts[-1][1] == 1000.0 + span
    assert max(b - a for a, b in parts) == longest
    assert all(b - a <= MAX_CHUNK_SECONDS and (b - a) / step < 11_000 for a, b in parts)
    assert all(parts[i][1] == parts[i + 1][0] for i in range(len(parts) - 1))


def test_query_escapes() -> None:
    assert query('a"b') == 'min(upkeep_system_up{system="a\\"b"})'


def test_parse_matrix() -> None:
    body = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {}, "values": [[10, "1"], [11, "0"], [12, "NaN"], [13, "1"]]}]}}
    assert parse_matrix(body) == [(10.0, True), (11.0, False), (13.0, True)]
    assert parse_matrix({"status": "success", "data": {"resultType": "matrix",
                                                       "result": []}}) == []
    with pytest.raises(RebuildError, match="bad_data"):
        parse_matrix({"status": "error", "errorType": "bad_data", "error": "x"})
    with pytest.raises(RebuildError, match="matrix"):
        parse_matrix({"status": "success", "data": {"resultType": "vector", "result": []}})


def incident(start: float, restored: float | None) -> Incident:
    return Incident(1, "jfs", "auto", "restored", start, None, None, None, None, restored,
                    None, None, "unknown", "", "", 0.0, [], 0.0, 0.0, 1)


def test_new_outages_never_duplicate() -> None:
    a = Outage(1, 100.0, 100.0, 101.0, 200.0, 200.0)
    b = Outage(2, 300.0, 290.0, 301.0, 400.0, 400.0)
    c = Outage(3, 500.0, 500.0, 501.0, 600.0, 600.0)
    d = Outage(4, 900.0, 900.0, 901.0)
    e = Outage(5, 960.0, 960.0, 961.0, 990.0, 990.0)
    existing = [incident(105.0, 198.0),      # the agent saw a (slightly different times)
                incident(395.0, 420.0),      # overlapping b's end
                incident(950.0, None)]       # open: overlaps whatever comes after
    record, known, still_open = new_outages([a, b, c, d, e], existing)
    assert [o.seq for o in record] == [3]
    assert [o.seq for o in known] == [1, 2, 5]
    assert [o.seq for o in still_open] == [4]
