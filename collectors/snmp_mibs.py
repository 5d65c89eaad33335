"""UPS MIBs as declarative tables, and the pure decoding of what they answer.

Three MIBs, numeric OIDs only (no MIB compilation at run time):

- ``ups-mib``: RFC 1628 UPS-MIB (``mib-2.33``), which most network cards speak;
- ``apc``: APC PowerNet-MIB (``enterprises.318.1.1.1``);
- ``eaton``: Eaton/Powerware XUPS-MIB (``enterprises.534.1``); Eaton Network-MS/M2 cards
  report MGE's sysObjectID (``enterprises.705``) and still answer XUPS.

The I/O layer (``upkeep.collectors.snmp``) GETs every ``Field`` of a profile in as few PDUs as
it can, walks the alarm table when the profile has one, converts gufo-snmp's or pysnmp's
values (``upkeep.collectors.snmp_pysnmp``) to plain Python (``int``, ``bytes``, ``Oid``,
``None`` for noSuchObject/noSuchInstance) and hands them to ``decode``, which returns a ``UpsSnapshot`` in base units. A value of the wrong type is a
``ProtocolError`` (the unit does not speak the MIB we think it does); a value outside its
range (``-1`` for "unknown", a 900 % charge) is treated as not reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from upkeep.collectors.ups_model import UpsSnapshot, date_timestamp, parse_ups_date
from upkeep.errors import ProtocolError

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
APC_ENTERPRISE = "1.3.6.1.4.1.318"
EATON_ENTERPRISE = "1.3.6.1.4.1.534"
MGE_ENTERPRISE = "1.3.6.1.4.1.705"

#: the most alarm-table rows read per poll: a runaway table must not cost memory or time
MAX_ALARM_ROWS = 64
_MAX_TEXT = 256


class Oid(str):
    """An OBJECT IDENTIFIER value (dotted string), distinct from an OCTET STRING."""


Value = int | bytes | Oid | None


@dataclass(frozen=True)
class Field:
    key: str
    oid: str
    #: "int" (any integer type incl. TimeTicks/Gauge32/Counter32), "text" or "oid"
    type: str = "int"


@dataclass(frozen=True)
class MibProfile:
    name: str
    label: str
    fields: tuple[Field, ...]
    #: an object every unit speaking this MIB answers (auto-detection)
    probe: str
    #: the alarm-description column to walk (values are OIDs of well-known alarms)
    alarm_column: str | None
    #: field holding the number of alarms present: the table is walked only when > 0
    alarm_count: str | None
    decode: Callable[[str, Mapping[str, Value], Sequence[Oid], float], UpsSnapshot]
    oids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.oids.update({f.oid: f.key for f in self.fields})


# --- value helpers (type-checked, range-checked) ---------------------------------------------

class _Values:
    """Typed access to one poll's values; remembers what had the wrong type."""

    def __init__(self, profile: str, fields: Sequence[Field], values: Mapping[str, Value]):
        self.profile = profile
        self.types = {f.key: f for f in fields}
        self.values = values
        self.raw: dict[str, str] = {}
        bad = []
        for key, value in values.items():
            spec = self.types.get(key)
            if spec is None or value is None:
                continue
            ok = (isinstance(value, int) if spec.type == "int" else
                  isinstance(value, Oid) if spec.type == "oid" else
                  isinstance(value, bytes))
            if not ok:
                bad.append(f"{key} ({spec.oid}) is {type(value).__name__}, want {spec.type}")
            self.raw[key] = (_text(value) if isinstance(value, bytes) else str(value))
        if bad:
            raise ProtocolError(f"{profile}: wrong value types: {'; '.join(bad[:5])}")

    def int(self, key: str, lo: float | None = None, hi: float | None = None) -> int | None:
        value = self.values.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return None
        return value

    def num(self, key: str, scale: float = 1.0, lo: float | None = None,
            hi: float | None = None) -> float | None:
        value = self.int(key, lo, hi)
        return None if value is None else round(value * scale, 6)

    def text(self, key: str) -> str:
        value = self.values.get(key)
        return _text(value) if isinstance(value, bytes) else ""

    def oid(self, key: str) -> str:
        value = self.values.get(key)
        return str(value) if isinstance(value, Oid) else ""


