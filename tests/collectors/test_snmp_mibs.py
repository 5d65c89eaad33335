"""The pure half of the SNMP collector: MIB tables, enum decoding, scaling, dates, alarms."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from upkeep.collectors import snmp_mibs as m
from upkeep.collectors.ups_model import STATUS_FLAGS, _parse_ups_date, ups_samples
from upkeep.errors import ProtocolError

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()


def _ts(y: int, mo: int, d: int) -> float:
    return datetime(y, mo, d, tzinfo=UTC).timestamp()


def _values(profile: m.MibProfile, **kv: m.Value) -> dict[str, m.Value]:
    keys = {f.key for f in profile.fields}
    assert set(kv) <= keys, set(kv) - keys
    return kv


def test_ups_mib_scaling_and_enums() -> None:
    snap = m.decode_ups_mib("u", _values(
        m.UPS_MIB, mfr=b"EATON", model=b"9PX", ups_software=b"INV 1", battery_status=2,
        minutes_remaining=42, charge=87, battery_voltage=546, battery_temperature=35,
        input_frequency=499, input_voltage=231, output_source=7, output_voltage=230,
        output_power=812, output_load=37, alarms_present=0, test_summary=2,
        low_batt_minutes=2, uptime=100_000, test_start=40_000), [], NOW)
    assert snap.status == ("OL", "TRIM")
    assert snap.battery_charge == 0.87
    assert snap.battery_runtime == 42 * 60  # minutes -> seconds
    assert snap.battery_runtime_low == 120
    assert snap.battery_voltage == 54.6  # 0.1 V DC
    assert snap.input_frequency == 49.9  # 0.1 Hz
    assert snap.load == 0.37 and snap.realpower == 812 and snap.output_voltage == 230
    assert snap.temperatures == {"battery": 35}
    assert snap.selftest_result == "warning"
    assert snap.selftest_time == NOW - 600  # started 60000 ticks (600 s) before "now"
    assert (snap.mfr, snap.model, snap.firmware, snap.serial) == ("EATON", "9PX", "INV 1", "")


@pytest.mark.parametrize(("source", "flags"), [
    (2, ("OFF",)), (3, ("OL",)), (4, ("OL", "BYPASS")), (5, ("OB",)), (6, ("OL", "BOOST")),
    (7, ("OL", "TRIM")), (1, ()), (99, ())])
def test_ups_mib_output_source(source: int, flags: tuple[str, ...]) -> None:
    snap = m.decode_ups_mib("u", {"output_source": source}, [], NOW)
    assert snap.status == flags


def test_ups_mib_alarm_table_by_name_sets_flags_and_replace() -> None:
    well_known = m.UPS_MIB_WELL_KNOWN
    descrs = [m.Oid(f"{well_known}.2"), m.Oid(f"{well_known}.3"), m.Oid(f"{well_known}.1"),
              m.Oid(f"{well_known}.8"), m.Oid("1.3.6.1.4.1.99.5.1")]
    snap = m.decode_ups_mib("u", {"output_source": 5, "battery_status": 3,
                                  "alarms_present": 5}, descrs, NOW)
    assert snap.alarms == ("OnBattery", "LowBattery", "BatteryBad", "OutputOverload",
                           "oid:1.3.6.1.4.1.99.5.1")
    assert snap.status == ("OB", "LB", "RB", "OVER", "ALARM")
    assert snap.replace_needed is True
    samples = {(s.metric, tuple(sorted(s.labels.items()))): s.value
               for s in ups_samples(snap)}
    assert samples[("upkeep_ups_alarm", (("alarm", "BatteryBad"), ("ups", "u")))] == 1
    assert samples[("upkeep_ups_battery_replace_needed", (("ups", "u"),))] == 1
    for flag in STATUS_FLAGS:  # every standard flag always present
        assert ("upkeep_ups_status", (("flag", flag), ("ups", "u"))) in samples


def test_alarm_names_are_bounded() -> None:
    descrs = [m.Oid(f"{m.UPS_MIB_WELL_KNOWN}.{i % 24 + 1}") for i in range(10_000)]
    names = m.decode_alarm_names(descrs, m.UPS_MIB_WELL_KNOWN, m.UPS_MIB_ALARMS)
    assert len(names) == 24


@pytest.mark.parametrize(("summary", "result"), [
    (1, "passed"), (2, "warning"), (3, "failed"), (4, "aborted"), (5, "in_progress"),
    (6, "none"), (None, "unknown"), (42, "unknown")])
def test_ups_mib_selftest(summary: int | None, result: str) -> None:
    values = {} if summary is None else {"test_summary": summary}
    assert m.decode_ups_mib("u", values, [], NOW).selftest_result == result


def test_apc_prefers_high_precision_and_decodes_dates() -> None:
    snap = m.decode_apc("a", _values(
        m.APC, model=b"Smart-UPS 1500", serial=b"AS1925123456", firmware=b"UPS 09.3",
        manufactured=b"06/15/19", battery_replaced=b"09/02/2023", battery_status=2,
        capacity=99, hp_capacity=987, runtime=216000, low_battery_runtime=12000,
        battery_temperature=27, hp_battery_temperature=272, input_voltage=231,
        hp_input_voltage=2312, input_frequency=50, hp_input_frequency=499,
        output_status=12, output_load=23, hp_output_load=234, output_voltage=230,
        output_power=205, replace_indicator=1, diag_result=2, diag_date=b"11/20/2025",
        comm_status=1), [], NOW)
    assert snap.status == ("OL", "TRIM")
    assert snap.battery_charge == 0.987 and snap.load == 0.234
    assert snap.battery_runtime == 2160.0  # TimeTicks (1/100 s)
    assert snap.battery_runtime_low == 120.0
    assert snap.input_voltage == 231.2 and snap.input_frequency == 49.9
    assert snap.temperatures == {"battery": 27.2}
    assert snap.ups_manufactured == _ts(2019, 6, 15)  # mm/dd/yy
    assert snap.battery_installed == _ts(2023, 9, 2)
    assert snap.selftest_result == "failed" and snap.selftest_time == _ts(2025, 11, 20)
    assert (snap.mfr, snap.serial, snap.replace_needed) == ("APC", "AS1925123456", False)


def test_apc_placeholder_battery_date_is_unknown() -> None:
    # APC cards ship 2001/09/25-era dates as the battery date of units made decades later
    for placeholder in (b"09/25/01", b"09/25/2001", b"2001/09/25"):
        snap = m.decode_apc("a", {"manufactured": b"03/02/2022",
                                  "battery_replaced": placeholder}, [], NOW)
        assert snap.battery_installed is None
        assert snap.ups_manufactured == _ts(2022, 3, 2)
    # and a battery "installed" before the UPS was made is not believed either
    snap = m.decode_apc("a", {"manufactured": b"03/02/2022", "battery_replaced": b"05/01/2015"},
                        [], NOW)
    assert snap.battery_installed is None


@pytest.mark.parametrize(("status", "flags"), [
    (2, ("OL",)), (3, ("OB",)), (4, ("OL", "BOOST")), (7, ("OFF",)), (9, ("OL", "BYPASS")),
    (12, ("OL", "TRIM")), (15, ("OB", "CAL"))])
def test_apc_output_status(status: int, flags: tuple[str, ...]) -> None:
    assert m.decode_apc("a", {"output_status": status}, [], NOW).status == flags


def test_apc_battery_low_replace_and_comm_lost() -> None:
    snap = m.decode_apc("a", {"output_status": 3, "battery_status": 3, "replace_indicator": 2,
                              "comm_status": 2}, [], NOW)
    assert snap.status == ("OB", "LB", "RB", "COMMLOST")
    assert snap.replace_needed is True


def test_eaton() -> None:
    snap = m.decode_eaton("e", _values(
        m.EATON, mfr=b"EATON", model=b"Eaton 9PX 2200i RT 3U", firmware=b"INV: 01.17.4945",
        runtime=17218, battery_voltage=78, capacity=100, abm_status=2,
        battery_replaced=b"06/01/2020", battery_failure=2, input_frequency=500,
        input_voltage=243, output_load=9, output_voltage=231, output_power=50,
        output_source=5, ambient_temperature=24, alarms=1, test_status=2), [], NOW)
    assert snap.status == ("OB", "DISCHRG", "ALARM")
    assert snap.battery_runtime == 17218 and snap.battery_charge == 1.0
    assert snap.input_frequency == 50.0 and snap.load == 0.09 and snap.realpower == 50
    assert snap.temperatures == {"ambient": 24}
    assert snap.battery_installed == _ts(2020, 6, 1)
    assert snap.selftest_result == "passed" and snap.replace_needed is False


def test_wrong_types_are_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="charge"):
        m.decode_ups_mib("u", {"charge": b"full"}, [], NOW)
    with pytest.raises(ProtocolError, match="model"):
        m.decode_apc("a", {"model": 42}, [], NOW)
    with pytest.raises(ProtocolError, match="output_source"):
        m.decode_eaton("e", {"output_source": m.Oid("1.3.6")}, [], NOW)


def test_out_of_range_is_not_reported_and_text_is_sanitised() -> None:
    snap = m.decode_ups_mib("u", {"charge": 900, "minutes_remaining": -1,
                                  "battery_temperature": -1000, "model": b"\xff\xfeBad\x00\n"},
                            [], NOW)
    assert snap.battery_charge is None and snap.battery_runtime is None
    assert snap.temperatures == {}
    assert snap.model == "ÿþBad"  # Latin-1 fallback, control characters dropped


def test_choose_profile() -> None:
    apc, eaton, ups = m.APC.probe, m.EATON.probe, m.UPS_MIB.probe
    sys_oid = m.SYS_OBJECT_ID
    assert m.choose_profile({sys_oid: m.Oid("1.3.6.1.4.1.318.1.3.27"), apc: 2, ups: 3}) is m.APC
    # Eaton cards report MGE's enterprise: XUPS when it answers, else UPS-MIB
    assert m.choose_profile({sys_oid: m.Oid("1.3.6.1.4.1.705.1"), eaton: 3, ups: 3}) is m.EATON
    assert m.choose_profile({sys_oid: m.Oid("1.3.6.1.4.1.705.1"), ups: 3}) is m.UPS_MIB
    assert m.choose_profile({sys_oid: m.Oid("1.3.6.1.4.1.8072.3.2.10"), ups: 3}) is m.UPS_MIB
    assert m.choose_profile({sys_oid: m.Oid("1.3.6.1.4.1.8072.3.2.10")}) is None


@pytest.mark.parametrize(("today", "text", "expected"), [
    (date(2028, 2, 29), "02/28/2029", date(2029, 2, 28)),  # within a year of a leap day
    (date(2028, 2, 29), "2029-03-02", None),                # more than a year ahead
    (date(2026, 12, 7), "2027/12/07", date(2027, 12, 7)),
    (date(2026, 12, 7), "2027/12/09", None),
    (date(2026, 12, 7), "09/25/01", None),                  # APC's placeholder
    (date(2026, 12, 7), "13/05/2019", date(2019, 5, 13)),   # day first: 13 is no month
])
def test_ups_dates_against_the_day_they_are_read(today: date, text: str,
                                                  expected: date | None) -> None:
    # (the cached parser takes the day as an argument; it once computed "a year from today"
    # with date.replace(year + 1), which raises on 29 February)
    assert _parse_ups_date(text, None, today) == expected
    assert _parse_ups_date(text, None, today) == expected  # from the cache, the same
