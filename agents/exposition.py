"""Readings -> Prometheus exposition, rendered lazily from pre-formatted fragments.

A scrape never collects, and a render costs what changed, not readings x targets:

- each target's samples (its reading plus ``upkeep_up`` & co.) are formatted into sample
  lines once, in a batch shortly after the reading arrived (a running agent renders ahead,
  so a scrape does not wait for it) or else by the next scrape, and kept per metric family;
- each family's lines for all targets are joined again only when one of its targets changed;
- a scrape joins the family blocks behind their ``# HELP``/``# TYPE`` headers in the format it
  asked for (text 0.0.4 or OpenMetrics) and gzips only when the scraper accepts gzip, in
  chunks of families compressed again only when they changed (``DeflatedFamilies``), the
  families that keep changing first and apart; the answers are cached until the next
  change;
- sources computed from the agent's own data (events, KPI, checklist, assets, notify) are
  re-evaluated only when their owner says their inputs changed or their own interval passed
  (``StateStore.add_source(every=...)``), never on every render.

The sample lines are byte-for-byte what prometheus_client's encoders write (labels sorted by
name, the same escaping, Go's float formatting); tests/agents/test_exposition.py parses both
and compares every family, label and value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
import threading
import time
import zlib
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from upkeep import __version__
from upkeep.agents.store import MetricSource, StateStore, TargetState
from upkeep.errors import Reason
from upkeep.metrics import METRICS, MetricSpec, Sample, gauge, sample
from upkeep.reading import Reading

log = logging.getLogger(__name__)

UP = gauge("upkeep_up", "1 when the last poll of the target succeeded, else 0.",
           ("kind", "target"), counterpart="up / probe_success")
LAST_SUCCESS = gauge("upkeep_last_success_timestamp_seconds",
                     "Unix time of the target's last successful poll.", ("kind", "target"),
                     unit="seconds")
POLL_DURATION = gauge("upkeep_poll_duration_seconds", "Duration of the target's last poll.",
                      ("kind", "target"), unit="seconds", counterpart="probe_duration_seconds")
POLL_ERROR = gauge("upkeep_poll_error", "1 for the reason the target's last poll failed "
                   "(also in a failed /probe answer).", ("kind", "target", "reason"),
                   counterpart="blackbox_exporter's debug log (?debug=true) next to "
                               "probe_success 0")
BUILD_INFO = gauge("upkeep_build_info", "Always 1; the agent's version.", ("version",))
AGENT_INFO = gauge("upkeep_agent_info", "Always 1; the site this agent is configured for.",
                   ("site",))
RENDER_SECONDS = gauge("upkeep_exposition_render_seconds",
                       "How long the last render of /metrics took (new readings are rendered "
                       "in batches as they arrive, or by the scrape that finds them).",
                       unit="seconds")

TEXT_004 = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

#: fragments: metric family name -> its sample lines, already encoded
Fragments = dict[str, bytes]


def target_samples(state: TargetState) -> Iterator[Sample]:
    """A target's own series (freshness, errors) followed by what its reading carries."""
    r = state.latest
    yield sample(UP, 1 if r.ok else 0, kind=r.kind, target=r.target)
    yield sample(POLL_DURATION, r.duration, kind=r.kind, target=r.target)
    if state.last_success is not None:
        yield sample(LAST_SUCCESS, state.last_success, kind=r.kind, target=r.target)
    if not r.ok:
        yield sample(POLL_ERROR, 1, kind=r.kind, target=r.target, reason=r.reason or Reason.ERROR)
    yield from r.samples


def agent_samples(site: str, render_seconds: float) -> Iterator[Sample]:
    yield sample(BUILD_INFO, 1, version=__version__)
    yield sample(AGENT_INFO, 1, site=site)
    yield sample(RENDER_SECONDS, render_seconds)


def _spec(name: str) -> MetricSpec:
    return METRICS.get(name) or MetricSpec(name, "gauge", "undeclared metric")


def go_float(value: float) -> str:
    """A float as Go (and so prometheus_client.utils.floatToGoString) writes it."""
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+0{dot - 1}"
    return text