def _text(raw: bytes) -> str:
    """DisplayString to str: UTF-8 if it is, else Latin-1; control characters dropped."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if not text.isprintable():  # the usual string needs no character-by-character pass
        text = "".join(ch for ch in text if ch.isprintable())
    return text.strip()[:_MAX_TEXT]


def _tokens(*groups: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for group in groups for t in group))


def _date(text: str, not_before: float | None = None) -> float | None:
    floor = (datetime.fromtimestamp(not_before, UTC).date() if not_before is not None else None)
    return date_timestamp(parse_ups_date(text, not_before=floor))


def _uptime_to_time(event_ticks: int | None, uptime_ticks: int | None, now: float
                    ) -> float | None:
    """A TimeStamp (sysUpTime at the event) as Unix time; None when unknown or never."""
    if not event_ticks or uptime_ticks is None or event_ticks > uptime_ticks:
        return None
    return round(now - (uptime_ticks - event_ticks) / 100.0, 2)


# --- UPS-MIB (RFC 1628) -----------------------------------------------------------------------

_U = "1.3.6.1.2.1.33.1"
#: only what the model uses or the API shows: every varbind costs CPU in pure-Python BER
UPS_MIB_FIELDS = (
    Field("uptime", SYS_UPTIME),
    Field("mfr", f"{_U}.1.1.0", "text"), Field("model", f"{_U}.1.2.0", "text"),
    Field("ups_software", f"{_U}.1.3.0", "text"),
    Field("battery_status", f"{_U}.2.1.0"), Field("seconds_on_battery", f"{_U}.2.2.0"),
    Field("minutes_remaining", f"{_U}.2.3.0"), Field("charge", f"{_U}.2.4.0"),
    Field("battery_voltage", f"{_U}.2.5.0"), Field("battery_temperature", f"{_U}.2.7.0"),
    Field("input_frequency", f"{_U}.3.3.1.2.1"), Field("input_voltage", f"{_U}.3.3.1.3.1"),
    Field("output_source", f"{_U}.4.1.0"),
    Field("output_voltage", f"{_U}.4.4.1.2.1"), Field("output_power", f"{_U}.4.4.1.4.1"),
    Field("output_load", f"{_U}.4.4.1.5.1"),
    Field("alarms_present", f"{_U}.6.1.0"),
    Field("test_summary", f"{_U}.7.3.0"), Field("test_detail", f"{_U}.7.4.0", "text"),
    Field("test_start", f"{_U}.7.5.0"),
    Field("low_batt_minutes", f"{_U}.9.7.0"),
)
UPS_MIB_ALARM_DESCR = f"{_U}.6.2.1.2"
UPS_MIB_WELL_KNOWN = f"{_U}.6.3"
UPS_MIB_ALARMS = {
    1: "BatteryBad", 2: "OnBattery", 3: "LowBattery", 4: "DepletedBattery", 5: "TempBad",
    6: "InputBad", 7: "OutputBad", 8: "OutputOverload", 9: "OnBypass", 10: "BypassBad",
    11: "OutputOffAsRequested", 12: "UpsOffAsRequested", 13: "ChargerFailed",
    14: "UpsOutputOff", 15: "UpsSystemOff", 16: "FanFailure", 17: "FuseFailure",
    18: "GeneralFault", 19: "DiagnosticTestFailed", 20: "CommunicationsLost",
    21: "AwaitingPower", 22: "ShutdownPending", 23: "ShutdownImminent", 24: "TestInProgress",
}
#: status flags an alarm implies (as NUT's ietf-mib.c maps them)
_ALARM_FLAGS = {
    "BatteryBad": ("RB",), "OnBattery": ("OB",), "LowBattery": ("LB",),
    "DepletedBattery": ("LB",), "OutputOverload": ("OVER",), "OnBypass": ("BYPASS",),
    "OutputOffAsRequested": ("OFF",), "UpsOffAsRequested": ("OFF",), "UpsOutputOff": ("OFF",),
    "UpsSystemOff": ("OFF",),
}
#: upsOutputSource / xupsOutputSource
OUTPUT_SOURCE = {1: (), 2: ("OFF",), 3: ("OL",), 4: ("OL", "BYPASS"), 5: ("OB",),
                 6: ("OL", "BOOST"), 7: ("OL", "TRIM"),
                 # XUPS-MIB additions: parallel capacity/redundant, HE/ESS (eco), maintenance
                 8: ("OL",), 9: ("OL",), 10: ("OL", "ECO"), 11: ("OL", "BYPASS"),
                 12: ("OL", "ECO")}
UPS_MIB_TEST_SUMMARY = {1: "passed", 2: "warning", 3: "failed", 4: "aborted",
                        5: "in_progress", 6: "none"}


def decode_alarm_names(descrs: Sequence[Oid], well_known: str,
                       names: Mapping[int, str]) -> tuple[str, ...]:
    """Alarm-description OIDs to names; a vendor's own alarm keeps its OID (``oid:...``)."""
    out = []
    prefix = well_known + "."
    for oid in descrs[:MAX_ALARM_ROWS]:
        text = str(oid)
        tail = text[len(prefix):] if text.startswith(prefix) else ""
        name = names.get(int(tail)) if tail.isdigit() else None
        out.append(name or f"oid:{text[:128]}")
    return tuple(dict.fromkeys(out))


