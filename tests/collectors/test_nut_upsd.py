"""The NUT collector against a real upsd + dummy-ups (Debian nut-server), no mocks.

One upsd serves all 28 real dumps of the NUT devices library (tests/fixtures/nut is not
needed for them: they are read from tests/fixtures/nut-ddl), each polled through
``NutCollector`` exactly as the agent does.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.nut_rig import FIXTURES, NutRig, read_dev
from tests.support import NUT_DDL, free_port
from upkeep.collectors.base import Target
from upkeep.collectors.nut import NutCollector, _Discovery, _factory
from upkeep.collectors.nut_client import NutClient, TlsSettings
from upkeep.config import Config
from upkeep.config.ups import UpsConfig
from upkeep.reading import Reading

DDL = NUT_DDL
DUMPS = sorted(DDL.glob("*.dev"))


def ups_name(path: Path) -> str:
    return "ddl-" + "".join(ch if ch.isalnum() else "-" for ch in path.name.split("__")[1])[:40]


def ts(y: int, m: int, d: int) -> float:
    return datetime(y, m, d, tzinfo=UTC).timestamp()


#: a few exact values per dump, read off the files by hand (metric -> value; "model" and
#: "serial" are upkeep_ups_info labels, "flags" the flags set in upkeep_ups_status)
EXACT: dict[str, dict[str, Any]] = {
    "APC__Back-UPS_XS_1000M": {"model": "Back-UPS XS 1000M", "serial": "3B1941X68111",
                               "upkeep_ups_battery_runtime_seconds": 13032,
                               "upkeep_ups_battery_charge_ratio": 1.0,
                               "upkeep_ups_battery_installed_timestamp_seconds": None,
                               "upkeep_ups_battery_manufactured_timestamp_seconds":
                                   ts(2019, 10, 11), "selftest": "none"},
    "APC__Matrix-UPS_3000": {"model": "Matrix-UPS", "serial": "",
                             "upkeep_ups_input_voltage_volts": 231.8},
    "APC__Smart-UPS_2200_RM_XL": {"upkeep_ups_load_ratio": 0.348,
                                  "upkeep_ups_battery_installed_timestamp_seconds":
                                      ts(2011, 10, 11),
                                  "upkeep_ups_manufactured_timestamp_seconds": ts(2004, 3, 11),
                                  "temp:ambient": 25.0, "temp:ups": 30.6, "selftest": "passed"},
    "Belkin__F6S600auUSB": {"upkeep_ups_input_voltage_volts": 242.9,
                            "upkeep_ups_battery_voltage_volts": 13.5, "temp:ups": 25.0},
    "Belkin__Universal_UPS_F6C1200-UNV": {"flags": {"OL", "CHRG"},
                                          "upkeep_ups_battery_runtime_seconds": 210,
                                          "upkeep_ups_manufactured_timestamp_seconds":
                                              ts(2002, 3, 1)},
    "Cyber_Power_Systems__CP1350PFCLCD": {"serial": "",
                                          "upkeep_ups_output_voltage_volts": 141.0,
                                          "upkeep_ups_battery_manufactured_timestamp_seconds":
                                              None},
    "Cyber_Power_Systems__CPS1500AVR": {"model": "OP1500", "serial": "",
                                        "upkeep_ups_load_ratio": 0.52, "temp:ups": 39.0},
    "Eaton__5E1100iUSB": {"model": "5E 1100i", "upkeep_ups_battery_runtime_seconds": 3160},
    "Eaton__5PX": {"upkeep_ups_realpower_watts": 324.0, "upkeep_ups_load_ratio": 0.30,
                   "upkeep_ups_battery_runtime_low_seconds": 180, "selftest": "passed"},
    "Eaton__Powerware_3105": {"model": "POWERWARE UPS 700i", "flags": {"OL"}},
    "HP__R5500_XR": {"flags": {"OL", "DISCHRG"}, "upkeep_ups_battery_charge_ratio": 0.97,
                     "upkeep_ups_battery_runtime_seconds": 46800, "selftest": "failed"},
    "HP__T1500_INTL": {"flags": {"OL", "TRIM"}, "temp:battery": 23.9,
                       "upkeep_ups_input_voltage_volts": 248.1},
    "Liebert__GXT2-1000RT230": {"model": "GXT2-1000RT230", "serial": "0428100126AF041",
                                "upkeep_ups_realpower_watts": 96,
                                "upkeep_ups_manufactured_timestamp_seconds": ts(2004, 10, 12)},
    "Liebert__NXe_20kVA": {"upkeep_ups_battery_voltage_volts": 540.5,
                           "upkeep_ups_realpower_watts": 0, "temp:battery": 20.1},
    "MGE_UPS_SYSTEMS__Ellipse_1200_USBS": {"serial": "",
                                           "upkeep_ups_battery_runtime_seconds": 1715},
    "MGE_UPS_SYSTEMS__Pulsar_Evolution_800_Tower_UPS": {
        "upkeep_ups_battery_runtime_seconds": 2175, "upkeep_ups_input_frequency_hertz": 59},
    "PowerWalker__VI_1200_SH": {"model": "PowerWalker VI 1200 SH", "serial": "",
                                "upkeep_ups_battery_runtime_seconds": 4482},
    "PowerWalker__VI_2200_SH": {"upkeep_ups_load_ratio": 0.01,
                                "upkeep_ups_battery_voltage_volts": 27},
    "Powercom__Raptor_2000": {"upkeep_ups_battery_charge_ratio": 0.74,
                              "upkeep_ups_battery_installed_timestamp_seconds": ts(2014, 1, 15)},
    "Powercom__WOW-850U": {"model": "UPS WOW--850U FW2.A4", "serial": "2A4-0000-0001",
                           "upkeep_ups_battery_installed_timestamp_seconds": ts(2010, 1, 1)},
    "Powerware__3105_500VA": {"model": "POWERWARE UPS 500VA", "flags": {"OL"}},
    "Powerware__PW5110": {"upkeep_ups_load_ratio": 0.0, "upkeep_ups_battery_voltage_volts": 26.9},
    "Powerware__Profile": {"upkeep_ups_battery_runtime_seconds": 1080,
                           "upkeep_ups_battery_runtime_low_seconds": 3},
    # its empty "ups.serial:" comes back as junk from dummy-ups's parser, so not asserted
    "Riello__VSD3000": {"model": "ULC3", "temp:ups": 47},
    "Riello__VST800": {"upkeep_ups_battery_runtime_seconds": 19200,
                       "upkeep_ups_input_frequency_hertz": 50.1},
    "Tripp_Lite__OMNI750ISO": {"upkeep_ups_input_voltage_volts": 106.97,
                               "upkeep_ups_battery_voltage_volts": 14.75},
    "Tripp_Lite__SMART1500RMXL2U": {"upkeep_ups_load_ratio": 0.20,
                                    "upkeep_ups_battery_voltage_volts": 40.8},
    "Tripp_Lite__SU1000XLA": {"upkeep_ups_realpower_watts": None, "temp:battery": 25.9,
                              "upkeep_ups_battery_runtime_seconds": 3016},
}

COMMON = {"battery.charge": ("upkeep_ups_battery_charge_ratio", 0.01),
          "battery.runtime": ("upkeep_ups_battery_runtime_seconds", 1),
          "ups.load": ("upkeep_ups_load_ratio", 0.01),
          "input.voltage": ("upkeep_ups_input_voltage_volts", 1),
          "output.voltage": ("upkeep_ups_output_voltage_volts", 1),
          "battery.voltage": ("upkeep_ups_battery_voltage_volts", 1)}


def entry(name: str, port: int, **nut: Any) -> UpsConfig:
    """An entry for the UPS ``ups`` (default: ``name``) on that upsd; test_nut_discovery has
    the entries without ``ups:``, which stand for every UPS of their upsd."""
    nut.setdefault("ups", name)
    return UpsConfig.model_validate({"name": name, "nut": {"host": "127.0.0.1", "port": port,
                                                           "interval": "3s", "timeout": "2s",
                                                           **nut}})


def poll_all(collector: NutCollector, targets: Sequence[Target] | None = None
             ) -> dict[str, Reading]:
    async def run() -> list[Reading]:
        from upkeep.agents.runtime import poll_target

        try:
            results = await asyncio.gather(*(poll_target(collector, t)
                                             for t in (targets or collector.targets())))
        finally:
            await collector.aclose()
        return [r for rs in results for r in rs]

    return {r.target: r for r in asyncio.run(run())}


def values(reading: Reading) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.metric, frozenset(s.labels.items())): s.value for s in reading.samples}


def get(reading: Reading, metric: str, **labels: str) -> float | None:
    labels.setdefault("ups", reading.target)
    return values(reading).get((metric, frozenset(labels.items())))


@pytest.fixture(scope="module")
def ddl_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NutRig]:
    rig = NutRig(tmp_path_factory.mktemp("nut-ddl"))
    for path in DUMPS:
        rig.add_ups(ups_name(path), path)
    rig.add_ups("junk", {"ups.status": "OL", "battery.charge": "88"})
    rig.add_ups("absurd", {"ups.status": "OL", "battery.charge": "50"})
    with rig:
        yield rig


@pytest.fixture(scope="module")
def ddl_readings(ddl_rig: NutRig) -> dict[str, Reading]:
    collector = NutCollector([entry(ups_name(p), ddl_rig.port) for p in DUMPS])
    return poll_all(collector)


def test_all_28_dumps_poll_without_error(ddl_readings: dict[str, Reading]) -> None:
    assert len(DUMPS) == 28
    failed = {n: r.message for n, r in ddl_readings.items() if not r.ok}
    assert failed == {}
    assert len(ddl_readings) == 28


@pytest.mark.parametrize("path", DUMPS, ids=lambda p: p.name.split("__")[0] + "_"
                         + p.name.split("__")[1])
def test_dump_common_metrics(path: Path, ddl_readings: dict[str, Reading]) -> None:
    reading = ddl_readings[ups_name(path)]
    assert reading.ok, reading.message
    dump = read_dev(path)
    for var, (metric, scale) in COMMON.items():
        if var in dump and dump[var].strip():
            assert get(reading, metric) == pytest.approx(float(dump[var]) * scale), var
        elif var not in dump:
            assert get(reading, metric) is None, var
    flags = set(dump["ups.status"].split())
    for flag in ("OL", "OB", "LB", "CHRG", "DISCHRG", "TRIM", "BOOST", "RB", "FSD"):
        assert get(reading, "upkeep_ups_status", flag=flag) == (1 if flag in flags else 0)
    key = "__".join(path.name.split("__")[:2])
    for name, expected in EXACT[key].items():
        info = reading.info
        if name == "model":
            assert info["model"] == expected
        elif name == "serial":
            assert info["serial"] == expected
        elif name == "flags":
            assert set(info["status"]) == expected
        elif name == "selftest":
            assert get(reading, "upkeep_ups_selftest_result", result=expected) == 1
        elif name.startswith("temp:"):
            assert get(reading, "upkeep_ups_temperature_celsius",
                       sensor=name[5:]) == pytest.approx(expected)
        elif expected is None:
            assert get(reading, name) is None, name
        else:
            assert get(reading, name) == pytest.approx(expected), name
    assert "charge" in info["summary"] or "battery.charge" not in dump
    assert info["nut"]["ups"] == ups_name(path)


def test_every_other_numeric_variable_is_kept(ddl_readings: dict[str, Reading]) -> None:
    reading = ddl_readings[ups_name(DDL / "Eaton__5PX__snmp-ups__2.7.4__02.dev")]
    variables = {dict(k[1])["variable"]: v for k, v in values(reading).items()
                 if k[0] == "upkeep_nut_variable"}
    assert variables["output.frequency"] == 50
    assert variables["ups.power.nominal"] == 1500
    assert variables["ups.realpower.nominal"] == 1350
    assert variables["output.voltage.high"] == 294
    assert "ups.load" not in variables  # mapped into the model instead
    assert not any(v.startswith("driver.") or v.endswith(".serial") for v in variables)


def test_discovery_lists_every_ups(ddl_rig: NutRig) -> None:
    target = Target("nut", "discover", 5, 4, settings=_Discovery("127.0.0.1", ddl_rig.port))
    readings = poll_all(NutCollector([], discover=True), [target])
    assert set(readings) == {ups_name(p) for p in DUMPS} | {"junk", "absurd"}
    assert readings["junk"].ok and readings[ups_name(DUMPS[0])].ok


def test_discovery_without_upsd_is_silent() -> None:
    collector = _factory(Config.model_validate({}))
    assert collector is not None and collector.discover
    assert [t.settings for t in collector.targets()] == [_Discovery("127.0.0.1", 3493)]
    target = Target("nut", "discover", 5, 4, settings=_Discovery("127.0.0.1", free_port()))
    assert poll_all(collector, [target]) == {}  # nothing listens: no readings, no "down"
    assert _factory(Config.model_validate({"ups": []})) is None


def test_absurd_status_marks_only_that_ups_down(ddl_rig: NutRig) -> None:
    ddl_rig.set("absurd", "ups.status", "OL " + "GARBAGE" * 10)
    try:
        readings = poll_all(NutCollector([entry("absurd", ddl_rig.port),
                                          entry("junk", ddl_rig.port)]))
    finally:
        ddl_rig.set("absurd", "ups.status", "OL")
    assert not readings["absurd"].ok
    assert readings["absurd"].reason == "protocol"
    assert "absurd ups.status" in readings["absurd"].message
    assert readings["junk"].ok


def test_value_set_through_upsd_with_upsrw(ddl_rig: NutRig) -> None:
    ddl_rig.upsrw("junk", "battery.charge", "42")
    readings = poll_all(NutCollector([entry("junk", ddl_rig.port)]))
    assert get(readings["junk"], "upkeep_ups_battery_charge_ratio") == pytest.approx(0.42)


def test_unknown_ups_is_a_config_error(ddl_rig: NutRig) -> None:
    readings = poll_all(NutCollector([entry("nope", ddl_rig.port)]))
    assert (readings["nope"].ok, readings["nope"].reason) == (False, "config")
    assert "UNKNOWN-UPS" in readings["nope"].message


def test_credentials_checked_and_never_shown(ddl_rig: NutRig) -> None:
    name = ups_name(DUMPS[0])
    good = entry("good", ddl_rig.port, ups=name, username="monitor", password="monpass")
    bad = entry("bad", ddl_rig.port, ups=name, username="monitor", password="s3cret-wrong")
    readings = poll_all(NutCollector([good, bad]))
    assert readings["good"].ok
    assert (readings["bad"].ok, readings["bad"].reason) == (False, "auth")
    assert "ACCESS-DENIED" in readings["bad"].message
    assert "s3cret-wrong" not in repr(readings["bad"]) and "monpass" not in repr(readings["good"])
    # the LOGIN check leaves no upsmon client behind
    assert ddl_rig.command(f"GET NUMLOGINS {name}") == [f"NUMLOGINS {name} 0"]


def test_connection_is_reused_between_polls(ddl_rig: NutRig) -> None:
    name = ups_name(DUMPS[0])

    async def run() -> tuple[int, int]:
        client = NutClient("127.0.0.1", ddl_rig.port, timeout=2)
        try:
            await client.list_var(name)
            first = id(client._writer)
            await client.list_var(name)
            return first, id(client._writer)
        finally:
            await client.aclose()

    first, second = asyncio.run(run())
    assert first == second


def test_required_tls_against_plain_upsd(ddl_rig: NutRig) -> None:
    name = ups_name(DUMPS[0])
    readings = poll_all(NutCollector([entry("tls", ddl_rig.port, ups=name,
                                            tls={"required": True})]))
    assert (readings["tls"].ok, readings["tls"].reason) == (False, "tls")
    assert "refused STARTTLS" in readings["tls"].message
    assert "FEATURE-NOT-CONFIGURED" in readings["tls"].message
    optional = poll_all(NutCollector([entry("opt", ddl_rig.port, ups=name,
                                            tls={"required": False})]))
    assert optional["opt"].ok and optional["opt"].info["nut"]["tls"] is False


# --- failures: stale and killed drivers, dead ports, silent listeners ----------------------

@pytest.fixture(scope="module")
def bad_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NutRig]:
    rig = NutRig(tmp_path_factory.mktemp("nut-bad"), maxage=3)
    for name in ("healthy", "stale", "killed"):
        rig.add_ups(name, {"ups.status": "OL", "battery.charge": "100", "ups.load": "10"})
    with rig:
        yield rig


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def loop() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


def test_failures_are_isolated_and_bounded(bad_rig: NutRig, silent_listener: int) -> None:
    bad_rig.pause_driver("stale")
    bad_rig.kill_driver("killed")
    try:
        time.sleep(bad_rig.maxage + 2)  # past MAXAGE: upsd calls the paused driver stale
        collector = NutCollector([
            entry("healthy", bad_rig.port), entry("stale", bad_rig.port),
            entry("killed", bad_rig.port), entry("dead", free_port()),
            entry("silent", silent_listener)])
        started = time.monotonic()
        readings = poll_all(collector)
        elapsed = time.monotonic() - started
    finally:
        bad_rig.resume_driver("stale")
        bad_rig.start_driver("killed")
    reasons = {name: (r.ok, r.reason) for name, r in readings.items()}
    assert reasons == {"healthy": (True, ""), "stale": (False, "stale"),
                       "killed": (False, "driver"), "dead": (False, "unreachable"),
                       "silent": (False, "timeout")}
    assert "DATA-STALE" in readings["stale"].message
    assert "DRIVER-NOT-CONNECTED" in readings["killed"].message
    assert "did not answer" in readings["silent"].message
    # each target bounded by its own 2 s timeout, all polled concurrently
    assert readings["silent"].duration < 2.0
    assert elapsed < 3.0


def test_reconnects_after_upsd_restart(bad_rig: NutRig) -> None:
    async def run() -> tuple[str, str]:
        client = NutClient("127.0.0.1", bad_rig.port, timeout=3)
        try:
            first = await client.get_var("healthy", "ups.status")
            assert bad_rig.upsd is not None
            bad_rig.upsd.terminate()
            bad_rig.upsd.wait(5)
            await asyncio.to_thread(bad_rig.restart_upsd)
            second = await client.get_var("healthy", "ups.status")
            return first, second
        finally:
            await client.aclose()

    assert asyncio.run(run()) == ("OL", "OL")


# --- STARTTLS ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NutRig]:
    rig = NutRig(tmp_path_factory.mktemp("nut-tls"), tls=True)
    rig.add_ups("secure", {"ups.status": "OL", "battery.charge": "77", "ups.mfr": "APC",
                           "ups.model": "Smart-UPS 1500"})
    with rig:
        yield rig


def test_starttls_verified_by_ca_file_and_by_fingerprint(tls_rig: NutRig) -> None:
    assert tls_rig.cert_pem is not None and tls_rig.cert_sha256 is not None
    pin = ":".join(tls_rig.cert_sha256[i:i + 2] for i in range(0, 64, 2)).upper()
    readings = poll_all(NutCollector([
        entry("by-ca", tls_rig.port, ups="secure", tls={"ca_file": str(tls_rig.cert_pem)},
              username="monitor", password="monpass"),
        entry("by-pin", tls_rig.port, ups="secure", tls={"cert_fingerprint": pin}),
        entry("wrong-pin", tls_rig.port, ups="secure", tls={"cert_fingerprint": "ab" * 32}),
        entry("untrusted", tls_rig.port, ups="secure", tls={}),
    ]))
    for name in ("by-ca", "by-pin"):
        assert readings[name].ok, readings[name].message
        assert readings[name].info["nut"]["tls"] is True
        assert get(readings[name], "upkeep_ups_battery_charge_ratio") == pytest.approx(0.77)
    assert (readings["wrong-pin"].ok, readings["wrong-pin"].reason) == (False, "tls")
    assert "fingerprint" in readings["wrong-pin"].message
    assert (readings["untrusted"].ok, readings["untrusted"].reason) == (False, "tls")
    assert "CERTIFICATE_VERIFY_FAILED" in readings["untrusted"].message


def test_tls_settings_in_client_directly(tls_rig: NutRig) -> None:
    async def run() -> tuple[bool, str]:
        client = NutClient("127.0.0.1", tls_rig.port, timeout=3,
                           tls=TlsSettings(ca_file=str(tls_rig.cert_pem)))
        try:
            value = await client.get_var("secure", "ups.model")
            return client.tls_active, value
        finally:
            await client.aclose()

    assert asyncio.run(run()) == (True, "Smart-UPS 1500")


def test_seq_fixture_drives_a_power_failure(tmp_path: Path) -> None:
    rig = NutRig(tmp_path)
    fast = tmp_path / "fast.seq"  # the fixture's 3 s steps, at 1 s
    fast.write_text((FIXTURES / "power-failure.seq").read_text().replace("TIMER 3", "TIMER 1"))
    rig.add_ups("loop", fast)
    seen: set[tuple[str, ...]] = set()
    with rig:
        collector = NutCollector([entry("loop", rig.port)])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(seen) < 3:
            reading = poll_all(collector)["loop"]
            assert reading.ok, reading.message
            seen.add(tuple(reading.info["status"]))
            time.sleep(0.3)
    assert seen == {("OL",), ("OB", "DISCHRG"), ("OB", "DISCHRG", "LB")}
