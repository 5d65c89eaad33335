"""The fragment-cached exposition against prometheus_client's own encoders.

A rich state (a real psutil host poll, the 28 real NUT dumps, label values with quotes,
backslashes, newlines and Thai text, special floats, policy-style sources) is rendered both
by ``MetricsCache`` and by a reference built from prometheus_client's metric families and
``generate_latest`` (text 0.0.4 and OpenMetrics). Both outputs are parsed back with
prometheus_client's parsers and must hold exactly the same families, types, help texts,
samples, labels and values, also after targets change, vanish and sources go stale;
``promtool check metrics`` must accept ours.
"""

from __future__ import annotations

import asyncio
import gzip
import math
import subprocess
import time
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics import exposition as om
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as om_families,
)
from prometheus_client.parser import text_string_to_metric_families

from tests.nut_rig import read_dev
from tests.support import need_binary
from upkeep.agents.exposition import MetricsCache, agent_samples, go_float, target_samples
from upkeep.agents.store import StateStore
from upkeep.collectors.host import HostCollector
from upkeep.collectors.nut import reading_from_vars
from upkeep.config import default_config
from upkeep.metrics import METRICS, MetricSpec, Sample, sample
from upkeep.reading import Reading

DDL = Path(__file__).resolve().parents[1] / "fixtures" / "nut-ddl"


# --- the reference: prometheus_client's families and encoders, as the agent used to render ----
def _reference_families(samples: Iterable[Sample]) -> list[Metric]:
    grouped: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for s in samples:
        key = tuple((name, s.labels[name]) for name in METRICS[s.metric].labels)
        grouped[s.metric][key] = s.value
    out: list[Metric] = []
    for name in sorted(grouped):
        spec = METRICS[name]
        family: GaugeMetricFamily | CounterMetricFamily
        if spec.type == "counter":
            family = CounterMetricFamily(spec.name.removesuffix("_total"), spec.help,
                                         labels=list(spec.labels))
        else:
            family = GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))
        for key, value in grouped[name].items():
            family.add_metric([v for _, v in key], value)
        out.append(family)
    return out


class _Snapshot:
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        return self.metrics


def reference(samples: Iterable[Sample], openmetrics: bool) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(_reference_families(samples)))
    if openmetrics:
        body: bytes = om.generate_latest(registry)  # type: ignore[no-untyped-call]
        return body
    return generate_latest(registry)


def all_samples(cache: MetricsCache) -> Iterator[Sample]:
    yield from agent_samples(cache.site, cache.last_render_seconds)
    for state in cache.store.states():
        yield from target_samples(state)
    for source in cache.store.sources():
        yield from source.compute()


def parsed(body: bytes, openmetrics: bool) -> dict[str, Any]:
    """family -> (type, help, {(sample name, labels): value as text})"""
    parse = om_families if openmetrics else text_string_to_metric_families
    out: dict[str, Any] = {}
    for family in parse(body.decode()):
        samples = {(s.name, frozenset(s.labels.items())): go_float(s.value)
                   for s in family.samples}
        assert len(samples) == len(family.samples), f"duplicate series in {family.name}"
        out[family.name] = (family.type, family.documentation, samples)
    return out


def assert_equivalent(cache: MetricsCache) -> None:
    for openmetrics in (False, True):
        ours = cache.current(openmetrics=openmetrics)
        theirs = reference(all_samples(cache), openmetrics)
        assert parsed(ours, openmetrics) == parsed(theirs, openmetrics)
        assert ours.count(b"\n# HELP") == theirs.count(b"\n# HELP")


# --- a rich state -------------------------------------------------------------------------
EDGE = MetricSpec("upkeep_test_edge_value", "gauge",
                  "Edge cases: \\ backslash, \"quotes\"\nand newline.", ("target", "text"))
EDGE_COUNTER = MetricSpec("upkeep_test_edge_events_total", "counter", "A counter.", ("target",))


@pytest.fixture(scope="module", autouse=True)
def _edge_metrics() -> Iterator[None]:
    for spec in (EDGE, EDGE_COUNTER):
        METRICS[spec.name] = spec
    yield
    for spec in (EDGE, EDGE_COUNTER):
        del METRICS[spec.name]