def decode_ups_mib(name: str, values: Mapping[str, Value], alarm_descrs: Sequence[Oid],
                   now: float) -> UpsSnapshot:
    v = _Values("ups-mib", UPS_MIB_FIELDS, values)
    alarms = decode_alarm_names(alarm_descrs, UPS_MIB_WELL_KNOWN, UPS_MIB_ALARMS)
    source = v.int("output_source")
    flags = list(OUTPUT_SOURCE.get(source, ())) if source is not None else []
    if v.int("battery_status") in (3, 4):  # batteryLow, batteryDepleted
        flags.append("LB")
    for alarm in alarms:
        flags.extend(_ALARM_FLAGS.get(alarm, ()))
    if alarms or (v.int("alarms_present") or 0) > 0:
        flags.append("ALARM")
    minutes = v.int("minutes_remaining", 0, 100_000)
    low = v.int("low_batt_minutes", 0, 10_000)
    summary = v.int("test_summary")
    snap = UpsSnapshot(
        name=name, source="snmp", mfr=v.text("mfr"), model=v.text("model"),
        firmware=v.text("ups_software"), status=_tokens(flags),
        battery_charge=v.num("charge", 0.01, 0, 100),
        battery_runtime=None if minutes is None else minutes * 60.0,
        battery_runtime_low=None if low is None else low * 60.0,
        load=v.num("output_load", 0.01, 0, 1000),
        input_voltage=v.num("input_voltage", 1, 0, 1000),
        output_voltage=v.num("output_voltage", 1, 0, 1000),
        input_frequency=v.num("input_frequency", 0.1, 0, 10_000),
        battery_voltage=v.num("battery_voltage", 0.1, 0, 100_000),
        realpower=v.num("output_power", 1, 0, 10_000_000),
        replace_needed="BatteryBad" in alarms,
        selftest_result=UPS_MIB_TEST_SUMMARY.get(summary or 0, "unknown"),
        selftest_time=_uptime_to_time(v.int("test_start"), v.int("uptime"), now),
        alarms=alarms, raw=v.raw,
    )
    temp = v.num("battery_temperature", 1, -100, 200)
    if temp is not None:
        snap.temperatures["battery"] = temp
    return snap


