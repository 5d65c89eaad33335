"""The running agent: collectors on a schedule, the state store, services, reload.

Each target has one asyncio task that sleeps until its poll is due, polls, and sleeps again:
never two polls of one target at once, jitter where the collector asks for it, polls that
could not start within their interval skipped and counted (not run in a burst), and every
poll bounded by ``asyncio.timeout`` so one dead target never stalls another. (This replaced
APScheduler 3.x, whose job bookkeeping cost 0.36 ms of CPU per poll against 0.11 for these
tasks, 400 targets every 5 s: ``bench/bench_scheduler.py``, bench/RESULTS.md "Fourth pass".)
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import zlib
from dataclasses import replace
from typing import TypeVar

from upkeep.agents.exposition import MetricsCache
from upkeep.agents.lateness import PollLateness
from upkeep.agents.services import Service, service_factories
from upkeep.agents.store import StateStore
from upkeep.collectors.base import Collector, Target, build_collectors
from upkeep.config import Config
from upkeep.errors import CollectorError, Reason, StoreError
from upkeep.kit.db import Database, db_path
from upkeep.parts import PartMissing
from upkeep.reading import Reading

log = logging.getLogger(__name__)

S = TypeVar("S")

#: how long a stop or reload waits for the polls in flight to end after their cancel
STOP_WAIT = 2.0


def poll_limit(target: Target) -> float:
    """The hard bound on one poll: its timeout, shorter only when that is the whole interval.

    An unset timeout defaults to min(default, interval), as Prometheus' scrape_timeout does.
    A poll cut off at exactly the interval would still be running when the next one is due,
    which would then start late every time (and be counted as an overloaded agent), so it
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
        # asyncio.timeout, not wait_for: on 3.11 wait_for runs the poll as a task of its own,
        # twice the loop's cost of the poll itself on a fast SNMP GET
        async with asyncio.timeout(limit):
            result = await collector.poll(target)
    except TimeoutError:
        return [Reading(target.kind, target.name, wall, False, time.monotonic() - started,
                        Reason.TIMEOUT, f"no answer within {limit:g}s")]
    except CollectorError as err:
        return [Reading(target.kind, target.name, wall, False, time.monotonic() - started,
                        err.reason, str(err))]
    except Exception as err:
        log.exception("collector %s failed on %s (a bug)", target.kind, target.name)
        return [Reading(target.kind, target.name, wall, False, time.monotonic() - started,
                        Reason.INTERNAL, f"{type(err).__name__}: {err}")]
    readings = [result] if isinstance(result, Reading) else list(result)
    duration = time.monotonic() - started
    return [r if r.duration else _with_duration(r, duration) for r in readings]


def phase(target: Target) -> float:
    """Where in its interval a target is polled, in [0, 1): the same on every start."""
    return zlib.crc32(f"{target.kind}:{target.name}".encode()) / 2**32


def _with_duration(reading: Reading, duration: float) -> Reading:
    # what dataclasses.replace does, without its field-by-field checks (once per poll)
    return Reading(**{**reading.__dict__, "duration": duration})


class Agent:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = StateStore()
        self.metrics = MetricsCache(self.store, config.site)
        self.db: Database | None = None
        self.db_error: str | None = None
        self.collectors: list[Collector] = []
        self.services: list[Service] = []
        #: one task per target, polling it on its interval
        self.pollers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.started_at = time.time()
        self._produced: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self.lateness = PollLateness()

    def service(self, kind: type[S]) -> S:
        """The running service of ``kind`` (``upkeep.parts.HasServices``).

        ``PartMissing`` says why there is none: the database error when the part needs the
        database, otherwise that it is not running (switched off, or failed to start)."""
        for service in self.services:
            if isinstance(service, kind):
                return service
        name = getattr(kind, "name", kind.__name__)
        raise PartMissing(self.db_error or f"the {name} service is not running")

    # --- lifecycle -------------------------------------------------------------------------
    def open_database(self) -> None:
        try:
            self.db = Database(db_path(self.config))
            self.db_error = None
        except StoreError as err:
            # metrics keep flowing without the database; what needs it reports the error
            self.db, self.db_error = None, str(err)
            log.error("%s; events, incidents and attestations are not recorded", err)

    async def start(self) -> None:
        self.open_database()
        self.metrics.start()
        self.store.add_source(self.lateness.samples, every=self.lateness.every)
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
        key = (target.kind, target.name)
        old = self.pollers.pop(key, None)
        if old is not None:
            old.cancel()
        self.pollers[key] = asyncio.get_running_loop().create_task(
            self._poll_forever(collector, target), name=f"poll {target.kind} {target.name}")

    async def _poll_forever(self, collector: Collector, target: Target) -> None:
        """Poll ``target`` every ``interval`` seconds, each poll ``jitter`` late at most.

        The first poll starts at once (within a second, spread by the jitter); after it the
        target keeps a phase of its own in the interval, from a hash of its name as
        Prometheus spreads its scrapes, so 500 UPS on one interval are polled a few at a
        time, not in one burst that holds up the event loop and every scrape. A poll that
        could not start before its next one was due (a held-up event loop, a starved CPU) is
        skipped and counted; the one that does start records how late it is."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        interval, jitter = target.interval, target.jitter
        started = loop.time()
        due = started + random.uniform(0, min(jitter, 1.0))
        slot = started + interval * phase(target)
        if slot < due + interval / 2:  # never twice within half an interval
            slot += interval
        first = True
        while True:
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            late = loop.time() - due
            if late >= interval and not first:
                skipped = int(late // interval)
                self.lateness.record(target.kind, late, missed=skipped)
                slot += skipped * interval
                late -= skipped * interval
            self.lateness.record(target.kind, late)
            try:
                await self._run_poll(collector, target)
            except Exception:  # a bug past poll_target's net (storing the reading): log, go on
                log.exception("poll of %s %s failed", target.kind, target.name)
            if task is not None and task.cancelling():
                # a stop whose cancel a library swallowed (3.11's wait_for can, when its
                # future completes at the same moment): stop here, do not poll again
                raise asyncio.CancelledError
            if not first:
                slot += interval
            first = False
            due = slot + (random.uniform(0, jitter) if jitter else 0.0)

    async def _run_poll(self, collector: Collector, target: Target) -> None:
        readings = await poll_target(collector, target)
        key = (target.kind, target.name)
        before = self._produced.get(key, set())
        if (len(readings) == 1 and readings[0].key == key and not readings[0].ok
                and before - {key}):
            # a target standing for several things (one upsd, many UPS) failed as a whole
            # (the hard timeout, a bug): each of them is down for that reason
            readings = [replace(readings[0], target=name) for _, name in sorted(before)]
        produced = {r.key for r in readings}
        self._produced[key] = produced
        for reading in readings:
            self.store.put(reading)
        if before - produced:
            # what this target reported before and no longer does: collectors report a
            # vanished thing as down themselves, so this is only a reading that stood in
            # for "nothing found yet" (an upsd listing no UPS)
            self.store.forget(before - produced)

    async def _stop_parts(self) -> None:
        pollers, self.pollers = list(self.pollers.values()), {}
        for task in pollers:
            task.cancel()
        if pollers:
            # a poll in flight ends here (its collector is closed next), not after the
            # reload; one that ignores its cancel must not hold up the stop for ever
            _, stuck = await asyncio.wait(pollers, timeout=STOP_WAIT)
            for task in stuck:
                log.warning("%s did not stop within %gs", task.get_name(), STOP_WAIT)
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
        self.store.remove_source(self.lateness.samples)
        await self.metrics.stop()
        if self.db is not None:
            self.db.close()
            self.db = None
