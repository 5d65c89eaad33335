"""Readings -> Prometheus exposition, rendered once per change and served from cache.

A scrape never collects: the scheduler stores readings, the store says "changed", and
``MetricsCache`` renders text 0.0.4, OpenMetrics and their gzip (level 1) forms once, in a
worker thread. ``/metrics`` then returns cached bytes (about 0.1 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics import exposition as om

from upkeep import __version__
from upkeep.agents.store import StateStore
from upkeep.metrics import METRICS, MetricSpec, Sample, gauge, sample

log = logging.getLogger(__name__)

UP = gauge("upkeep_up", "1 when the last poll of the target succeeded, else 0.",
           ("kind", "target"), counterpart="up / probe_success")
LAST_SUCCESS = gauge("upkeep_last_success_timestamp_seconds",
                     "Unix time of the target's last successful poll.", ("kind", "target"),
                     unit="seconds")
POLL_DURATION = gauge("upkeep_poll_duration_seconds", "Duration of the target's last poll.",
                      ("kind", "target"), unit="seconds", counterpart="probe_duration_seconds")
POLL_ERROR = gauge("upkeep_poll_error", "1 for the reason the target's last poll failed.",
                   ("kind", "target", "reason"))
BUILD_INFO = gauge("upkeep_build_info", "Always 1; the agent's version.", ("version",))
AGENT_INFO = gauge("upkeep_agent_info", "Always 1; the site this agent is configured for.",
                   ("site",))

TEXT_004 = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def self_samples(store: StateStore, site: str) -> Iterator[Sample]:
    yield sample(BUILD_INFO, 1, version=__version__)
    yield sample(AGENT_INFO, 1, site=site)
    for state in store.states():
        r = state.latest
        yield sample(UP, 1 if r.ok else 0, kind=r.kind, target=r.target)
        yield sample(POLL_DURATION, r.duration, kind=r.kind, target=r.target)
        if state.last_success is not None:
            yield sample(LAST_SUCCESS, state.last_success, kind=r.kind, target=r.target)
        if not r.ok:
            yield sample(POLL_ERROR, 1, kind=r.kind, target=r.target, reason=r.reason or "error")


def all_samples(store: StateStore, site: str) -> Iterator[Sample]:
    yield from self_samples(store, site)
    for state in store.states():
        yield from state.latest.samples
    for source in store.sources():
        try:
            yield from source()
        except Exception:  # one broken source must not blank the whole scrape
            log.exception("metric source %r failed", source)


def families(samples: Iterable[Sample]) -> list[Metric]:
    grouped: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for s in samples:
        key = tuple((name, s.labels[name]) for name in METRICS[s.metric].labels) \
            if s.metric in METRICS else tuple(sorted(s.labels.items()))
        grouped[s.metric][key] = s.value  # a duplicate series keeps the last value
    out: list[Metric] = []
    for name in sorted(grouped):
        spec = METRICS.get(name) or MetricSpec(name, "gauge", "undeclared metric")
        out.append(_family(spec, grouped[name]))
    return out


def _family(spec: MetricSpec, series: dict[tuple[tuple[str, str], ...], float]) -> Metric:
    labels = list(spec.labels)
    family: GaugeMetricFamily | CounterMetricFamily
    if spec.type == "counter":
        family = CounterMetricFamily(spec.name.removesuffix("_total"), spec.help, labels=labels)
    else:
        family = GaugeMetricFamily(spec.name, spec.help, labels=labels)
    for key, value in series.items():
        family.add_metric([v for _, v in key], value)
    return family


class _Snapshot:
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        return self.metrics


@dataclass(frozen=True)
class Rendered:
    text: bytes
    text_gz: bytes
    openmetrics: bytes
    openmetrics_gz: bytes


def render(samples: Iterable[Sample]) -> Rendered:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families(samples)))
    text = generate_latest(registry)
    # prometheus_client's openmetrics exposition module has no annotations
    openmetrics: bytes = om.generate_latest(registry)  # type: ignore[no-untyped-call]
    return Rendered(text, gzip.compress(text, 1), openmetrics, gzip.compress(openmetrics, 1))


class MetricsCache:
    """Keeps the rendered exposition current; renders at most once per store change."""

    def __init__(self, store: StateStore, site: str) -> None:
        self.store = store
        self.site = site
        self._rendered: Rendered | None = None
        self._generation = -1
        self._lock = threading.Lock()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def current(self) -> Rendered:
        """The cached bytes; renders synchronously only if nothing was rendered yet."""
        with self._lock:
            if self._rendered is None or (self._task is None
                                          and self._generation != self.store.generation):
                self._render_locked()
            assert self._rendered is not None
            return self._rendered

    def _render_locked(self) -> None:
        generation = self.store.generation
        self._rendered = render(all_samples(self.store, self.site))
        self._generation = generation

    def refresh(self) -> None:
        with self._lock:
            if self._generation != self.store.generation:
                self._render_locked()

    # --- background re-rendering --------------------------------------------------------
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()

        def changed() -> None:
            wakeup = self._wakeup
            if wakeup is not None:
                loop.call_soon_threadsafe(wakeup.set)

        self.store.on_change(changed)
        self._task = loop.create_task(self._run(), name="metrics-render")

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await asyncio.sleep(0.05)  # coalesce a burst of readings into one render
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:
                log.exception("rendering the exposition failed")

    async def stop(self) -> None:
        self.store.on_change(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
