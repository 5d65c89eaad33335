"""The checklist inside the running agent: metrics from current readings, and the ledger.

The evaluation is cheap (tens of controls x a few subjects, no I/O but one cached query), so
it runs when the exposition renders: after each new reading, which is also when a website's
facts can change. Attestations are read from SQLite at most every ``_CACHE_SECONDS`` or right
after an attestation through the API.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from upkeep.config import Config
from upkeep.errors import ConfigError, StoreError
from upkeep.kit.thai import BANGKOK
from upkeep.metrics import Sample, gauge, sample
from upkeep.parts import PartMissing
from upkeep.policies.attestations import Attestation, AttestationLedger
from upkeep.policies.checklist import STATUSES, Catalogue, ChecklistResult, evaluate, load_catalogue
from upkeep.policies.checklist_history import AssessmentLedger
from upkeep.policies.ita import ItaService

if TYPE_CHECKING:
    from upkeep.kit.agent import AgentView

log = logging.getLogger(__name__)
_R = "policies"
_CACHE_SECONDS = 10.0
#: how often the checklist metrics are re-evaluated (an attestation re-evaluates at once)
SOURCE_EVERY = 15.0

CONTROL_STATUS = gauge("upkeep_checklist_control_status",
                       "1 for the control's current status, 0 for the others (pass, fail, "
                       "partial, manual-pending, expired, not-applicable, error).",
                       ("control", "status"), room=_R)
ATTESTATION_VALID_UNTIL = gauge(
    "upkeep_checklist_attestation_valid_until_timestamp_seconds",
    "When the current attestation of a control stops counting (the end of its valid-until "
    "day, Asia/Bangkok); subject is empty for an organisation-wide attestation.",
    ("control", "subject"), unit="seconds", room=_R)
CHECKLIST_LEVEL = gauge("upkeep_checklist_level",
                        "Step reached on the plan's five-step ladder for project 11 "
                        "(0 = step 1 not met).", room=_R)


def evidence_dir(config: Config) -> Path:
    return Path(config.policies.checklist.evidence_dir or Path(config.data_dir) / "evidence")


class ChecklistService:
    name = "checklist"

    def __init__(self, agent: AgentView) -> None:
        self.agent = agent
        self.catalogue: Catalogue | None = None
        self.catalogue_error: str | None = None
        self.ledger: AttestationLedger | None = None
        self.assessments: AssessmentLedger | None = None
        self._attestations: dict[tuple[str, str], Attestation] = {}
        self._loaded_at = float("-inf")

    async def start(self, agent: AgentView) -> None:
        try:
            self.catalogue = load_catalogue(agent.config.policies.checklist)
        except ConfigError as err:
            self.catalogue_error = "; ".join(m for _, m in err.problems)
            log.error("checklist catalogue: %s", self.catalogue_error)
        if agent.db is not None:
            try:
                self.ledger = AttestationLedger(agent.db, evidence_dir(agent.config))
                self.assessments = AssessmentLedger(agent.db)
            except StoreError as err:  # the checklist still runs, without attestations
                log.error("checklist attestations unavailable: %s", err)
        # evaluating the catalogue reads every reading and records an assessment: on its own
        # schedule, and at once after an attestation (invalidate)
        agent.store.add_source(self.samples, every=SOURCE_EVERY)

    async def stop(self) -> None:
        self.agent.store.remove_source(self.samples)

    def attestations(self) -> dict[tuple[str, str], Attestation]:
        if self.ledger is not None and time.monotonic() - self._loaded_at > _CACHE_SECONDS:
            try:
                self._attestations = self.ledger.latest()
                self._loaded_at = time.monotonic()
            except StoreError as err:
                log.warning("cannot read attestations: %s", err)
        return self._attestations

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")
        self.agent.store.source_changed(self.samples)

    def current(self, now: float | None = None) -> ChecklistResult | None:
        if self.catalogue is None:
            return None
        readings = list(self.agent.store.readings())
        with contextlib.suppress(PartMissing):  # no ITA pages configured
            readings += self.agent.service(ItaService).readings()
        return evaluate(self.catalogue, self.agent.config, readings,
                        self.attestations(), time.time() if now is None else now)

    def samples(self) -> Iterator[Sample]:
        result = self.current()
        if result is None:
            return
        if self.assessments is not None:
            try:
                self.assessments.record(result)
            except StoreError as err:
                log.warning("cannot record checklist assessments: %s", err)
        for row in result.controls:
            for status in STATUSES:
                yield sample(CONTROL_STATUS, 1 if row.status == status else 0,
                             control=row.control.id, status=status)
        yield sample(CHECKLIST_LEVEL, result.level)
        known = {row.control.id for row in result.controls}
        for (control, subject), item in sorted(self.attestations().items()):
            if control in known:
                end = datetime.combine(item.valid_until + timedelta(days=1), datetime.min.time(),
                                       BANGKOK)
                yield sample(ATTESTATION_VALID_UNTIL, end.timestamp(), control=control,
                             subject=subject)


def checklist_service(agent: AgentView) -> ChecklistService:
    return ChecklistService(agent)