def host_reading() -> Reading:
    collector = HostCollector(default_config().host)
    target = next(iter(collector.targets()))
    result = asyncio.run(collector.poll(target))
    assert isinstance(result, Reading) and result.ok, result
    return result


def nut_readings() -> list[Reading]:
    dumps = sorted(DDL.glob("*.dev"))
    assert len(dumps) == 28
    return [reading_from_vars(f"ups-{i}", read_dev(path), when=1_700_000_000.0 + i)
            for i, path in enumerate(dumps)]


def edge_reading(target: str, value: float) -> Reading:
    texts = ['a "quoted" word', "back\\slash", "new\nline", "ไฟฟ้าดับ", "", "{}=,"]
    samples = [sample(EDGE, v, target=target, text=t) for t, v in zip(
        texts, [value, math.inf, -math.inf, 1e300, 12345678.9, -0.0], strict=True)]
    samples.append(sample(EDGE_COUNTER, abs(value) * 3, target=target))
    # a duplicate series within a reading keeps the last value
    samples.append(sample(EDGE, 7, target=target, text=texts[0]))
    return Reading("test", target, 1_700_000_000.0, value > 0, 0.25, "" if value > 0 else
                   "timeout", samples=samples)


def rich_store() -> StateStore:
    store = StateStore()
    store.put(host_reading())
    for reading in nut_readings():
        store.put(reading)
    store.put(edge_reading("alpha", 1.5))
    store.put(edge_reading("beta", -2))
    return store


def test_rich_state_renders_the_same_families_labels_and_values() -> None:
    cache = MetricsCache(rich_store(), "branch-ไทย")
    assert_equivalent(cache)
    families = parsed(cache.current(), False)
    assert len(families) > 60  # host, UPS, freshness and edge families are all there


def test_every_sample_names_exactly_its_declared_labels() -> None:
    # (the UPS model builds its samples without sample()'s check, with fast_sample)
    store = rich_store()
    every_kind = reading_from_vars("every-kind", {
        "ups.status": "OL RB CHRG ODDTOKEN", "ups.alarm": "Replace battery! Fan failure!",
        "ups.temperature": "31", "battery.temperature": "29", "ambient.temperature": "26",
        "battery.charge": "90", "battery.runtime": "1200", "ups.load": "40",
        "battery.date": "2024-01-02", "ups.test.result": "Failed", "input.voltage": "230"})
    store.put(every_kind)
    samples = list(all_samples(MetricsCache(store, "s")))
    assert {"upkeep_ups_alarm", "upkeep_ups_temperature_celsius",
            "upkeep_ups_selftest_result"} <= {s.metric for s in samples}
    wrong = [(s.metric, sorted(s.labels)) for s in samples
             if set(s.labels) != set(METRICS[s.metric].labels)]
    assert wrong == []


def test_equivalent_after_changes_removals_and_sources() -> None:
    store = rich_store()
    cache = MetricsCache(store, "central")
    inputs = {"level": 1.0}

    def policy() -> Iterator[Sample]:
        yield sample(EDGE, inputs["level"], target="policy", text="level")

    store.add_source(policy, every=3600)
    assert_equivalent(cache)
    store.put(edge_reading("alpha", -4))                        # up -> down, reason appears
    store.put(reading_from_vars("ups-3", {"ups.status": "OB DISCHRG", "battery.charge": "40"}))
    assert_equivalent(cache)
    store.retain({r.key for r in store.readings()} - {("test", "beta")})  # beta goes away
    assert_equivalent(cache)
    assert b'target="beta"' not in cache.current()
    store.put(edge_reading("gamma", 9))                         # a new target
    inputs["level"] = 4.0
    store.source_changed(policy)                                # the policy's inputs changed
    assert_equivalent(cache)
    assert b'upkeep_test_edge_value{target="policy",text="level"} 4.0' in cache.current()


def test_nothing_renders_without_a_scrape_and_a_scrape_without_change_is_cached() -> None:
    store = rich_store()
    cache = MetricsCache(store, "s")
    assert cache.renders == 0
    first = cache.current()
    assert cache.renders == 1
    for value in range(5):
        store.put(edge_reading("alpha", value + 1))
    assert cache.renders == 1                      # readings alone render nothing
    assert cache.current() != first
    assert cache.renders == 2                      # five readings, one render on the scrape
    assert cache.cached() and not cache.cached(openmetrics=True, gzipped=True)
    cache.current()
    assert cache.renders == 2


