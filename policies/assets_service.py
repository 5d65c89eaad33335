"""The asset register inside the running agent: discovery from readings, end-of-life metrics.

Discovery writes only when what a UPS or host reports changed (a UPS polled every 10 s does
not rewrite its row every 10 s). Metrics are recomputed when the register changed or once a
minute (end-of-life states move with the calendar, not with readings).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from upkeep.errors import StoreError
from upkeep.kit.thai import BANGKOK
from upkeep.metrics import Sample, gauge, sample
from upkeep.policies.assets import STATES, AssetRegister, end_of_life, state_now, today_bangkok
from upkeep.policies.assets_discovery import Discovered, host_asset, read_dmi, ups_assets
from upkeep.reading import Reading

if TYPE_CHECKING:
    from upkeep.kit.agent import AgentView

log = logging.getLogger(__name__)
_R = "policies"
_REFRESH_SECONDS = 60.0

ASSET_EOL = gauge("upkeep_asset_end_of_life_timestamp_seconds",
                  "When the asset reaches end of life (in-service date + service life, vendor "
                  "end of support, or a battery flagged by its UPS); absent when unknown.",
                  ("asset", "class"), unit="seconds", room=_R)
ASSETS = gauge("upkeep_assets", "Assets in the register by class and end-of-life state "
               "(in_service, due_this_fiscal_year, overdue, unknown); disposed ones excluded.",
               ("class", "state"), room=_R)


class AssetsService:
    name = "assets"

    def __init__(self, agent: AgentView, register: AssetRegister) -> None:
        self.agent = agent
        self.register = register
        self._seen: dict[str, dict[str, str]] = {}
        self._dmi: dict[str, str] | None = None
        self._cache: list[Sample] = []
        self._cached_at = float("-inf")

    async def start(self, agent: AgentView) -> None:
        if agent.config.policies.assets.discovery:
            agent.store.subscribe(self.on_reading)
        agent.store.add_source(self.samples, every=_REFRESH_SECONDS)

    async def stop(self) -> None:
        self.agent.store.unsubscribe(self.on_reading)
        self.agent.store.remove_source(self.samples)

    def on_reading(self, previous: Reading | None, reading: Reading) -> None:
        config = self.agent.config
        found: list[Discovered] = []
        if reading.kind in ("nut", "snmp"):
            found = ups_assets(reading, config.site)
        elif reading.kind == "host" and reading.ok:
            if self._dmi is None:
                self._dmi = read_dmi(config.policies.assets.dmi_dir)
            host = host_asset(reading, config.site, self._dmi, config.policies.assets.host_class)
            found = [host] if host else []
        for item in found:
            key = f"{item.serial}|{item.ref}"
            if self._seen.get(key) == item.values:
                continue
            try:
                if self.register.discover(serial=item.serial, ref=item.ref, values=item.values):
                    log.info("asset register: learned %s from %s %s", item.serial or item.ref,
                             reading.kind, reading.target)
                    self.invalidate()
                self._seen[key] = dict(item.values)
            except StoreError as err:
                log.warning("asset discovery from %s failed: %s", reading.target, err)

    def invalidate(self) -> None:
        """The register changed (discovery, an import through the API): recompute the asset
        metrics at once instead of at the next scheduled refresh."""
        self._cached_at = float("-inf")
        self.agent.store.source_changed(self.samples)

    def samples(self) -> Iterator[Sample]:
        if time.monotonic() - self._cached_at > _REFRESH_SECONDS:
            try:
                self._cache = list(self._compute())
                self._cached_at = time.monotonic()
            except StoreError as err:
                log.warning("asset metrics: %s", err)
        return iter(self._cache)

    def _compute(self) -> Iterator[Sample]:
        config = self.agent.config.policies.assets
        today = today_bangkok()
        counts: dict[tuple[str, str], int] = {}
        for asset in self.register.assets(include_disposed=False):
            eol = end_of_life(asset, config)
            cls = asset.asset_class
            if eol.due is not None:
                due = datetime(eol.due.year, eol.due.month, eol.due.day, tzinfo=BANGKOK)
                yield sample(ASSET_EOL, due.timestamp(), asset=asset.name, **{"class": cls})
            key = (cls, state_now(eol.due, today))
            counts[key] = counts.get(key, 0) + 1
        for cls in sorted({c for c, _ in counts}):
            for state in STATES:
                yield sample(ASSETS, counts.get((cls, state), 0), state=state, **{"class": cls})


def assets_service(agent: AgentView) -> AssetsService | None:
    if agent.db is None:
        return None
    try:
        return AssetsService(agent, AssetRegister(agent.db))
    except StoreError as err:  # metrics and the rest of the agent keep going
        log.error("asset register unavailable: %s", err)
        return None