# --- APC PowerNet-MIB -------------------------------------------------------------------------

_A = "1.3.6.1.4.1.318.1.1.1"
APC_FIELDS = (
    Field("model", f"{_A}.1.1.1.0", "text"),
    Field("firmware", f"{_A}.1.2.1.0", "text"), Field("manufactured", f"{_A}.1.2.2.0", "text"),
    Field("serial", f"{_A}.1.2.3.0", "text"),
    Field("battery_status", f"{_A}.2.1.1.0"), Field("time_on_battery", f"{_A}.2.1.2.0"),
    Field("battery_replaced", f"{_A}.2.1.3.0", "text"),
    Field("capacity", f"{_A}.2.2.1.0"), Field("battery_temperature", f"{_A}.2.2.2.0"),
    Field("runtime", f"{_A}.2.2.3.0"), Field("replace_indicator", f"{_A}.2.2.4.0"),
    Field("battery_voltage", f"{_A}.2.2.8.0"),
    Field("recommended_replace", f"{_A}.2.2.21.0", "text"),
    Field("hp_capacity", f"{_A}.2.3.1.0"), Field("hp_battery_temperature", f"{_A}.2.3.2.0"),
    Field("hp_battery_voltage", f"{_A}.2.3.4.0"),
    Field("input_voltage", f"{_A}.3.2.1.0"), Field("input_frequency", f"{_A}.3.2.4.0"),
    Field("line_fail_cause", f"{_A}.3.2.5.0"),
    Field("hp_input_voltage", f"{_A}.3.3.1.0"), Field("hp_input_frequency", f"{_A}.3.3.4.0"),
    Field("output_status", f"{_A}.4.1.1.0"),
    Field("output_voltage", f"{_A}.4.2.1.0"), Field("output_load", f"{_A}.4.2.3.0"),
    Field("output_power", f"{_A}.4.2.8.0"),
    Field("hp_output_voltage", f"{_A}.4.3.1.0"), Field("hp_output_load", f"{_A}.4.3.3.0"),
    Field("low_battery_runtime", f"{_A}.5.2.8.0"),
    Field("diag_result", f"{_A}.7.2.3.0"), Field("diag_date", f"{_A}.7.2.4.0", "text"),
    Field("calibration_result", f"{_A}.7.2.6.0"),
    Field("comm_status", f"{_A}.8.1.0"),
)
#: upsBasicOutputStatus (PowerNet-MIB; NUT's apc-mib.c maps the same way)
APC_OUTPUT_STATUS = {
    1: (), 2: ("OL",), 3: ("OB",), 4: ("OL", "BOOST"), 5: ("OFF",), 6: ("OL", "BYPASS"),
    7: ("OFF",), 8: ("OFF",), 9: ("OL", "BYPASS"), 10: ("OL", "BYPASS", "ALARM"), 11: ("OFF",),
    12: ("OL", "TRIM"), 13: ("OL", "ECO"), 14: ("OL",), 15: ("OB", "CAL"),
    16: ("OL", "BYPASS"), 17: ("OL", "BYPASS"), 18: ("OL", "ECO"), 19: ("OL",), 20: ("OL", "ECO"),
}
APC_DIAG_RESULT = {1: "passed", 2: "failed", 3: "aborted", 4: "in_progress"}


