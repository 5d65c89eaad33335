"""Pure NUT parsing: quoting, answers, errors, variable mapping (no server)."""

from __future__ import annotations

from datetime import date

import pytest

from upkeep.collectors.nut import (
    parse_alarms,
    parse_number,
    parse_nut_date,
    parse_nut_status,
    snapshot_from_vars,
    summary,
)
from upkeep.collectors.nut_protocol import (
    NutError,
    check_error,
    decode_line,
    parse_clients,
    parse_ups_list,
    parse_vars,
    quote,
    split_words,
)
from upkeep.errors import AuthFailed, ProtocolError


@pytest.mark.parametrize(("line", "words"), [
    ('VAR ups1 ups.model "Smart-UPS 1500"', ["VAR", "ups1", "ups.model", "Smart-UPS 1500"]),
    (r'VAR u x "say \"hi\""', ["VAR", "u", "x", 'say "hi"']),
    (r'VAR u x "C:\\path\\"', ["VAR", "u", "x", "C:\\path\\"]),
    ('VAR u x ""', ["VAR", "u", "x", ""]),
    ('VAR u x "  padded  "', ["VAR", "u", "x", "  padded  "]),
    ("UPS  a   b", ["UPS", "a", "b"]),
])
def test_split_words_unescapes(line: str, words: list[str]) -> None:
    assert split_words(line) == words


@pytest.mark.parametrize("line", ['VAR u x "open', "VAR u x trailing\\"])
def test_split_words_rejects_malformed(line: str) -> None:
    with pytest.raises(ProtocolError):
        split_words(line)


def test_quote_round_trips() -> None:
    for value in ['pa ss"w\\rd', "", "plain", '\\"']:
        assert split_words(f"PASSWORD {quote(value)}") == ["PASSWORD", value]
    with pytest.raises(ValueError):
        quote("two\nlines")


def test_decode_line_keeps_non_utf8_readable() -> None:
    assert decode_line(b'VAR u ups.model "Onduleur \xe9t\xe9"\n') == \
        'VAR u ups.model "Onduleur \ufffdt\ufffd"'


@pytest.mark.parametrize(("line", "reason", "cls"), [
    ("ERR ACCESS-DENIED", "auth", AuthFailed), ("ERR PASSWORD-REQUIRED", "auth", AuthFailed),
    ("ERR USERNAME-REQUIRED", "auth", AuthFailed), ("ERR DATA-STALE", "stale", NutError),
    ("ERR DRIVER-NOT-CONNECTED", "driver", NutError), ("ERR UNKNOWN-UPS", "config", NutError),
    ("ERR VAR-NOT-SUPPORTED", "protocol", NutError),
])
def test_errors_map_to_reasons(line: str, reason: str, cls: type) -> None:
    with pytest.raises(cls) as info:
        check_error(line, "ups1")
    assert info.value.reason == reason
    assert line.split()[1] in str(info.value)


def test_list_parsers() -> None:
    assert parse_vars(['VAR a battery.charge "100"', r'VAR a ups.model "x \"y\""'], "a") == \
        {"battery.charge": "100", "ups.model": 'x "y"'}
    assert parse_ups_list(['UPS a "Rack A"', 'UPS b ""']) == {"a": "Rack A", "b": ""}
    assert parse_clients(["CLIENT a 127.0.0.1", "CLIENT a ::1"], "a") == ["127.0.0.1", "::1"]
    with pytest.raises(ProtocolError):
        parse_vars(['VAR other battery.charge "1"'], "a")
    with pytest.raises(ProtocolError):
        parse_vars(["VAR a battery.charge"], "a")


@pytest.mark.parametrize(("text", "value"), [
    ("100", 100.0), ("020.0", 20.0), ("  0.0", 0.0), ("01715", 1715.0), ("-3.5", -3.5),
    ("1e3", 1000.0), ("n/a", None), ("nan", None), ("inf", None), ("1_000", None),
    ("12.3V", None), ("", None), (None, None),
])
def test_parse_number(text: str | None, value: float | None) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(("text", "expected"), [
    ("2019-05-01", date(2019, 5, 1)),
    ("2019/10/11", date(2019, 10, 11)),
    ("2001/09/25", None),  # APC's placeholder battery date
    ("09/25/01", None),  # the same placeholder, US style
    ("05/01/2019", date(2019, 5, 1)),
    ("10/11/11", date(2011, 10, 11)),
    ("03/11/04", date(2004, 3, 11)),
    ("25/12/2020", date(2020, 12, 25)),  # day first only when it must be
    ("12OCT04", date(2004, 10, 12)),
    ("12oct2004", date(2004, 10, 12)),
    ("CPS", None), ("0.00", None), ("", None), ("2019-13-01", None), (None, None),
])
def test_dates(text: str | None, expected: date | None) -> None:
    assert parse_nut_date(text) == expected


