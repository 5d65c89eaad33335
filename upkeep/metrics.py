"""Metric specifications and samples: the vocabulary between collectors and exposition.

Collectors declare every metric they can produce once, at import time, with ``declare``;
a second declaration of the same name raises (like client_python's registry refusing
duplicates). A ``Reading`` carries ``Sample``s that name a declared metric. The agent's
exposition code turns them into Prometheus families, and ``docs/metrics.md`` is generated
from ``METRICS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

MetricType = Literal["gauge", "counter"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric family: its full name, type, help text, label names and unit."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    room: str = "core"
    #: the blackbox_exporter / node_exporter / nut_exporter counterpart, for docs/metrics.md
    counterpart: str = ""

    def __post_init__(self) -> None:
        if not self.name.startswith(("upkeep_", "node_")):
            raise ValueError(f"metric {self.name!r} lacks the upkeep_ prefix")
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r} must end in _total")
        object.__setattr__(self, "label_set", frozenset(self.labels))
        object.__setattr__(self, "sorted_labels", tuple(sorted(self.labels)))

    #: ``labels`` as a set, made once: ``sample`` checks every sample's label names against it
    label_set: frozenset[str] = field(init=False, repr=False, compare=False)
    #: ``labels`` in the order the exposition writes them
    sorted_labels: tuple[str, ...] = field(init=False, repr=False, compare=False)


METRICS: dict[str, MetricSpec] = {}


def declare(spec: MetricSpec) -> MetricSpec:
    """Register ``spec``; a duplicate name is a programming error."""
    if spec.name in METRICS:
        raise ValueError(f"metric {spec.name!r} declared twice")
    METRICS[spec.name] = spec
    return spec


def gauge(name: str, help: str, labels: Iterable[str] = (), *, unit: str = "",
          room: str = "core", counterpart: str = "") -> MetricSpec:
    return declare(MetricSpec(name, "gauge", help, tuple(labels), unit, room, counterpart))


def counter(name: str, help: str, labels: Iterable[str] = (), *, unit: str = "",
            room: str = "core", counterpart: str = "") -> MetricSpec:
    return declare(MetricSpec(name, "counter", help, tuple(labels), unit, room, counterpart))


class Sample(NamedTuple):
    """One value of a declared metric. ``labels`` must name exactly the spec's labels.

    A named tuple, not a dataclass: a 500-UPS agent holds ~35,000 samples, and a tuple of a
    string, a float and a dict of strings is dropped from the cyclic garbage collector's
    sight after its first collection, where a dataclass instance stays: full collections
    scanned 52,000 objects (52 ms pauses of the event loop, bench/RESULTS.md), two thirds of
    them samples."""

    metric: str
    value: float
    labels: Mapping[str, str] = {}  # noqa: RUF012 - a tuple field; never mutated


_new_tuple = tuple.__new__


def sample(spec: MetricSpec, value: float, **labels: str) -> Sample:
    """Build a sample for ``spec``, checking the label names (cheap, catches typos early).

    A 500-UPS agent makes ~2,000 samples a second, so this is written for speed: half the
    time of ``labels.keys() != spec.label_set`` and the named tuple's own constructor."""
    if len(labels) != len(spec.labels) or not spec.label_set.issuperset(labels):
        raise ValueError(f"{spec.name}: labels {sorted(labels)} != declared {sorted(spec.labels)}")
    return _new_tuple(Sample, (spec.name, float(value), labels))


def fast_sample(spec: MetricSpec, value: float, labels: dict[str, str]) -> Sample:
    """``sample`` without the label check, for code whose label names are fixed in its text
    (the UPS model's ~45 samples a poll); tests/agents/test_exposition.py checks every sample
    of the rich state against its spec instead."""
    return _new_tuple(Sample, (spec.name, float(value), labels))
