"""The incident engine inside the running agent.

Subscribes to the state store: each new reading that bears on a system gives that system an
up/down sample (``policies.systems``), which the system's detector turns into incident
changes. The changes and the detector's state are written to the ledger in one transaction
per sample, so after a ``kill -9`` the agent resumes the same open incident (the time it was
away is a data gap, bridged when the state did not change). The write runs on the database's
writer thread (``Database.submit``), in reading order, never in the event loop; the incident
metrics are recomputed once it is committed.

Metrics (computed when the exposition renders, from the ledger):

- ``upkeep_system_up{system}``: 1/0; absent while unknown (no reading of a check yet);
- ``upkeep_incident_open{system}`` and ``upkeep_incident_open_duration_seconds{system}``
  (elapsed minus maintenance, 0 when none is open);
- ``upkeep_kpi_recovery_level{system,fiscal_year}`` (``system="_office"`` is the office)
  and ``upkeep_kpi_recovery_worst_seconds{system,fiscal_year}``, for the current and the
  previous fiscal year;
- ``upkeep_kpi_next_threshold_seconds{system}``: time left before the open incident drops a
  level (the level-5 allowance when nothing is open, 0 beyond the scale), so an alert can
  warn while there is still time to act.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from upkeep.config.systems import split_check
from upkeep.errors import StoreError
from upkeep.kit.thai import fiscal_year
from upkeep.metrics import Sample, gauge, sample
from upkeep.policies.detector import Detector, DetectorParams, Event, Outage
from upkeep.policies.incidents import Ledger, all_windows, grade_year
from upkeep.policies.kpi import (
    grade_incident,
    next_threshold_seconds,
    scale_for,
    scales_from_config,
)
from upkeep.policies.systems import system_up, watches
from upkeep.reading import Reading

if TYPE_CHECKING:
    from upkeep.kit.agent import AgentView

log = logging.getLogger(__name__)

OFFICE = "_office"
#: how often the KPI metrics are recomputed (a state change or an incident recomputes at once)
SOURCE_EVERY = 15.0

SYSTEM_UP = gauge("upkeep_system_up", "1 when the system is up by its rule (any/all) over its "
                  "checks, 0 when down; absent while unknown", ["system"], room="policies")
INCIDENT_OPEN = gauge("upkeep_incident_open", "1 while the system has an open (not restored) "
                      "incident", ["system"], room="policies")
INCIDENT_OPEN_DURATION = gauge(
    "upkeep_incident_open_duration_seconds", "Elapsed time of the open incident, minus "
    "approved maintenance (0 when none is open)", ["system"], unit="seconds", room="policies")
KPI_LEVEL = gauge("upkeep_kpi_recovery_level", "Outage-recovery KPI level 5 (best) .. 1, 0 = "
                  "not achieved, of the fiscal year (BE); system=\"_office\" is the office",
                  ["system", "fiscal_year"], room="policies")
KPI_WORST = gauge("upkeep_kpi_recovery_worst_seconds", "Longest incident (minus maintenance) of "
                  "the fiscal year (BE), 0 without incidents", ["system", "fiscal_year"],
                  unit="seconds", room="policies")
KPI_NEXT = gauge("upkeep_kpi_next_threshold_seconds", "Time left before the open incident drops "
                 "a KPI level (the level-5 allowance when none is open, 0 beyond the scale)",
                 ["system"], unit="seconds", room="policies")


class KpiService:
    name = "kpi"

    def __init__(self, agent: AgentView) -> None:
        self.agent = agent
        self.config = agent.config
        self.ledger: Ledger | None = None
        self.detectors: dict[str, Detector] = {}
        self.up: dict[str, bool] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        #: system -> outage seq -> ledger id, as the writer thread stored them
        self._refs: dict[str, dict[int, int]] = {}

    def _intervals(self) -> dict[tuple[str, str], float]:
        out: dict[tuple[str, str], float] = {}
        for collector in self.agent.collectors:
            for target in collector.targets():
                out[(target.kind, target.name)] = target.interval
        return out

    def _params(self, checks: list[str], intervals: dict[tuple[str, str], float]
                ) -> DetectorParams:
        found = []
        for check in checks:
            kind, target = split_check(check)
            key = ("host", "localhost") if kind == "service" else (kind, target)
            if key in intervals:
                found.append(intervals[key])
            else:
                log.warning("system check %s names no configured target", check)
        kpi = self.config.policies.kpi
        return DetectorParams(kpi.open_after, kpi.close_after, kpi.merge_gap,
                              min(found) if found else 60.0, kpi.gap_factor)

    async def start(self, agent: AgentView) -> None:
        if agent.db is not None:
            try:
                self.ledger = Ledger(agent.db)
            except StoreError as err:
                log.error("incidents are not recorded: %s", err)
        else:
            log.error("incidents are not recorded: %s", agent.db_error or "no database")
        intervals = self._intervals()
        for system in self.config.systems:
            state = self.ledger.load_state(system.name) if self.ledger else None
            detector = Detector(self._params(system.checks, intervals), state)
            self.detectors[system.name] = detector
            orphan = self.ledger.open_incident(system.name) if self.ledger else None
            if orphan is not None and orphan.source == "auto" and (
                    detector.current is None or detector.current.ref != orphan.id):
                log.warning("system %s: continuing open incident %s", system.name, orphan.id)
                detector.adopt(Outage(0, orphan.started_at,
                                      orphan.started_earliest or orphan.started_at,
                                      orphan.detected_at or orphan.started_at,
                                      gap_seconds=orphan.gap_seconds, parts=orphan.parts,
                                      ref=orphan.id))
        self._loop = asyncio.get_running_loop()
        agent.store.subscribe(self.on_reading)
        # open-incident durations grow with time: recomputed on this schedule, and at once
        # when a system's state or an incident changes (on_reading)
        agent.store.add_source(self.samples, every=SOURCE_EVERY)

    async def stop(self) -> None:
        self.agent.store.unsubscribe(self.on_reading)
        if self.ledger is not None:  # what was already decided is written before we go
            await asyncio.wrap_future(self.ledger.db.barrier())
        self.agent.store.remove_source(self.samples)
        self._loop = None

    def _latest(self, kind: str, target: str) -> Reading | None:
        state = self.agent.store.get(kind, target)
        return state.latest if state else None

    def on_reading(self, previous: Reading | None, reading: Reading) -> None:
        for system in self.config.systems:
            if not watches(system, reading):
                continue
            up = system_up(system, self._latest)
            if up != self.up.get(system.name):
                self.agent.store.source_changed(self.samples)
            if up is None:
                self.up.pop(system.name, None)
                continue
            self.up[system.name] = up
            detector = self.detectors[system.name]
            events = detector.feed(reading.time, up)
            for event in events:
                log.warning("system %s is %s (incident %s)", system.name,
                            "restored" if event.kind == "restore" else "down",
                            {"open": "opened", "reopen": "reopened: within merge_gap",
                             "restore": "restored"}[event.kind])
            if self.ledger is None:
                continue
            # a snapshot: the detector goes on changing its outages while the write waits
            job = (system.name, [replace(e, outage=copy.deepcopy(e.outage)) for e in events],
                   [e.outage for e in events], detector.to_dict(), reading.time)
            if self._loop is None:
                if self._write(*job) and events:
                    self.agent.store.source_changed(self.samples)
            else:
                self.ledger.db.submit(self._write_and_tell, self._loop, job)

    def _write_and_tell(self, loop: asyncio.AbstractEventLoop,
                        job: tuple[str, list[Event], list[Outage], dict[str, Any], float]
                        ) -> None:
        """On the writer thread: record, then let the metrics see the committed incident."""
        if self._write(*job) and job[1]:
            # a loop already gone (shutdown) is no matter: the incident is stored all the same
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.agent.store.source_changed, self.samples)

    def _write(self, system: str, events: list[Event], outages: list[Outage],
               state: dict[str, Any], at: float) -> bool:
        """Store the detector's events and its state snapshot; the ledger ids the writer
        assigned go back onto the detector's outages and into the saved state."""
        assert self.ledger is not None
        refs = self._refs.setdefault(system, {})
        for event in events:
            if event.outage.ref is None:
                event.outage.ref = refs.get(event.outage.seq)

        def saved_state() -> dict[str, Any]:
            known = {**refs, **{e.outage.seq: e.outage.ref for e in events
                                if e.outage.ref is not None}}
            for key in ("current", "previous"):
                outage = state.get(key)
                if outage is not None and outage.get("ref") is None:
                    outage["ref"] = known.get(outage["seq"])
            return state

        try:
            self.ledger.apply(system, events, saved_state, at)
        except StoreError as err:
            log.error("system %s: cannot record the incident state: %s", system, err)
            return False
        for event, live in zip(events, outages, strict=True):
            if event.outage.ref is not None:
                refs[event.outage.seq] = live.ref = event.outage.ref
        return True

    def samples(self) -> Iterator[Sample]:
        now = time.time()
        for name, up in list(self.up.items()):  # readings may arrive while we render
            yield sample(SYSTEM_UP, 1 if up else 0, system=name)
        if self.ledger is None:
            return
        kpi = self.config.policies.kpi
        scales = scales_from_config(kpi)
        try:
            windows = all_windows(self.ledger, kpi)
            names = [s.name for s in self.config.systems if s.kpi]
            for name in [s.name for s in self.config.systems]:
                incident = self.ledger.open_incident(name)
                scale = scale_for(fiscal_year(incident.started_at if incident else now), scales)
                if incident is None:
                    yield sample(INCIDENT_OPEN, 0, system=name)
                    yield sample(INCIDENT_OPEN_DURATION, 0, system=name)
                    yield sample(KPI_NEXT, scale.thresholds[5], system=name)
                    continue
                grade = grade_incident(incident.facts(), windows, scale, now)
                yield sample(INCIDENT_OPEN, 1, system=name)
                yield sample(INCIDENT_OPEN_DURATION, grade.effective_seconds, system=name)
                yield sample(KPI_NEXT, next_threshold_seconds(grade.effective_seconds, scale),
                             system=name)
            current = fiscal_year(now)
            for fy in (current - 1, current):
                view = grade_year(self.ledger, kpi, fy, now, names, exclude=[
                    s.name for s in self.config.systems if not s.kpi])
                for result in [*view.systems.values(), view.office]:
                    label = result.system or OFFICE
                    yield sample(KPI_LEVEL, result.level, system=label, fiscal_year=str(fy))
                    yield sample(KPI_WORST, result.worst_seconds, system=label,
                                 fiscal_year=str(fy))
        except (StoreError, ValueError) as err:
            log.error("KPI metrics unavailable: %s", err)


def factory(agent: AgentView) -> KpiService | None:
    return KpiService(agent) if agent.config.systems else None
