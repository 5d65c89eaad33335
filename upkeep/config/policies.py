"""``policies:``: the KPIs, the security checklist, the asset register and the reports' settings.

Each part's model lives in its own module, owned by its room.
"""

from __future__ import annotations

from upkeep.config.base import StrictModel
from upkeep.config.policy_assets import AssetsConfig
from upkeep.config.policy_checklist import ChecklistConfig
from upkeep.config.policy_ita import ItaConfig
from upkeep.config.policy_kpi import KpiConfig
from upkeep.config.policy_reports import ReportsConfig
from upkeep.config.policy_satisfaction import SatisfactionConfig


class PoliciesConfig(StrictModel):
    kpi: KpiConfig = KpiConfig()
    checklist: ChecklistConfig = ChecklistConfig()
    assets: AssetsConfig = AssetsConfig()
    satisfaction: SatisfactionConfig = SatisfactionConfig()
    ita: ItaConfig = ItaConfig()
    reports: ReportsConfig = ReportsConfig()
