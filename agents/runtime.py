"""The running agent: collectors on a schedule, the state store, services, reload.

APScheduler 3.x ``AsyncIOScheduler`` runs one job per target: ``max_instances=1`` (never two
polls of one target at once), ``coalesce=True``, jitter where the collector asks for it, and
every poll bounded by ``asyncio.wait_for(target.timeout)`` so one dead target never stalls
another.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from upkeep.agents.exposition import MetricsCache
from upkeep.agents.services import Service, service_factories
from upkeep.agents.store import Database, StateStore
from upkeep.collectors.base import Collector, Target, build_collectors

from upkeep.config import Config
from upkeep.errors import CollectorError, StoreError
from upkeep.reading import Reading

log = logging.getLogger(__name__)


def poll_limit(target: Target) -> float:
    """The hard bound on one poll: its timeout, shorter only when that is the whole interval.

    An unset timeout defaults to min(default, interval), as Prometheus' scrape_timeout does.
    A poll cut off at exactly the interval would still be running when the next one is due,
    and ``max_instances=1`` would skip that one (half the polls, a warning each time), so it
    ends at 90% of the shortest gap between two polls (jitter only ever delays a poll).
    """
    if target.timeout < target.interval:
        return target.timeout
    return 0.9 * (target.interval - min(target.jitter, target.interval / 2))


async def poll_target(collector: Collector, target: Target) -> list[Reading]:
    """Poll once, never raising: failures become readings with a reason."""
    started = time.monotonic()
    wall = time.time()
    limit = poll_limit(target)
    try:
        result = await asyncio.wait_for(collector.poll(target), timeout=limit)
    except TimeoutError:
        return [Reading(target.kind, target.name, wall, False, time.monotonic() - started,
                        "timeout", f"no answer within {limit:g}s")]
    except CollectorError as err:
        return [Reading(target.kind, target.name, wall, False, time.monotonic() - started,
                        err.reason, str(err))]
    except Exception as err:
        log.exception("collector %s failed on %s (a bug)", target.kind, target.name)
        return [Reading(target.kind, target.name, wall, False, time.monotonic() - started,
                        "internal", f"{type(err).__name__}: {err}")]
    readings = [result] if isinstance(result, Reading) else list(result)
    duration = time.monotonic() - started
    return [r if r.duration else _with_duration(r, duration) for r in readings]


def _with_duration(reading: Reading, duration: float) -> Reading:
    return replace(reading, duration=duration)


class Agent:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = StateStore()
        self.metrics = MetricsCache(self.store, config.site)
        self.db: Database | None = None
        self.db_error: str | None = None
        self.collectors: list[Collector] = []
        self.services: list[Service] = []
        self.scheduler: AsyncIOScheduler | None = None
        self.started_at = time.time()
        self._produced: dict[tuple[str, str], set[tuple[str, str]]] = {}

    # --- lifecycle -------------------------------------------------------------------------
    def open_database(self) -> None:
        try:
            self.db = Database(Path(self.config.data_dir) / "upkeep.db")
            self.db_error = None
        except StoreError as err:
            # metrics keep flowing without the database; what needs it reports the error
            self.db, self.db_error = None, str(err)
            log.error("%s; events, incidents and attestations are not recorded", err)

    async def start(self) -> None:
        self.open_database()
        self.metrics.start()
        self.scheduler = AsyncIOScheduler()
        self.scheduler.start()
        await self._start_parts()

    async def _start_parts(self) -> None:
        self.collectors = build_collectors(self.config)
        for factory in service_factories():
            service = factory(self)
            if service is not None:
                await service.start(self)
                self.services.append(service)
        keys: set[tuple[str, str]] = set()
        for collector in self.collectors:
            for target in collector.targets():
                keys.add((target.kind, target.name))
                self._schedule(collector, target)
        # a target that expands into several readings (one upsd, many UPS) keeps them
        produced = {k for key in keys for k in self._produced.get(key, ())}
        self.store.retain(keys | produced)

    def _schedule(self, collector: Collector, target: Target) -> None:
        assert self.scheduler is not None
        first = datetime.now() + timedelta(seconds=random.uniform(0, min(target.jitter, 1.0)))
        self.scheduler.add_job(
            self._run_poll, IntervalTrigger(seconds=target.interval, jitter=target.jitter or None),
            args=(collector, target), id=f"{target.kind}:{target.name}",
            name=f"poll {target.kind} {target.name}", max_instances=1, coalesce=True,
            misfire_grace_time=max(1, int(target.interval)), next_run_time=first,
            replace_existing=True)

    async def _run_poll(self, collector: Collector, target: Target) -> None:
        readings = await poll_target(collector, target)
        self._produced[(target.kind, target.name)] = {r.key for r in readings}
        for reading in readings:
            self.store.put(reading)

    async def _stop_parts(self) -> None:
        if self.scheduler is not None:
            self.scheduler.remove_all_jobs()
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                log.exception("stopping service %s failed", service.name)
        self.services = []
        for collector in self.collectors:
            try:
                await collector.aclose()
            except Exception:
                log.exception("closing collector %s failed", collector.kind)
        self.collectors = []

    async def reload(self, config: Config) -> None:
        """Swap in a new, already validated config without dropping the HTTP server."""
        if (config.listen, config.web) != (self.config.listen, self.config.web):
            log.warning("listen and web settings change only on restart")
        await self._stop_parts()
        old_dir = self.config.data_dir
        self.config = config
        self.metrics.site = config.site
        if config.data_dir != old_dir:
            if self.db is not None:
                self.db.close()
            self.open_database()
        await self._start_parts()
        self.store.changed()
        log.info("configuration reloaded")

    async def stop(self) -> None:
        await self._stop_parts()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        await self.metrics.stop()
        if self.db is not None:
            self.db.close()
            self.db = None
