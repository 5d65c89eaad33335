"""The user-satisfaction KPI on ``/metrics``, from the survey ledger in the agent's database.

- ``upkeep_satisfaction_level{system,fiscal_year}``: the graded level 5 .. 1, 0 = not met;
- ``upkeep_satisfaction_ratio{system,fiscal_year}``: the satisfaction as a ratio 0-1 (base
  units: 0.87 is 87 %);

for the current and the previous fiscal year (BE), for each system (``system="web:NAME"``
for a website) whose newest survey of that year has ratings; absent where no survey was
recorded, so "no survey yet" is not mistaken for a level. Surveys are written by the CLI (a
separate process), so the ledger is re-read on a slow schedule.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from upkeep.errors import StoreError
from upkeep.kit.thai import fiscal_year
from upkeep.metrics import Sample, gauge, sample
from upkeep.policies.surveys import SurveyLedger, grade

if TYPE_CHECKING:
    from upkeep.kit.agent import AgentView

log = logging.getLogger(__name__)

#: surveys change a few times a year, imported by another process: a slow re-read is enough
SOURCE_EVERY = 300.0

SATISFACTION_LEVEL = gauge(
    "upkeep_satisfaction_level", "User-satisfaction KPI level 5 (best) .. 1, 0 = not met, of "
    "the newest survey of the fiscal year (BE); system=\"web:NAME\" is a website",
    ["system", "fiscal_year"], room="policies")
SATISFACTION_RATIO = gauge(
    "upkeep_satisfaction_ratio", "User satisfaction of the newest survey of the fiscal year "
    "(BE) by the configured scoring rule, as a ratio 0-1", ["system", "fiscal_year"],
    room="policies")


class SatisfactionService:
    name = "satisfaction"

    def __init__(self, agent: AgentView) -> None:
        self.agent = agent
        self.ledger: SurveyLedger | None = None

    async def start(self, agent: AgentView) -> None:
        if agent.db is None:
            log.error("satisfaction KPI unavailable: %s", agent.db_error or "no database")
            return
        try:
            self.ledger = SurveyLedger.open(agent.config, agent.db)
        except StoreError as err:
            log.error("satisfaction KPI unavailable: %s", err)
            return
        agent.store.add_source(self.samples, every=SOURCE_EVERY)

    async def stop(self) -> None:
        if self.ledger is not None:
            self.agent.store.remove_source(self.samples)

    def samples(self, now: float | None = None) -> Iterator[Sample]:
        if self.ledger is None:
            return
        current = fiscal_year(time.time() if now is None else now)
        try:
            latest = self.ledger.latest()
        except StoreError as err:
            log.error("satisfaction KPI metrics unavailable: %s", err)
            return
        for (subject, fy), survey in sorted(latest.items()):
            if fy not in (current - 1, current):
                continue
            try:
                result = grade(self.agent.config, survey, subject, fy)
            except ValueError as err:  # no scale for that year
                log.error("satisfaction of %s in FY %s: %s", subject, fy, err)
                continue
            if result.level is None or result.ratio is None:
                continue
            yield sample(SATISFACTION_LEVEL, result.level, system=subject, fiscal_year=str(fy))
            yield sample(SATISFACTION_RATIO, result.ratio, system=subject, fiscal_year=str(fy))


def factory(agent: AgentView) -> SatisfactionService:
    return SatisfactionService(agent)