def test_policy_sources_follow_their_schedule_not_the_readings() -> None:
    store = rich_store()
    cache = MetricsCache(store, "s")
    calls = {"slow": 0, "every_render": 0}

    def slow() -> Iterator[Sample]:
        calls["slow"] += 1
        yield sample(EDGE, calls["slow"], target="slow", text="x")

    def every_render() -> Iterator[Sample]:
        calls["every_render"] += 1
        yield sample(EDGE, calls["every_render"], target="fast", text="x")

    store.add_source(slow, every=3600)
    store.add_source(every_render)
    for value in range(3):
        store.put(edge_reading("alpha", value + 1))
        cache.current()
    assert calls == {"slow": 1, "every_render": 3}
    store.source_changed(slow)
    cache.current()
    assert calls["slow"] == 2


def test_only_the_changed_target_is_formatted_again() -> None:
    store = rich_store()
    cache = MetricsCache(store, "s")
    cache.current()
    parts_before = {k: p.fragments for k, p in cache._parts.items()}
    store.put(edge_reading("alpha", 3))
    cache.current()
    changed = [k for k, p in cache._parts.items() if p.fragments is not parts_before.get(k)]
    assert changed == [("test", "alpha")]


def test_a_value_is_written_anew_whenever_it_changes_even_to_minus_zero_or_nan() -> None:
    # a family's lines are reused while its samples stay the same, and 0.0 == -0.0, NaN != NaN
    store = StateStore()
    cache = MetricsCache(store, "s")
    for value, text in [(0.0, "x"), (-0.0, "x"), (-0.0, "x"), (0.0, "x"), (math.nan, "x"),
                        (math.nan, "x"), (2.5, "x"), (2.5, "x"), (2.5, "y"), (math.inf, "y"),
                        (1e22, "y"), (0.0, "x")]:
        store.put(Reading("test", "alpha", 1_700_000_000.0, True,
                          samples=[sample(EDGE, value, target="alpha", text=text)]))
        body = cache.current()
        line = f'upkeep_test_edge_value{{target="alpha",text="{text}"}} {go_float(value)}\n'
        assert line.encode() in body, (value, text)
        assert body.count(b"upkeep_test_edge_value{") == 1
    assert_equivalent(cache)


def test_gzip_of_a_small_agent_is_as_small_as_compressing_it_whole() -> None:
    # one chunk: a piece per family (a first version) doubled a branch agent's scrape
    cache = MetricsCache(rich_store(), "s")
    for openmetrics in (False, True):
        body = cache.current(openmetrics=openmetrics, gzipped=True)
        plain = cache.current(openmetrics=openmetrics)
        assert gzip.decompress(body) == plain
        assert len(body) <= 1.02 * len(gzip.compress(plain, 1)), (len(body), len(plain))