def _escape_value(value: str) -> str:
    if "\\" not in value and "\n" not in value and '"' not in value:
        return value
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def fragments(samples: Iterable[Sample]) -> Fragments:
    """Format samples into sample lines grouped by family. A duplicate series keeps its first
    place and its last value (as the reference encoder's grouping does)."""
    grouped: dict[str, dict[tuple[str, ...], str]] = {}
    for s in samples:
        spec = METRICS.get(s.metric)
        names = spec.sorted_labels if spec is not None else tuple(sorted(s.labels))
        key = tuple(s.labels[n] for n in names)
        if names:
            labels = ",".join(f'{n}="{_escape_value(v)}"' for n, v in zip(names, key, strict=True))
            line = f"{s.metric}{{{labels}}} {go_float(s.value)}\n"
        else:
            line = f"{s.metric} {go_float(s.value)}\n"
        grouped.setdefault(s.metric, {})[key] = line
    return {name: "".join(lines.values()).encode() for name, lines in grouped.items()}


def refragment(samples: list[Sample], before: list[Sample], made: Fragments) -> Fragments:
    """``fragments(samples)``, given that ``made`` is ``fragments(before)``: a family whose
    samples are all the same as before (metric, labels and value, in the same places) keeps
    its lines, and only the others are formatted. A UPS poll changes a few of its ~45
    values (duration, last success, a voltage), so most of the escaping, sorting and float
    formatting is saved, and nothing is kept but the previous samples the part holds anyway."""
    if len(samples) != len(before):
        return fragments(samples)
    changed: set[str] = set()
    for new, old in zip(samples, before, strict=True):
        if new.metric != old.metric:
            return fragments(samples)  # another shape (an error appeared): all anew
        if new.value != old.value or new.labels != old.labels or (
                not new.value and str(new.value) != str(old.value)):  # 0.0 vs -0.0
            changed.add(new.metric)  # (NaN != NaN: always written anew)
    if not changed:
        return made
    return {**made, **fragments([s for s in samples if s.metric in changed])}


_HEADERS: dict[tuple[str, bool], bytes] = {}


def family_header(name: str, openmetrics: bool) -> bytes:
    """``# HELP``/``# TYPE`` of a family as prometheus_client writes them in each format."""
    cached = _HEADERS.get((name, openmetrics))
    if cached is not None:
        return cached
    spec = _spec(name)
    family = spec.name.removesuffix("_total") if spec.type == "counter" else spec.name
    if openmetrics:
        help_text = spec.help.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
        header = f"# HELP {family} {help_text}\n# TYPE {family} {spec.type}\n"
    else:
        exposed = f"{family}_total" if spec.type == "counter" else family
        help_text = spec.help.replace("\\", r"\\").replace("\n", r"\n")
        header = f"# HELP {exposed} {help_text}\n# TYPE {exposed} {spec.type}\n"
    _HEADERS[(name, openmetrics)] = encoded = header.encode()
    return encoded


def join(families: dict[str, bytes], openmetrics: bool,
         order: Sequence[str] | None = None) -> bytes:
    """Whole exposition from each family's joined sample lines, families in ``order``
    (default: sorted by name; the text formats let families come in any order)."""
    out = []
    for name in order if order is not None else sorted(families):
        body = families[name]
        if body:
            out.append(family_header(name, openmetrics))
            out.append(body)
    if openmetrics:
        out.append(b"# EOF\n")
    return b"".join(out)


def render_samples(samples: Iterable[Sample], openmetrics: bool = False) -> bytes:
    """One-shot rendering (``/probe``): the same encoder, without a cache."""
    return join(fragments(samples), openmetrics)


#: gzip's member header (RFC 1952): deflate, no name or time, "fastest", unknown OS
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
#: the last deflate block: final, fixed Huffman codes, nothing but the end-of-block code
_DEFLATE_END = b"\x03\x00"