def decode_apc(name: str, values: Mapping[str, Value], alarm_descrs: Sequence[Oid],
               now: float) -> UpsSnapshot:
    v = _Values("apc", APC_FIELDS, values)
    status = v.int("output_status")
    flags = list(APC_OUTPUT_STATUS.get(status, ())) if status is not None else []
    battery = v.int("battery_status")
    if battery == 3:  # batteryLow
        flags.append("LB")
    elif battery in (4, 5):  # batteryInFaultCondition, noBatteryPresent
        flags.append("ALARM")
    replace = v.int("replace_indicator") == 2
    if replace:
        flags.append("RB")
    if v.int("calibration_result") == 3:  # calibrationInProgress
        flags.append("CAL")
    if v.int("comm_status") == 2:  # the card lost its link to the UPS: values are stale
        flags.append("COMMLOST")
    # the high-precision objects (tenths) where the card has them, else the integer ones
    charge = v.num("hp_capacity", 0.001, 0, 1000)
    if charge is None:
        charge = v.num("capacity", 0.01, 0, 100)
    made = _date(v.text("manufactured"))
    snap = UpsSnapshot(
        name=name, source="snmp", mfr="APC", model=v.text("model"), serial=v.text("serial"),
        firmware=v.text("firmware"), status=_tokens(flags), battery_charge=charge,
        battery_runtime=v.num("runtime", 0.01, 0),
        battery_runtime_low=v.num("low_battery_runtime", 0.01, 0),
        load=_first(v.num("hp_output_load", 0.001, 0, 10_000),
                    v.num("output_load", 0.01, 0, 1000)),
        input_voltage=_first(v.num("hp_input_voltage", 0.1, 0, 10_000),
                             v.num("input_voltage", 1, 0, 1000)),
        output_voltage=_first(v.num("hp_output_voltage", 0.1, 0, 10_000),
                              v.num("output_voltage", 1, 0, 1000)),
        input_frequency=_first(v.num("hp_input_frequency", 0.1, 0, 10_000),
                               v.num("input_frequency", 1, 0, 1000)),
        battery_voltage=_first(v.num("hp_battery_voltage", 0.1, 0, 100_000),
                               v.num("battery_voltage", 1, 0, 10_000)),
        realpower=v.num("output_power", 1, 0, 10_000_000),
        ups_manufactured=made,
        # a battery cannot be installed before its UPS was made (catches the 2001/09/25
        # placeholder even where it is not on the known-placeholder list)
        battery_installed=_date(v.text("battery_replaced"), not_before=made),
        replace_needed=replace,
        selftest_result=APC_DIAG_RESULT.get(v.int("diag_result") or 0, "unknown"),
        selftest_time=_date(v.text("diag_date")),
        raw=v.raw,
    )
    temp = _first(v.num("hp_battery_temperature", 0.1, -1000, 2000),
                  v.num("battery_temperature", 1, -100, 200))
    if temp is not None:
        snap.temperatures["battery"] = temp
    return snap


def _first(*values: float | None) -> float | None:
    return next((x for x in values if x is not None), None)


# --- Eaton XUPS-MIB ---------------------------------------------------------------------------

_X = "1.3.6.1.4.1.534.1"
EATON_FIELDS = (
    Field("mfr", f"{_X}.1.1.0", "text"), Field("model", f"{_X}.1.2.0", "text"),
    Field("firmware", f"{_X}.1.3.0", "text"),
    Field("runtime", f"{_X}.2.1.0"), Field("battery_voltage", f"{_X}.2.2.0"),
    Field("capacity", f"{_X}.2.4.0"), Field("abm_status", f"{_X}.2.5.0"),
    Field("battery_replaced", f"{_X}.2.6.0", "text"), Field("battery_failure", f"{_X}.2.7.0"),
    Field("input_frequency", f"{_X}.3.1.0"), Field("input_voltage", f"{_X}.3.4.1.2.1"),
    Field("output_load", f"{_X}.4.1.0"),
    Field("output_voltage", f"{_X}.4.4.1.2.1"), Field("output_power", f"{_X}.4.4.1.4.1"),
    Field("output_source", f"{_X}.4.5.0"),
    Field("ambient_temperature", f"{_X}.6.1.0"),
    Field("alarms", f"{_X}.7.1.0"),
    Field("test_status", f"{_X}.8.2.0"),
)
#: xupsBatteryAbmStatus: charging, discharging, floating, resting, unknown, disconnected,
#: underTest, checkBattery
EATON_ABM = {1: ("CHRG",), 2: ("DISCHRG",), 6: ("ALARM",), 7: ("CAL",), 8: ("RB",)}
#: xupsTestBatteryStatus: unknown, passed, failed, inProgress, notSupported, inhibited, scheduled
EATON_TEST = {1: "unknown", 2: "passed", 3: "failed", 4: "in_progress", 5: "none",
              6: "aborted", 7: "none"}


