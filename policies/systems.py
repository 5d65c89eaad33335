"""``upkeep_system_up{system}``: a system's state from the latest readings of its checks.

A check ``KIND:TARGET`` is up when that target's latest reading is ok; ``service:NAME`` is
the host collector's service check of that name (``reading.info["services"][NAME]``). A check
without a reading yet (or a service the host reading does not report) is unknown.

``rule: any`` - the system is down as soon as one check is down, up when every check is up.
``rule: all`` - down only when every check is down, up as soon as one is up.
Otherwise the state is unknown (None): no sample, which the detector treats as a gap, never
as "up" (a missing signal must not read as availability).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from upkeep.config.systems import SystemConfig, split_check
from upkeep.reading import Reading

HOST_TARGET = ("host", "localhost")

Lookup = Callable[[str, str], Reading | None]


def check_up(check: str, latest: Lookup) -> bool | None:
    kind, target = split_check(check)
    if kind == "service":
        host = latest(*HOST_TARGET)
        if host is None or not host.ok:
            return None
        value = dict(host.info.get("services") or {}).get(target)
        return None if value is None else bool(value)
    reading = latest(kind, target)
    return None if reading is None else reading.ok


def combine(rule: str, states: Iterable[bool | None]) -> bool | None:
    values = list(states)
    if rule == "all":
        if any(v is True for v in values):
            return True
        return False if values and all(v is False for v in values) else None
    if any(v is False for v in values):
        return False
    return True if values and all(v is True for v in values) else None


def system_up(system: SystemConfig, latest: Lookup) -> bool | None:
    return combine(system.rule, (check_up(c, latest) for c in system.checks))


def watches(system: SystemConfig, reading: Reading) -> bool:
    """Does a new ``reading`` bear on ``system``?"""
    for check in system.checks:
        kind, target = split_check(check)
        if kind == "service" and reading.key == HOST_TARGET:
            return True
        if (kind, target) == reading.key:
            return True
    return False
