"""The one UPS metric model, whatever the source (NUT or SNMP).

Sources parse what their protocol gives them into a ``UpsSnapshot`` (base units: ratios 0-1,
seconds, volts, hertz, watts, Unix timestamps); ``ups_samples`` turns a snapshot into the
metric families promised to dashboards and alert rules. Nothing here does I/O.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from upkeep.metrics import Sample, fast_sample, gauge
from upkeep.readings import UpsInfo

_R = "ups"

#: every flag always exported as 0/1 (NUT ups.status tokens)
STATUS_FLAGS = ("OL", "OB", "LB", "HB", "RB", "CHRG", "DISCHRG", "BYPASS", "CAL", "OFF", "OVER",
                "TRIM", "BOOST", "FSD", "ALARM")
SELFTEST_RESULTS = ("passed", "warning", "failed", "aborted", "in_progress", "none", "unknown")

UPS_INFO = gauge("upkeep_ups_info", "Always 1; identity of the UPS.",
                 ("ups", "source", "mfr", "model", "serial", "firmware"), room=_R,
                 counterpart="network_ups_tools_device_info")
UPS_STATUS = gauge("upkeep_ups_status", "1 when the UPS reports the status flag, else 0 "
                   "(all standard flags always present; unknown tokens kept).",
                   ("ups", "flag"), room=_R, counterpart="network_ups_tools_ups_status")
BATTERY_CHARGE = gauge("upkeep_ups_battery_charge_ratio", "Battery charge, 0-1.", ("ups",),
                       room=_R, counterpart="network_ups_tools_battery_charge / 100")
BATTERY_RUNTIME = gauge("upkeep_ups_battery_runtime_seconds", "Estimated runtime on battery.",
                        ("ups",), unit="seconds", room=_R,
                        counterpart="network_ups_tools_battery_runtime")
BATTERY_RUNTIME_LOW = gauge("upkeep_ups_battery_runtime_low_seconds",
                            "Runtime below which the UPS signals low battery.", ("ups",),
                            unit="seconds", room=_R)
LOAD = gauge("upkeep_ups_load_ratio", "Output load, 0-1 (above 1 is overload).", ("ups",),
             room=_R, counterpart="network_ups_tools_ups_load / 100")
INPUT_VOLTAGE = gauge("upkeep_ups_input_voltage_volts", "Input voltage.", ("ups",), unit="volts",
                      room=_R)
OUTPUT_VOLTAGE = gauge("upkeep_ups_output_voltage_volts", "Output voltage.", ("ups",),
                       unit="volts", room=_R)
INPUT_FREQUENCY = gauge("upkeep_ups_input_frequency_hertz", "Input frequency.", ("ups",),
                        unit="hertz", room=_R)
BATTERY_VOLTAGE = gauge("upkeep_ups_battery_voltage_volts", "Battery voltage.", ("ups",),
                        unit="volts", room=_R)
TEMPERATURE = gauge("upkeep_ups_temperature_celsius", "Temperature by sensor.", ("ups", "sensor"),
                    unit="celsius", room=_R)
REALPOWER = gauge("upkeep_ups_realpower_watts", "Real output power.", ("ups",), unit="watts",
                  room=_R)
BATTERY_INSTALLED = gauge("upkeep_ups_battery_installed_timestamp_seconds",
                          "When the battery was installed (absent when unknown or a placeholder).",
                          ("ups",), unit="seconds", room=_R)
BATTERY_MANUFACTURED = gauge("upkeep_ups_battery_manufactured_timestamp_seconds",
                             "When the battery was manufactured.", ("ups",), unit="seconds",
                             room=_R)
UPS_MANUFACTURED = gauge("upkeep_ups_manufactured_timestamp_seconds",
                         "When the UPS unit was manufactured.", ("ups",), unit="seconds", room=_R)
REPLACE_NEEDED = gauge("upkeep_ups_battery_replace_needed",
                       "1 when the UPS asks for a battery replacement (RB flag, APC replace "
                       "indicator, UPS-MIB battery-bad alarm).", ("ups",), room=_R)
SELFTEST_RESULT = gauge("upkeep_ups_selftest_result", "1 for the result of the last self-test.",
                        ("ups", "result"), room=_R)
SELFTEST_TIME = gauge("upkeep_ups_selftest_last_timestamp_seconds",
                      "When the last self-test ran, where the UPS tells.", ("ups",),
                      unit="seconds", room=_R)
ALARM = gauge("upkeep_ups_alarm", "1 for each alarm the UPS reports, decoded by name.",
              ("ups", "alarm"), room=_R)
NUT_VARIABLE = gauge("upkeep_nut_variable", "Every numeric NUT variable, as reported.",
                     ("ups", "variable"), room=_R)


@dataclass
class UpsSnapshot:
    """What one poll saw of one UPS, in base units. ``None`` means "not reported"."""

    name: str
    source: str  # "nut" or "snmp"
    mfr: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    status: tuple[str, ...] = ()  # status tokens, e.g. ("OL", "CHRG")
    battery_charge: float | None = None  # ratio
    battery_runtime: float | None = None  # seconds
    battery_runtime_low: float | None = None
    load: float | None = None  # ratio
    input_voltage: float | None = None
    output_voltage: float | None = None
    input_frequency: float | None = None
    battery_voltage: float | None = None
    realpower: float | None = None
    temperatures: dict[str, float] = field(default_factory=dict)  # sensor -> celsius
    battery_installed: float | None = None  # unix time
    battery_manufactured: float | None = None
    ups_manufactured: float | None = None
    replace_needed: bool | None = None
    selftest_result: str | None = None  # one of SELFTEST_RESULTS
    selftest_time: float | None = None
    alarms: tuple[str, ...] = ()
    variables: dict[str, float] = field(default_factory=dict)  # NUT: every numeric variable
    raw: dict[str, str] = field(default_factory=dict)  # everything as reported (API / UI)


def summary(snap: UpsSnapshot, now: float | None = None) -> str:
    """One line for ``upkeep probe`` and the UI: state, charge, runtime, load, battery age.

    The same wording whatever the source: a NUT and an SNMP reading of one state read alike.
    """
    flags = set(snap.status)
    if "FSD" in flags:
        state = "forced shutdown"
    elif "OB" in flags:
        state = "ON BATTERY" + (", LOW" if "LB" in flags else "")
    elif "OL" in flags:
        state = "on line"
    else:
        state = "state unknown"
    parts = [f"{state} ({' '.join(snap.status) or '-'})"]
    if snap.battery_charge is not None:
        parts.append(f"charge {snap.battery_charge:.0%}")
    if snap.battery_runtime is not None:
        parts.append(f"runtime {snap.battery_runtime / 60:.0f} min")
    if snap.load is not None:
        parts.append(f"load {snap.load:.0%}")
    now = time.time() if now is None else now
    born = snap.battery_installed or snap.battery_manufactured
    if born is not None:
        parts.append(f"battery {(now - born) / (365.25 * 86400):.1f} y old")
    else:
        parts.append("battery age unknown")
    if snap.replace_needed:
        parts.append("REPLACE BATTERY")
    return ", ".join(parts)


def ups_samples(s: UpsSnapshot) -> Iterator[Sample]:
    # fast_sample: the label names are fixed here (checked by tests/agents/test_exposition.py)
    ups = s.name
    yield fast_sample(UPS_INFO, 1, {"ups": ups, "source": s.source, "mfr": s.mfr,
                                    "model": s.model, "serial": s.serial,
                                    "firmware": s.firmware})
    flags = set(s.status)
    for flag in STATUS_FLAGS:
        yield fast_sample(UPS_STATUS, 1 if flag in flags else 0, {"ups": ups, "flag": flag})
    for token in sorted(flags - set(STATUS_FLAGS)):
        yield fast_sample(UPS_STATUS, 1, {"ups": ups, "flag": token})
    for spec, value in ((BATTERY_CHARGE, s.battery_charge), (BATTERY_RUNTIME, s.battery_runtime),
                        (BATTERY_RUNTIME_LOW, s.battery_runtime_low), (LOAD, s.load),
                        (INPUT_VOLTAGE, s.input_voltage), (OUTPUT_VOLTAGE, s.output_voltage),
                        (INPUT_FREQUENCY, s.input_frequency),
                        (BATTERY_VOLTAGE, s.battery_voltage), (REALPOWER, s.realpower),
                        (BATTERY_INSTALLED, s.battery_installed),
                        (BATTERY_MANUFACTURED, s.battery_manufactured),
                        (UPS_MANUFACTURED, s.ups_manufactured),
                        (SELFTEST_TIME, s.selftest_time)):
        if value is not None:
            yield fast_sample(spec, value, {"ups": ups})
    for sensor, celsius in sorted(s.temperatures.items()):
        yield fast_sample(TEMPERATURE, celsius, {"ups": ups, "sensor": sensor})
    replace = bool(s.replace_needed) or "RB" in flags
    yield fast_sample(REPLACE_NEEDED, 1 if replace else 0, {"ups": ups})
    result = s.selftest_result or "unknown"
    for name in SELFTEST_RESULTS:
        yield fast_sample(SELFTEST_RESULT, 1 if name == result else 0,
                          {"ups": ups, "result": name})
    for alarm in sorted(set(s.alarms)):
        yield fast_sample(ALARM, 1, {"ups": ups, "alarm": alarm})
    for variable, value in sorted(s.variables.items()):
        yield fast_sample(NUT_VARIABLE, value, {"ups": ups, "variable": variable})


# --- dates ----------------------------------------------------------------------------------

#: dates vendors ship as placeholders rather than real facts (APC NMCs report 2001/09/25,
#: their firmware's build date, as the battery date on units made decades later)
PLACEHOLDER_DATES = frozenset({date(2001, 9, 25), date(2000, 1, 1), date(1970, 1, 1),
                               date(1900, 1, 1)})

_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_US = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{2}|\d{4})$")


def parse_ups_date(text: str | None, *, not_before: date | None = None) -> date | None:
    """Parse the date formats real UPS units report; None when unknown or a placeholder.

    ``2019-05-01``, ``2001/09/25`` (year first); ``09/25/01``, ``05/01/2019`` (APC's
    ``mm/dd/yy`` or ``mm/dd/yyyy``; day-first is taken only when the first field is > 12).
    ``not_before`` (e.g. the unit's manufacture date) turns an earlier battery date into
    unknown: a battery cannot be installed before the UPS was made.
    """
    if not text:
        return None
    return _parse_ups_date(text, not_before, datetime.now(UTC).date())


@functools.lru_cache(maxsize=1024)
def _parse_ups_date(text: str, not_before: date | None, today: date) -> date | None:
    """``parse_ups_date`` on a given day, cached: a UPS reports the same dates every poll."""
    value = text.strip()
    parsed: date | None = None
    try:
        if m := _ISO.match(value):
            parsed = date(int(m[1]), int(m[2]), int(m[3]))
        elif m := _US.match(value):
            first, second, year = int(m[1]), int(m[2]), int(m[3])
            if year < 100:
                year += 2000 if year < 70 else 1900
            month, day = (second, first) if first > 12 else (first, second)
            parsed = date(year, month, day)
    except ValueError:
        return None
    if parsed is None or parsed in PLACEHOLDER_DATES or parsed.year < 1980:
        return None
    if parsed > today + timedelta(days=366):  # (a year on, as 29 February has none)
        return None
    if not_before is not None and parsed < not_before:
        return None
    return parsed


def date_timestamp(value: date | None) -> float | None:
    if value is None:
        return None
    return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()


def parse_status(text: str) -> tuple[str, ...]:
    """NUT ``ups.status`` ("OL CHRG", "OB DISCHRG LB") into tokens; junk tokens are kept but
    bounded (at most 32 tokens of at most 32 printable characters each)."""
    tokens = []
    for token in text.split()[:32]:
        clean = "".join(ch for ch in token if ch.isprintable())[:32]
        if clean:
            tokens.append(clean.upper())
    return tuple(dict.fromkeys(tokens))


def selftest_from_text(text: str | None) -> str:
    """NUT ``ups.test.result`` strings into one of SELFTEST_RESULTS."""
    if not text:
        return "unknown"
    t = text.strip().lower()
    if t in ("no test initiated", "none", "no test", "not initiated"):
        return "none"
    if "progress" in t:
        return "in_progress"
    if "abort" in t or "cancel" in t:
        return "aborted"
    if "warn" in t:
        return "warning"
    if "fail" in t or "error" in t or "bad" in t:
        return "failed"
    if "pass" in t or "ok" in t or "done" in t or "success" in t:
        return "passed"
    return "unknown"


def info_from_snapshot(s: UpsSnapshot) -> UpsInfo:
    """The JSON-able view for the API, the UI and the policies (``upkeep.readings``)."""
    return {
        "ups": s.name, "source": s.source, "mfr": s.mfr, "model": s.model, "serial": s.serial,
        "firmware": s.firmware, "status": list(s.status), "battery_charge": s.battery_charge,
        "battery_runtime": s.battery_runtime, "load": s.load,
        "battery_installed": s.battery_installed, "battery_manufactured": s.battery_manufactured,
        "ups_manufactured": s.ups_manufactured, "replace_needed": bool(s.replace_needed)
        or "RB" in s.status, "selftest_result": s.selftest_result or "unknown",
        "alarms": list(s.alarms), "summary": summary(s), "raw": dict(s.raw),
    }