def decode_eaton(name: str, values: Mapping[str, Value], alarm_descrs: Sequence[Oid],
                 now: float) -> UpsSnapshot:
    v = _Values("eaton", EATON_FIELDS, values)
    source = v.int("output_source")
    flags = list(OUTPUT_SOURCE.get(source, ())) if source is not None else []
    flags.extend(EATON_ABM.get(v.int("abm_status") or 0, ()))
    failure = v.int("battery_failure") == 1  # yes(1) no(2)
    if failure:
        flags.append("RB")
    if (v.int("alarms", 0) or 0) > 0:
        flags.append("ALARM")
    snap = UpsSnapshot(
        name=name, source="snmp", mfr=v.text("mfr") or "EATON", model=v.text("model"),
        firmware=v.text("firmware"), status=_tokens(flags),
        battery_charge=v.num("capacity", 0.01, 0, 100),
        battery_runtime=v.num("runtime", 1, 0),
        load=v.num("output_load", 0.01, 0, 1000),
        input_voltage=v.num("input_voltage", 1, 0, 1000),
        output_voltage=v.num("output_voltage", 1, 0, 1000),
        input_frequency=v.num("input_frequency", 0.1, 0, 10_000),
        battery_voltage=v.num("battery_voltage", 1, 0, 10_000),
        realpower=v.num("output_power", 1, 0, 10_000_000),
        battery_installed=_date(v.text("battery_replaced")),
        replace_needed="RB" in flags,
        selftest_result=EATON_TEST.get(v.int("test_status") or 0, "unknown"),
        raw=v.raw,
    )
    temp = v.num("ambient_temperature", 1, -100, 200)
    if temp is not None:
        snap.temperatures["ambient"] = temp
    return snap


# --- the profiles and choosing one ------------------------------------------------------------

UPS_MIB = MibProfile("ups-mib", "UPS-MIB (RFC 1628)", UPS_MIB_FIELDS, f"{_U}.4.1.0",
                     UPS_MIB_ALARM_DESCR, "alarms_present", decode_ups_mib)
APC = MibProfile("apc", "APC PowerNet-MIB", APC_FIELDS, f"{_A}.4.1.1.0", None, None, decode_apc)
EATON = MibProfile("eaton", "Eaton XUPS-MIB", EATON_FIELDS, f"{_X}.4.5.0", None, None,
                   decode_eaton)
PROFILES = {p.name: p for p in (UPS_MIB, APC, EATON)}
#: what one auto-detection GET asks for
DETECT_OIDS = (SYS_OBJECT_ID, APC.probe, EATON.probe, UPS_MIB.probe)


def choose_profile(values: Mapping[str, Value]) -> MibProfile | None:
    """Pick the MIB from one GET of ``DETECT_OIDS``: the vendor MIB the sysObjectID names if it
    answers, else any vendor MIB that answers (richer than UPS-MIB), else UPS-MIB."""
    answered = [p for p in (APC, EATON, UPS_MIB) if values.get(p.probe) is not None]
    if not answered:
        return None
    sys_oid = str(values.get(SYS_OBJECT_ID) or "")
    hint = (APC if sys_oid.startswith(APC_ENTERPRISE + ".") or sys_oid == APC_ENTERPRISE else
            EATON if sys_oid.startswith((EATON_ENTERPRISE + ".", MGE_ENTERPRISE + "."))
            else None)
    if hint in answered:
        return hint
    return answered[0]