@pytest.mark.parametrize("chunk", [1, 3000, 64 * 1024])
def test_gzip_in_chunks_stays_the_text_through_changes(chunk: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from upkeep.agents.exposition import DeflatedFamilies

    monkeypatch.setattr(DeflatedFamilies, "CHUNK_BYTES", chunk)
    store = rich_store()
    cache = MetricsCache(store, "s")
    cache.current(openmetrics=True, gzipped=True)
    every = set(cache._deflated.compressed)
    assert gzip.decompress(cache.current(gzipped=True)) == cache.current()
    for step, reading in enumerate([edge_reading("alpha", 3), edge_reading("beta", 5),
                                    edge_reading("gamma", -1), *nut_readings()[:2]]):
        store.put(reading)
        for openmetrics in (False, True):
            body = cache.current(openmetrics=openmetrics, gzipped=True)
            assert gzip.decompress(body) == cache.current(openmetrics=openmetrics), step
            redone = set(cache._deflated.compressed)
            assert "upkeep_exposition_render_seconds" in redone
            if chunk < 64 * 1024:
                assert redone < every, step


def test_a_family_after_the_last_chunk_does_not_leave_eof_inside(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenMetrics ends with "# EOF" in the last chunk; once a family sorts after it, that
    # chunk (same families, same lines) must be compressed again without it
    from upkeep.agents.exposition import DeflatedFamilies

    monkeypatch.setattr(DeflatedFamilies, "CHUNK_BYTES", 1)
    store = StateStore()
    cache = MetricsCache(store, "s")
    store.put(Reading("test", "a", 1.0, True, samples=[sample(EDGE, 1, target="a", text="x")]))
    first = gzip.decompress(cache.current(openmetrics=True, gzipped=True))
    assert first.endswith(b"# EOF\n") and first.count(b"# EOF") == 1
    METRICS["upkeep_zz_test_last"] = last = MetricSpec("upkeep_zz_test_last", "gauge", "Last.")
    try:
        store.add_source(lambda: iter([sample(last, 2)]))  # a source: no other family changes
        body = gzip.decompress(cache.current(openmetrics=True, gzipped=True))
        assert body == cache.current(openmetrics=True)
        assert body.count(b"# EOF") == 1 and body.endswith(b"upkeep_zz_test_last 2.0\n# EOF\n")
    finally:
        del METRICS["upkeep_zz_test_last"]


def test_gzip_is_one_member_holding_the_text_and_only_changed_chunks_are_compressed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from upkeep.agents.exposition import DeflatedFamilies

    monkeypatch.setattr(DeflatedFamilies, "CHUNK_BYTES", 1)  # a chunk per family
    store = rich_store()
    cache = MetricsCache(store, "s")
    for openmetrics in (False, True):
        body = cache.current(openmetrics=openmetrics, gzipped=True)
        reader = zlib.decompressobj(wbits=31)  # one gzip member, nothing after it
        assert reader.decompress(body) == cache.current(openmetrics=openmetrics)
        assert reader.eof and not reader.unused_data
        assert gzip.decompress(body) == cache.current(openmetrics=openmetrics)
    families = len(parsed(cache.current(), False))
    assert len(cache._deflated.compressed) == families  # each family once per format
    # alpha again with a new counter value; its edge values (the first one overwritten by the
    # duplicate 7), up and poll duration stay the same: their families are not compressed
    store.put(edge_reading("alpha", 3))
    body = cache.current(gzipped=True)
    assert gzip.decompress(body) == cache.current()
    assert sorted(cache._deflated.compressed) == [
        "upkeep_exposition_render_seconds", "upkeep_test_edge_events_total"]
    store.put(edge_reading("alpha", -3))  # down now: up, the error reason, the counter
    assert gzip.decompress(cache.current(gzipped=True)) == cache.current()
    assert sorted(cache._deflated.compressed) == [
        "upkeep_exposition_render_seconds", "upkeep_poll_error", "upkeep_up"]
    store.retain({r.key for r in store.readings()} - {("test", "alpha"), ("test", "beta")})
    assert b"upkeep_test_edge_value" not in gzip.decompress(cache.current(gzipped=True))
    assert gzip.decompress(cache.current(gzipped=True)) == cache.current()


def test_a_scrape_compresses_again_only_the_families_that_keep_changing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every poll changes a few families of its target (its duration, its last success);
    those families go first, in chunks of their own, so the chunks of the steady ones are
    kept. In name order they shared chunks, and a scrape compressed nearly the whole text."""
    from upkeep.agents.exposition import DeflatedFamilies

    monkeypatch.setattr(DeflatedFamilies, "CHUNK_BYTES", 4096)
    store = rich_store()
    cache = MetricsCache(store, "s")
    readings = nut_readings()
    changing = {"upkeep_poll_duration_seconds", "upkeep_last_success_timestamp_seconds"}

    def poll_every_ups(step: int) -> bytes:
        for r in readings:
            store.put(replace(r, time=r.time + 15 * step, duration=0.1 + step / 1000))
        return cache.current(gzipped=True)

    poll_every_ups(0)
    steady = set(cache._joined) - changing  # the targets' families
    assert len(steady) > 30
    for step in range(1, MetricsCache.VOLATILE_RENDERS + 2):  # until the first poll is old
        poll_every_ups(step)
    body = poll_every_ups(100)
    assert gzip.decompress(body) == cache.current()
    compressed = set(cache._deflated.compressed)
    assert changing <= compressed
    assert not compressed & steady, sorted(compressed & steady)
    # a steady family that changes is compressed again at once, and joins the changing ones
    store.put(edge_reading("alpha", 4))
    assert gzip.decompress(cache.current(gzipped=True)) == cache.current()
    assert "upkeep_test_edge_events_total" in cache._deflated.compressed
    order = [line.split()[2] for line in cache.current().decode().splitlines()
             if line.startswith("# TYPE ")]
    before = [f for f in steady if f < "upkeep_test_edge_events_total" and f in order]
    assert before and order.index("upkeep_test_edge_events_total") < min(map(order.index, before))


def test_new_readings_are_rendered_ahead_of_the_scrape() -> None:
    """With a running agent, a new reading's lines are made shortly after it arrives, so a
    scrape finds them made: it only joins and compresses. A target polled again before the
    next scrape waits for that scrape (no formatting of readings nobody sees)."""
    store = rich_store()
    cache = MetricsCache(store, "s")
    readings = nut_readings()[:3]

    def made(r: Reading) -> bool:
        return cache._parts[r.key].made_from is store.get(*r.key)

    async def run() -> None:
        cache.start()
        try:
            cache.current(gzipped=True)  # the first render
            for r in readings:
                store.put(replace(r, time=r.time + 15, duration=0.375))
            assert not any(made(r) for r in readings)
            await asyncio.sleep(cache.AHEAD_DELAY * 3)
            assert all(made(r) for r in readings)  # formatted, no scrape yet
            # polled again before a scrape: left to the scrape
            store.put(replace(readings[0], time=readings[0].time + 30, duration=0.5))
            await asyncio.sleep(cache.AHEAD_DELAY * 3)
            assert not made(readings[0])
            made_lines: list[object] = []
            original = cache._refragment
            monkey = pytest.MonkeyPatch()
            monkey.setattr(cache, "_refragment",
                           lambda part, samples: made_lines.append(part) or original(part, samples))
            try:
                body = cache.current(gzipped=True)
            finally:
                monkey.undo()
            assert len(made_lines) == 1  # the scrape formatted only the reading left to it
            assert gzip.decompress(body) == cache.current()
            text = cache.current().decode()
            for r, duration in zip(readings, ("0.5", "0.375", "0.375"), strict=True):
                line = f'upkeep_poll_duration_seconds{{kind="nut",target="{r.target}"}} {duration}'
                assert line in text
            # after that scrape, the next reading of that target is formatted ahead again
            store.put(replace(readings[0], duration=0.625))
            await asyncio.sleep(cache.AHEAD_DELAY * 3)
            assert made(readings[0])
            # a reading put by another thread (an API import) waits for the next scrape
            await asyncio.to_thread(store.put, replace(readings[1], duration=0.75))
            await asyncio.sleep(cache.AHEAD_DELAY * 3)
            assert not made(readings[1])
        finally:
            await cache.stop()
        assert cache._ahead is None

    asyncio.run(run())


def test_only_a_small_render_with_sources_in_the_background_is_quick() -> None:
    """``quick``: the front renders on the event loop only after a few readings, in a format
    already rendered once, with scheduled sources computed by the background task."""
    store = rich_store()
    cache = MetricsCache(store, "s")

    async def run() -> list[bool]:
        seen = [cache.quick()]                     # never rendered: the full render, a thread
        cache.current()
        store.put(edge_reading("alpha", 2))
        seen.append(cache.quick())                 # sources would be computed in the render
        cache.start()
        try:
            cache.current()
            seen.append(cache.quick())             # cached
            seen.append(cache.quick(gzipped=True))  # that format never rendered
            store.put(edge_reading("alpha", 1))
            seen.append(cache.quick())             # one reading since
            for value in range(cache.QUICK_READINGS + 1):
                store.put(edge_reading("alpha", value + 3))
            seen.append(cache.quick())             # a flood of readings
            cache.current()
            store.add_source(lambda: iter(()))     # cheap by contract: computed in the render
            store.put(edge_reading("alpha", 1))
            seen.append(cache.quick())
            return seen
        finally:
            await cache.stop()

    assert asyncio.run(run()) == [False, False, True, False, True, False, True]


def test_promtool_accepts_the_rich_exposition(tmp_path: Path) -> None:
    promtool = need_binary("promtool")
    cache = MetricsCache(rich_store(), "s")
    result = subprocess.run([promtool, "check", "metrics"], input=cache.current(),
                            capture_output=True, timeout=60)
    problems = [line for line in result.stdout.decode().splitlines() + result.stderr.decode(
    ).splitlines() if line.strip() and "camelCase" not in line]
    assert problems == [], problems


def test_with_a_running_agent_a_slow_policy_source_never_delays_a_scrape() -> None:
    """Started (as the agent starts it), the cache computes scheduled sources in the
    background: a scrape while a 1-second evaluation runs answers at once with the last
    values, and the new values arrive by themselves."""
    import asyncio

    store = rich_store()
    cache = MetricsCache(store, "s")
    inputs = {"level": 1.0}

    def slow_policy() -> Iterator[Sample]:
        time.sleep(1.0)  # a checklist evaluating hundreds of readings on a slow day
        yield sample(EDGE, inputs["level"], target="policy", text="level")

    async def run() -> tuple[float, bytes, bytes]:
        store.add_source(slow_policy, every=3600)
        cache.start()
        try:
            await asyncio.sleep(1.6)  # the first evaluation done in the background
            first = cache.current()
            inputs["level"] = 5.0
            store.source_changed(slow_policy)  # its inputs changed: a scrape comes at once
            started = time.perf_counter()
            during = await asyncio.to_thread(cache.current)
            took = time.perf_counter() - started
            for _ in range(40):
                if b'text="level"} 5.0' in cache.current():
                    break
                await asyncio.sleep(0.1)
            return took, first + during, cache.current()
        finally:
            await cache.stop()

    took, before, after = asyncio.run(run())
    assert took < 0.3, took                                  # no waiting for the evaluation
    assert before.count(b'upkeep_test_edge_value{target="policy",text="level"} 1.0') == 2
    assert b'upkeep_test_edge_value{target="policy",text="level"} 5.0' in after


def test_stop_waits_for_a_source_computing_in_its_thread() -> None:
    """A cancelled task does not stop the thread computing a source. Stop must wait for it:
    the agent closes its database right after, and a source still reading it logged
    "Cannot operate on a closed database" at every shutdown that landed mid-evaluation."""
    store = rich_store()
    events: list[str] = []

    def slow_policy() -> Iterator[Sample]:
        events.append("reading")
        time.sleep(0.5)
        events.append("read")
        yield sample(EDGE, 1.0, target="policy", text="level")

    async def run() -> None:
        cache = MetricsCache(store, "s")
        store.add_source(slow_policy, every=3600)
        cache.start()
        for _ in range(100):  # until the evaluation is under way in its thread
            if events:
                break
            await asyncio.sleep(0.01)
        await cache.stop()
        events.append("stopped")

    asyncio.run(run())
    assert events == ["reading", "read", "stopped"]


def test_stopping_right_after_a_change_does_not_wait_for_the_next_source() -> None:
    """The background task sleeps until a source is due (up to a minute). A change that wakes
    it just as the agent stops must not swallow the stop (asyncio.wait_for on 3.11 could):
    stop returns at once, every time."""

    store = rich_store()
    store.add_source(lambda: iter(()), every=3600)

    async def run() -> float:
        cache = MetricsCache(store, "s")
        cache.start()
        await asyncio.sleep(0.05)
        worst = 0.0
        for _ in range(30):
            store.changed()  # wakes the task ...
            started = time.perf_counter()
            await asyncio.ensure_future(cache.stop())  # ... as the stop lands
            worst = max(worst, time.perf_counter() - started)
            cache.start()
            await asyncio.sleep(0)
        await cache.stop()
        return worst

    import threading

    worst: list[float] = []
    runner = threading.Thread(target=lambda: worst.append(asyncio.run(run())), daemon=True)
    runner.start()
    runner.join(30)  # a swallowed cancel hangs the stop for good: fail, do not hang the suite
    assert not runner.is_alive(), "MetricsCache.stop() hung"
    assert worst[0] < 1.0, worst
