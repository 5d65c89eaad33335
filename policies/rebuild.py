"""``upkeep incidents rebuild``: reconstruct a period's incidents from Prometheus history.

For fleets (the central agent reads what every branch agent exported) and for filling the
ledger after an agent was down. ``upkeep_system_up{system=...}`` is read with
``/api/v1/query_range`` at ``step`` = the scrape interval, in chunks of at most 7 days and
at most 11,000 points (Prometheus refuses more per series). A step with no value (the agent
was not scraped: Prometheus wrote staleness markers) is a gap, never "up". The samples go
through the same detector as the live agent; each outage that does not overlap an incident
already in the ledger is recorded with ``source = 'rebuilt'``, so running it twice, or over
a period the agent saw itself, never duplicates an incident. Outages still open at the end
of the period are left to the live agent.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterable, Sequence

from upkeep.config import Config
from upkeep.config.base import parse_duration
from upkeep.errors import UpkeepError
from upkeep.kit.thai import format_datetime
from upkeep.policies.detector import DetectorParams, Outage, detect
from upkeep.policies.incidents import Incident, Ledger

MAX_CHUNK_SECONDS = 7 * 86400
MAX_POINTS = 11_000


class RebuildError(UpkeepError):
    """Prometheus could not be read (unreachable, error answer, bad data)."""


def chunks(start: float, end: float, step: float) -> list[tuple[float, float]]:
    """``[start, end]`` cut into query windows of at most 7 days and 11,000 points."""
    span = min(MAX_CHUNK_SECONDS, (MAX_POINTS - 1) * step)
    out, at = [], start
    while at < end:
        out.append((at, min(end, at + span)))
        at += span
    return out


def query(system: str) -> str:
    escaped = system.replace("\\", "\\\\").replace('"', '\\"')
    # several agents may export one system (fleet): down when any of them saw it down
    return f'min(upkeep_system_up{{system="{escaped}"}})'


def parse_matrix(body: dict[str, object]) -> list[tuple[float, bool]]:
    """The samples of a query_range answer (status, data.result[0].values)."""
    if body.get("status") != "success":
        raise RebuildError(f"Prometheus answered {body.get('errorType')}: {body.get('error')}")
    data = body.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise RebuildError("Prometheus answered something other than a matrix")
    out = []
    for series in data.get("result") or []:
        for stamp, value in series.get("values") or []:
            number = float(value)
            if not math.isnan(number):
                out.append((float(stamp), number >= 0.5))
    return out


def fetch(url: str, system: str, start: float, end: float, step: float,
          timeout: float = 30.0) -> list[tuple[float, bool]]:
    import httpx  # only this command pays for it, not `upkeep run`

    samples: dict[float, bool] = {}
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout) as client:
        for a, b in chunks(start, end, step):
            try:
                response = client.get("/api/v1/query_range",
                                      params={"query": query(system), "start": a, "end": b,
                                              "step": step})
            except httpx.HTTPError as err:
                raise RebuildError(f"cannot query {url}: {err}") from err
            if response.status_code >= 500 or "json" not in response.headers.get(
                    "content-type", ""):
                raise RebuildError(f"{url} answered HTTP {response.status_code}")
            samples.update(parse_matrix(response.json()))
    return sorted(samples.items())


def overlaps(outage: Outage, incident: Incident) -> bool:
    start = min(outage.started_at, outage.started_earliest)
    end = outage.restored_at if outage.restored_at is not None else math.inf
    other_start = min(incident.started_at, incident.started_earliest or incident.started_at)
    other_end = incident.restored_at if incident.restored_at is not None else math.inf
    return start <= other_end and other_start <= end


def new_outages(found: Iterable[Outage], existing: Sequence[Incident]
                ) -> tuple[list[Outage], list[Outage], list[Outage]]:
    """Split into (to record, already in the ledger, still open)."""
    record, known, still_open = [], [], []
    for outage in found:
        if outage.restored_at is None:
            still_open.append(outage)
        elif any(overlaps(outage, i) for i in existing):
            known.append(outage)
        else:
            record.append(outage)
    return record, known, still_open


def run_rebuild(args: argparse.Namespace, config: Config, ledger: Ledger) -> int:
    if not any(s.name == args.system for s in config.systems):
        print(f"upkeep: unknown system {args.system!r}", file=sys.stderr)
        return 2
    if args.end <= args.start:
        print("upkeep: --to must be after --from", file=sys.stderr)
        return 2
    try:
        step, timeout = parse_duration(args.step), parse_duration(args.timeout)
    except ValueError as err:
        print(f"upkeep: {err}", file=sys.stderr)
        return 2
    kpi = config.policies.kpi
    params = DetectorParams(kpi.open_after, kpi.close_after, kpi.merge_gap, step, 1.5)
    try:
        samples = fetch(args.prometheus, args.system, args.start, args.end, step, timeout)
    except RebuildError as err:
        print(f"upkeep: {err}", file=sys.stderr)
        return 1
    found = detect(samples, params)
    existing = ledger.incidents(args.system, include_void=True)
    record, known, still_open = new_outages(found, existing)
    now = time.time()
    for outage in record:
        assert outage.restored_at is not None
        action = "would record" if args.dry_run else "recorded"
        if not args.dry_run:
            outage.ref = ledger.add(
                args.system, outage.started_at, restored_at=outage.restored_at,
                actor="rebuild", at=now, source="rebuilt",
                started_earliest=outage.started_earliest,
                restored_earliest=outage.restored_earliest, gap_seconds=outage.gap_seconds,
                detected_at=outage.detected_at,
                cause_text="")
        print(f"{action} {args.system} {format_datetime(outage.started_at, 'en', seconds=True)}"
              f" - {format_datetime(outage.restored_at, 'en', seconds=True)}"
              f"{f' as incident {outage.ref}' if outage.ref else ''}")
    for outage in known:
        print(f"already recorded {format_datetime(outage.started_at, 'en', seconds=True)}")
    for outage in still_open:
        print(f"still open at the end of the period, left to the agent: "
              f"{format_datetime(outage.started_at, 'en', seconds=True)}")
    print(f"{len(samples)} samples, {len(found)} outages: {len(record)} new, "
          f"{len(known)} already recorded, {len(still_open)} open")
    return 0