def test_battery_date_before_unit_is_unknown() -> None:
    snap = snapshot_from_vars("u", {"ups.status": "OL", "battery.date": "2010/01/01",
                                    "ups.mfr.date": "2019/10/11"})
    assert snap.battery_installed is None
    assert snap.ups_manufactured == 1570752000.0


def test_status_keeps_unknown_tokens_and_rejects_absurd() -> None:
    assert parse_nut_status("OL CHRG ECO") == ("OL", "CHRG", "ECO")
    assert parse_nut_status("") == ()
    for absurd in ["OL \x00\x01", "X" * 40, " ".join(["OL"] * 40), "OL \ufffd", "OL;rm -rf"]:
        with pytest.raises(ProtocolError, match="absurd ups.status"):
            parse_nut_status(absurd)


def test_alarms() -> None:
    assert parse_alarms("Replace battery!") == ("replace_battery",)
    assert parse_alarms("[Overload] [Fan failure] [Overload]") == ("overload", "fan_failure")
    assert parse_alarms("  ") == ()
    # NUT's drivers join alarms with single spaces, brackets optional (drivers/dstate.c)
    assert parse_alarms("Replace battery! Shutdown imminent!") == \
        ("replace_battery", "shutdown_imminent")
    assert parse_alarms("[Fan failure!] Temperature too high! Odd thing Wiring fault!") == \
        ("fan_failure", "temperature_too_high", "odd_thing", "wiring_fault")
    assert parse_alarms("Something no driver says") == ("something_no_driver_says",)
    huge = parse_alarms("Replace battery! " * 100 + "x" * 4096)
    assert huge == ("replace_battery", "x" * 64)
    many = parse_alarms(" ".join(f"[alarm {i}]" for i in range(200)))
    assert len(many) == 16


def test_snapshot_maps_units_and_identity() -> None:
    snap = snapshot_from_vars("rack", {
        "ups.status": "OB DISCHRG LB", "ups.mfr": "APC ", "device.model": "Smart-UPS  1500",
        "ups.serial": "000000000000", "ups.firmware": " 945.d9 .D", "battery.charge": "42",
        "battery.runtime": "600", "battery.runtime.low": "120", "ups.load": "35.5",
        "input.voltage": "0.0", "output.voltage": "230", "input.frequency": "50.1",
        "battery.voltage": "26.9", "output.realpower": "324", "ups.temperature": "31.5",
        "battery.temperature": "25", "ups.test.result": "Done and error",
        "ups.alarm": "Replace battery!", "input.transfer.high": "280",
        "driver.parameter.pollinterval": "2", "ups.beeper.status": "enabled"})
    assert (snap.mfr, snap.model, snap.serial, snap.firmware) == \
        ("APC", "Smart-UPS 1500", "", "945.d9 .D")
    assert snap.status == ("OB", "DISCHRG", "LB")
    assert snap.battery_charge == pytest.approx(0.42)
    assert snap.load == pytest.approx(0.355)
    assert (snap.battery_runtime, snap.battery_runtime_low) == (600, 120)
    assert (snap.input_voltage, snap.output_voltage, snap.input_frequency) == (0, 230, 50.1)
    assert snap.realpower == 324
    assert snap.temperatures == {"ups": 31.5, "battery": 25}
    assert snap.selftest_result == "failed"
    assert snap.alarms == ("replace_battery",)
    assert snap.replace_needed is True
    assert snap.variables == {"input.transfer.high": 280}
    text = summary(snap, now=0)
    assert "ON BATTERY, LOW" in text and "charge 42%" in text and "runtime 10 min" in text
    assert "load 36%" in text and "battery age unknown" in text and "REPLACE" in text


def test_snapshot_rejects_absurd_status() -> None:
    with pytest.raises(ProtocolError):
        snapshot_from_vars("u", {"ups.status": "\x7f" * 10})