def deflate_piece(*data: bytes) -> bytes:
    """``data`` as deflate blocks that stand alone: compressed without any earlier text as
    dictionary and ended by a sync flush (byte-aligned, not final). Such pieces concatenated
    in any order, followed by ``_DEFLATE_END``, form one valid deflate stream (as pigz builds
    its parallel streams)."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    return b"".join([*(compressor.compress(d) for d in data),
                     compressor.flush(zlib.Z_SYNC_FLUSH)])


class DeflatedFamilies:
    """The gzipped exposition, compressed in chunks of families and re-compressed only where
    it changed.

    A poll changes a few families of its target (its poll duration, last success, a
    voltage), so a scrape after 40 polls of 700 targets changes a handful of the ~90
    families, and compressing the whole ~1.3 MB anew each time cost 4-5 ms of the render.
    Here consecutive families (headers and lines) are grouped into chunks of at least
    ``CHUNK_BYTES`` of text, each a stand-alone deflate piece kept while its families' lines
    are the same. Chunks, not single families: a piece per family doubled a branch agent's
    gzipped scrape (9.5 KB against 4.6 KB whole), as every piece starts without the text
    before it. The answer is one ordinary gzip member (one deflate stream), which every
    client reads, with the CRC-32 taken over the text as usual."""

    #: the least text per piece: an agent of a few targets is one piece, compressed as a whole
    CHUNK_BYTES = 64 * 1024

    def __init__(self) -> None:
        #: (family names, format, ends with "# EOF") -> (their lines, the deflate piece)
        self._pieces: dict[tuple[tuple[str, ...], bool, bool],
                           tuple[tuple[bytes, ...], bytes]] = {}
        #: the families the last answer compressed anew (tests read it)
        self.compressed: list[str] = []

    def gzip(self, families: dict[str, bytes], openmetrics: bool,
             groups: Sequence[Sequence[str]] | None = None) -> bytes:
        """``families`` in the order of ``groups`` (default: one group, sorted by name); a
        chunk never spans two groups, so a group's chunks stay the same whatever the sizes
        of the groups before it."""
        out = [_GZIP_HEADER]
        crc = size = 0
        kept: dict[tuple[tuple[str, ...], bool, bool], tuple[tuple[bytes, ...], bytes]] = {}
        self.compressed = []
        chunk: list[str] = []
        texts: list[bytes] = []
        filled = 0  # text in the chunk so far
        present = [[name for name in group if families[name]]
                   for group in ([sorted(families)] if groups is None else groups)]
        names = [name for group in present for name in group]
        ends_group = {group[-1] for group in present if group}  # a chunk ends there too
        for i, name in enumerate(names):
            header, body = family_header(name, openmetrics), families[name]
            chunk.append(name)
            texts += [header, body]
            crc = zlib.crc32(body, zlib.crc32(header, crc))
            size += len(header) + len(body)
            filled += len(header) + len(body)
            ends = openmetrics and i == len(names) - 1
            if ends:
                texts.append(b"# EOF\n")
                crc = zlib.crc32(b"# EOF\n", crc)
                size += 6
            if i < len(names) - 1 and filled < self.CHUNK_BYTES and name not in ends_group:
                continue
            key = (tuple(chunk), openmetrics, ends)
            bodies = tuple(families[n] for n in chunk)
            known = self._pieces.get(key)
            if known is None or known[0] != bodies:
                known = (bodies, deflate_piece(*texts))
                self.compressed += chunk
            kept[key] = known
            out.append(known[1])
            chunk, texts, filled = [], [], 0
        if not names and openmetrics:
            out.append(deflate_piece(b"# EOF\n"))
            crc, size = zlib.crc32(b"# EOF\n"), 6
        # the other format's pieces stay: a scraper may ask for both
        self._pieces = {**{k: v for k, v in self._pieces.items() if k[1] != openmetrics},
                        **kept}
        out += [_DEFLATE_END, struct.pack("<II", crc, size & 0xFFFFFFFF)]
        return b"".join(out)


@dataclass
class _Part:
    """The fragments of one target or source, and what they were made from."""

    made_from: object
    fragments: Fragments
    #: the samples the fragments were made from (``refragment`` compares the next ones)
    samples: list[Sample] = field(default_factory=list)
    #: ``MetricsCache.renders`` when made: equal to it until a scrape's render went by
    made_in: int = 0


class MetricsCache:
    """Keeps each target's and source's fragments; renders on a scrape, only if needed."""

    def __init__(self, store: StateStore, site: str) -> None:
        self.store = store
        self.site = site
        self._parts: dict[Hashable, _Part] = {}
        #: family -> part key -> that part's lines of the family (insertion order = output)
        self._by_family: dict[str, dict[Hashable, bytes]] = {}
        self._joined: dict[str, bytes] = {}
        self._dirty: set[str] = set()
        self._outputs: dict[tuple[bool, bool], bytes] = {}
        self._deflated = DeflatedFamilies()
        #: the formats asked for so far (the first answer in a format costs a full join)
        self._formats: set[tuple[bool, bool]] = set()
        self._generation = -1
        self._computed_at: dict[int, float] = {}
        #: family -> the render (``renders``) whose answer first had its new lines
        self._changed_at: dict[str, int] = {}
        #: a render ahead of the next scrape is scheduled for these targets (see
        #: ``_reading_arrived``)
        self._ahead: asyncio.TimerHandle | None = None
        self._pending: set[tuple[str, str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._lock = threading.Lock()
        self.last_render_seconds = 0.0
        self.renders = 0
        #: with a running agent, sources on a schedule are computed by a background task, so
        #: a scrape never waits for a checklist or KPI evaluation (tests call ``current``
        #: without one: then they are computed in the render, as due)
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        #: held by the thread computing a scheduled source: a cancelled task does not stop
        #: that thread, so ``stop`` waits on this before the agent closes what it reads
        self._computing = threading.Lock()

    # --- public ----------------------------------------------------------------------------
    def current(self, *, openmetrics: bool = False, gzipped: bool = False) -> bytes:
        """The exposition in the asked format; renders first if anything changed."""
        with self._lock:
            if self._needs_render():
                self._outputs.clear()
                self._update()
            key = (openmetrics, gzipped)
            body = self._outputs.get(key)
            if body is None:
                families = self._families()
                groups = self._by_volatility(families)
                body = (self._deflated.gzip(families, openmetrics, groups) if gzipped
                        else join(families, openmetrics, [n for g in groups for n in g]))
                self._outputs[key] = body
                self._formats.add(key)
            return body

    def cached(self, *, openmetrics: bool = False, gzipped: bool = False) -> bool:
        """True when ``current`` would answer from cache, without rendering or compressing."""
        with self._lock:
            return self._answered((openmetrics, gzipped))

    def _answered(self, key: tuple[bool, bool]) -> bool:
        return key in self._outputs and not self._needs_render()

    #: a render after at most this many new readings is "small" (see ``quick``)
    QUICK_READINGS = 100

    def quick(self, *, openmetrics: bool = False, gzipped: bool = False) -> bool:
        """True when ``current`` answers from cache or after a small render: at most
        ``QUICK_READINGS`` readings since the last one, scheduled sources computed in the
        background (those with ``every`` 0 are cheap by contract, as the poll lateness), the
        format already rendered once. Such a render costs a few ms (each new
        reading's changed families, the joins, their deflate pieces), less than handing it
        to a thread that must then win the GIL back from the busy event loop; the first
        render, a reload or a flood of readings still go to a thread."""
        key = (openmetrics, gzipped)
        with self._lock:
            return self._answered(key) or (
                self._task is not None and self._generation >= 0
                and self.store.generation - self._generation <= self.QUICK_READINGS
                and key in self._formats)

    # --- rendering -------------------------------------------------------------------------
    def _needs_render(self) -> bool:
        if self._generation != self.store.generation:
            return True
        if self._task is not None:  # the background task brings scheduled sources
            return any(s.every <= 0 and s.stale for s in self.store.sources())
        now = time.monotonic()
        return any(s.stale or now - self._computed_at.get(id(s), -1e18) >= s.every > 0
                   for s in self.store.sources())

    def _update(self) -> None:
        started = time.perf_counter()
        generation = self.store.generation
        present = 0
        # a target's key is the store's (kind, name); a source's is ("source", id): an int
        targets = self.store.items()
        for target, state in targets:
            present += 1
            part = self._parts.get(target)
            if part is None or part.made_from is not state:
                self._set(target, state, *self._refragment(part, list(target_samples(state))))
        now = time.monotonic()
        sources = self.store.sources()
        for source in sources:
            key: Hashable = ("source", id(source))
            known = key in self._parts
            present += known
            if self._task is not None and source.every > 0:
                continue  # computed in the background (its fragments stay until replaced)
            if known and not self._source_due(source, now):
                continue
            source.stale = False
            self._computed_at[id(source)] = now
            self._set(key, source, *self._fragments_of(source))
            present += not known
        if len(self._parts) > present:  # a target or source went away: drop its lines
            current = {*(t for t, _ in targets), *(("source", id(s)) for s in sources)}
            for gone in [k for k in self._parts if k not in current]:
                self._set(gone, None, {}, [])
                del self._parts[gone]
        self._computed_at = {k: v for k, v in self._computed_at.items()
                             if ("source", k) in self._parts}
        self._generation = generation
        self.renders += 1
        self.last_render_seconds = time.perf_counter() - started

    def _source_due(self, source: MetricSource, now: float) -> bool:
        if source.stale or source.every <= 0:
            return True
        return now - self._computed_at.get(id(source), -1e18) >= source.every

    def _fragments_of(self, source: MetricSource) -> tuple[Fragments, list[Sample]]:
        return self._refragment(self._parts.get(("source", id(source))), self._compute(source))

    @staticmethod
    def _refragment(part: _Part | None, samples: list[Sample]) -> tuple[Fragments, list[Sample]]:
        if part is None:
            return fragments(samples), samples
        return refragment(samples, part.samples, part.fragments), samples

    @staticmethod
    def _compute(source: MetricSource) -> list[Sample]:
        try:
            return list(source.compute())
        except Exception:  # one broken source must not blank the whole scrape
            log.exception("metric source %r failed", source.compute)
            return []

    def _set(self, key: Hashable, made_from: object, new: Fragments,
             samples: list[Sample]) -> None:
        old = self._parts.get(key)
        if old is not None:
            for family in old.fragments.keys() - new.keys():
                self._by_family[family].pop(key, None)
                self._dirty.add(family)
        for family, lines in new.items():
            block = self._by_family.setdefault(family, {})
            if old is None or old.fragments.get(family) != lines:
                block[key] = lines
                self._dirty.add(family)
        self._parts[key] = _Part(made_from, new, samples, self.renders)

    def _families(self) -> dict[str, bytes]:
        for family in self._dirty:
            block = self._by_family.get(family)
            self._changed_at[family] = self.renders
            if block:
                self._joined[family] = b"".join(block.values())
            else:
                self._joined.pop(family, None)
                self._by_family.pop(family, None)
                self._changed_at.pop(family, None)
        self._dirty.clear()
        agent = fragments(agent_samples(self.site, self.last_render_seconds))
        return {**self._joined, **agent}

    #: a family that changed within this many renders counts as volatile
    VOLATILE_RENDERS = 5

    def _by_volatility(self, families: dict[str, bytes]) -> tuple[list[str], list[str]]:
        """The families that keep changing (poll durations, last success, the agent's own),
        then the rest, each part sorted by name.

        The gzipped answer is compressed in chunks kept while their text stays the same
        (``DeflatedFamilies``); in name order, the few families that change on every poll
        sit in most chunks, so nearly the whole text (2.2 MB for 500 UPS and 200 websites)
        was compressed again for every scrape. Grouped, a scrape compresses the changing
        part only. Within one render every format gets the same order."""
        volatile: list[str] = []
        steady: list[str] = []
        never, now = -self.VOLATILE_RENDERS, self.renders
        for name in sorted(families):
            # the agent's own families (not in _joined) are made anew by every render
            changed = self._changed_at.get(name, never if name in self._joined else now)
            (volatile if now - changed < self.VOLATILE_RENDERS else steady).append(name)
        return volatile, steady

    # --- scheduled sources in the background ---------------------------------------------
    #: the longest the background task sleeps when no source is due sooner
    IDLE = 60.0
    #: the longest ``stop`` waits for a source computing in its thread
    STOP_WAIT = 5.0

    def start(self) -> None:
        """Compute scheduled sources off the scrape path from now on (needs a running loop)."""
        loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        wakeup = self._wakeup

        def changed() -> None:  # a source marked stale is recomputed now, not when due
            loop.call_soon_threadsafe(wakeup.set)

        self.store.on_change(changed)
        self._loop, self._loop_thread = loop, threading.get_ident()
        self.store.subscribe(self._reading_arrived)
        self._task = loop.create_task(self._run(), name="metric-sources")

    #: how long after a reading the render ahead waits for more (one render per batch).
    #: Measured (bench/RESULTS.md, seventh pass): with 500 UPS and 200 websites scraped every
    #: second, 0.25 s took the p99 of /metrics from 24 to 11 ms; CPU per SNMP poll at 400 UPS
    #: was 1.10 ms (1.06 without rendering ahead, 1.23 at 0.1 s, 1.21 at 0.5 s: single runs
    #: that differ by up to 0.1 ms on their own)
    AHEAD_DELAY = 0.25

    def _reading_arrived(self, previous: object, reading: Reading) -> None:
        """Format a new reading's lines soon after it arrives, on the event loop, so that a
        scrape finds them made and only joins and compresses (the scrape latency of a
        500-UPS agent was mostly this formatting). Batched every ``AHEAD_DELAY``; only the
        targets that arrived, and no work a scrape would not do: a target formatted ahead
        once waits for the next scrape if it is polled again before it (polls faster than
        scrapes would otherwise format readings nobody sees)."""
        if self._loop is None or threading.get_ident() != self._loop_thread:
            return  # from another thread (an API import): the next scrape formats it
        self._pending.add(reading.key)
        if self._ahead is None:
            self._ahead = self._loop.call_later(self.AHEAD_DELAY, self._render_ahead)

    def _render_ahead(self) -> None:
        self._ahead = None
        pending, self._pending = self._pending, set()
        if self._generation < 0 or not self._lock.acquire(blocking=False):
            return  # the first render, or a scrape rendering now: the scrape takes them
        try:
            for key in pending:
                state = self.store.get(*key)
                part = self._parts.get(key)
                if state is None or part is not None and (
                        part.made_from is state or part.made_in == self.renders):
                    continue
                self._set(key, state, *self._refragment(part, list(target_samples(state))))
        finally:
            self._lock.release()

    async def _run(self) -> None:
        """Recompute each scheduled source when it is due or marked stale, else sleep.

        The task wakes only for that: an idle agent spends no CPU here between sources."""
        assert self._wakeup is not None
        while True:
            self._wakeup.clear()
            now = time.monotonic()
            for source in self.store.sources():
                if source.every > 0 and (("source", id(source)) not in self._parts
                                         or self._source_due(source, now)):
                    source.stale = False  # a change while computing marks it again
                    found, samples = await asyncio.to_thread(self._compute_alone, source)
                    with self._lock:
                        if any(s is source for s in self.store.sources()):
                            self._computed_at[id(source)] = time.monotonic()
                            self._set(("source", id(source)), source, found, samples)
                            self._outputs.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands
            # just as the event is set, and stop() would then wait for the next due source
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._next_due()):
                    await self._wakeup.wait()

    def _compute_alone(self, source: MetricSource) -> tuple[Fragments, list[Sample]]:
        with self._computing:
            return self._fragments_of(source)

    def _next_due(self) -> float:
        """Seconds until the next scheduled source is due (at most ``IDLE``)."""
        now = time.monotonic()
        due = [self._computed_at.get(id(s), now) + s.every - now
               for s in self.store.sources() if s.every > 0]
        return max(0.0, min([self.IDLE, *due]))

    async def stop(self) -> None:
        self.store.on_change(None)
        self.store.unsubscribe(self._reading_arrived)
        if self._ahead is not None:
            self._ahead.cancel()
            self._ahead = None
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            # the thread of a source computed as the task was cancelled may still be reading
            # the agent's database, which is closed next ("Cannot operate on a closed
            # database" in the log): let it finish, within a bound
            if not await asyncio.to_thread(self._computing.acquire, timeout=self.STOP_WAIT):
                log.warning("a metric source still computing after %gs at stop",
                            self.STOP_WAIT)
            else:
                self._computing.release()
        with self._lock:
            self._outputs.clear()
