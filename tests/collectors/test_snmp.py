"""The SNMP collector against a real agent: snmpsim serving the project's UPS recordings over
v1, v2c and v3 (SHA-2 + AES), on 127.0.0.1 and ::1."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.snmp_rig import SnmpSim, V3User, fixture_records, huge_alarm_table
from upkeep.agents.runtime import poll_target
from upkeep.collectors.snmp import SnmpCollector
from upkeep.collectors.snmp_mibs import MAX_ALARM_ROWS
from upkeep.config.ups import SnmpConfig
from upkeep.reading import Reading

UPSMON = V3User("upsmon", "authpass123", "privpass123")  # SHA256 + AES128
UPSMON512 = V3User("upsmon512", "authpass512", "privpass512", "SHA512", "AES256")
HUGE_ALARMS = 5000
A = "1.3.6.1.4.1.318.1.1.1"
U = "1.3.6.1.2.1.33.1"


def _ts(y: int, mo: int, d: int) -> float:
    return datetime(y, mo, d, tzinfo=UTC).timestamp()


NOT_A_UPS = """1.3.6.1.2.1.1.1.0|4|Linux router
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10
1.3.6.1.2.1.1.3.0|67|12345
"""


@pytest.fixture(scope="module")
def sim() -> Iterator[SnmpSim]:
    names = ("ups-mib", "ups-mib-alarm", "apc-ups", "eaton-ups", "ups-mib-badtypes")
    records = {name: fixture_records(name) for name in names}
    records["huge-alarm"] = huge_alarm_table(HUGE_ALARMS)
    records["not-a-ups"] = NOT_A_UPS
    records["long-ident"] = long_ident()
    rig = SnmpSim(records, users=[UPSMON, UPSMON512], ipv6=True)
    rig.clone("ups-mib", ["flip-ups-mib"])
    rig.clone("apc-ups", ["flip-apc"])
    rig.clone("eaton-ups", ["flip-eaton"])
    with rig:
        yield rig


def long_ident() -> str:
    """UPS-MIB with identity strings so long that one GET answer for the whole profile is
    about 4.5 KB: more than gufo-snmp's 4080-byte receive buffer, and than a 1472-byte PDU."""
    lines = []
    for line in fixture_records("ups-mib").splitlines():
        oid, tag, value = line.split("|", 2)
        if oid.startswith(f"{U}.1.") and tag == "4":
            value = (value + " ") * (1400 // (len(value) + 1))
        lines.append(f"{oid}|{tag}|{value}")
    return "\n".join(lines)


def _cfg(sim: SnmpSim, community: str, **kw: Any) -> SnmpConfig:
    kw.setdefault("timeout", "2s")
    return SnmpConfig(**sim.snmp_config(community, **kw))


def _poll_all(collector: SnmpCollector) -> dict[str, Reading]:
    async def run() -> dict[str, Reading]:
        try:
            out = await asyncio.gather(*(poll_target(collector, t)
                                         for t in collector.targets()))
            return {r.target: r for readings in out for r in readings}
        finally:
            await collector.aclose()
    return asyncio.run(run())


def _poll(sim: SnmpSim, community: str, **kw: Any) -> Reading:
    return _poll_all(SnmpCollector([("ups", _cfg(sim, community, **kw))]))["ups"]


def _series(reading: Reading) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.metric, frozenset(s.labels.items())): s.value for s in reading.samples}


def _m(reading: Reading, name: str, **labels: str) -> float | None:
    return _series(reading).get((name, frozenset({"ups": reading.target, **labels}.items())))


def _flags(reading: Reading) -> set[str]:
    return {dict(labels)["flag"] for (name, labels), value in _series(reading).items()
            if name == "upkeep_ups_status" and value == 1}


UPS_MIB_EXPECTED = {
    "upkeep_ups_battery_charge_ratio": 1.0, "upkeep_ups_battery_runtime_seconds": 2520.0,
    "upkeep_ups_battery_runtime_low_seconds": 120.0, "upkeep_ups_load_ratio": 0.37,
    "upkeep_ups_input_voltage_volts": 231, "upkeep_ups_output_voltage_volts": 230,
    "upkeep_ups_input_frequency_hertz": 50.0, "upkeep_ups_battery_voltage_volts": 54.6,
    "upkeep_ups_realpower_watts": 812, "upkeep_ups_battery_replace_needed": 0,
}
APC_EXPECTED = {
    "upkeep_ups_battery_charge_ratio": 1.0, "upkeep_ups_battery_runtime_seconds": 2160.0,
    "upkeep_ups_battery_runtime_low_seconds": 120.0, "upkeep_ups_load_ratio": 0.234,
    "upkeep_ups_input_voltage_volts": 231.2, "upkeep_ups_output_voltage_volts": 230.1,
    "upkeep_ups_input_frequency_hertz": 49.9, "upkeep_ups_battery_voltage_volts": 27.3,
    "upkeep_ups_realpower_watts": 205, "upkeep_ups_battery_replace_needed": 0,
    "upkeep_ups_manufactured_timestamp_seconds": _ts(2019, 6, 15),
    "upkeep_ups_battery_installed_timestamp_seconds": _ts(2023, 9, 2),
    "upkeep_ups_selftest_last_timestamp_seconds": _ts(2025, 11, 20),
}
EATON_EXPECTED = {
    "upkeep_ups_battery_charge_ratio": 1.0, "upkeep_ups_battery_runtime_seconds": 17218,
    "upkeep_ups_load_ratio": 0.09, "upkeep_ups_input_voltage_volts": 243,
    "upkeep_ups_output_voltage_volts": 231, "upkeep_ups_input_frequency_hertz": 50.0,
    "upkeep_ups_battery_voltage_volts": 78, "upkeep_ups_realpower_watts": 50,
    "upkeep_ups_battery_installed_timestamp_seconds": _ts(2020, 6, 1),
    "upkeep_ups_battery_replace_needed": 0,
}
CASES = {
    "ups-mib": ("ups-mib", UPS_MIB_EXPECTED, ("EATON", "9PX 2200i RT 3U", "", "INV: 01.17.4945"),
                ("battery", 35)),
    "apc-ups": ("apc", APC_EXPECTED, ("APC", "Smart-UPS 1500", "AS1925123456",
                                      "UPS 09.3 (ID18)"), ("battery", 27.2)),
    "eaton-ups": ("eaton", EATON_EXPECTED, ("EATON", "Eaton 9PX 2200i RT 3U", "",
                                            "INV: 01.17.4945"), ("ambient", 24)),
}
AUTHS = {"v2c": {}, "v1": {"version": "1"}, "v3-sha256-aes": {"user": "upsmon"},
         "v3-sha512-aes256": {"user": "upsmon512"}}


@pytest.mark.parametrize("auth", list(AUTHS))
@pytest.mark.parametrize("community", list(CASES))
def test_exact_values_every_mib_every_version(sim: SnmpSim, community: str, auth: str) -> None:
    mib, expected, (mfr, model, serial, firmware), (sensor, celsius) = CASES[community]
    reading = _poll(sim, community, **AUTHS[auth])
    assert reading.ok, reading.message
    assert reading.info["mib"] == mib  # auto-detected
    for name, value in expected.items():
        assert _m(reading, name) == pytest.approx(value), name
    assert _m(reading, "upkeep_ups_temperature_celsius", sensor=sensor) == celsius
    assert _m(reading, "upkeep_ups_info", source="snmp", mfr=mfr, model=model, serial=serial,
              firmware=firmware) == 1
    assert _flags(reading) == {"OL"}
    assert _m(reading, "upkeep_ups_selftest_result", result="passed") == 1
    assert _m(reading, "upkeep_ups_status", flag="OB") == 0
    assert reading.info["status"] == ["OL"] and reading.info["summary"].startswith("on line (OL), charge")


@pytest.mark.parametrize("engine", ["auto", "pysnmp"])
def test_v2c_engines(sim: SnmpSim, engine: str) -> None:
    """v2c goes through gufo-snmp where it is installed (no pysnmp engine is ever made), and
    through pysnmp where it is not (``engine="pysnmp"``: other platforms): same readings."""
    collector = SnmpCollector([(n, _cfg(sim, n)) for n in CASES], engine=engine)

    # pysnmp's side (``snmp_pysnmp``: imported only when needed) is not even made for gufo
    assert (collector._pysnmp is None) == (engine == "auto")

    async def run() -> tuple[dict[str, Reading], int, int]:
        out = await asyncio.gather(*(poll_target(collector, t) for t in collector.targets()))
        engines = len(collector._pysnmp.engines) if collector._pysnmp is not None else 0
        sockets = sum(1 for s in collector._sessions.values() if s.fast is not None)
        await collector.aclose()
        return {r.target: r for rs in out for r in rs}, engines, sockets

    readings, engines, sockets = asyncio.run(run())
    for name, (mib, expected, _ident, _temp) in CASES.items():
        assert readings[name].ok, readings[name].message
        assert readings[name].info["mib"] == mib
        for metric, value in expected.items():
            assert _m(readings[name], metric) == pytest.approx(value), (name, metric)
    assert (engines, sockets) == ((0, 3) if engine == "auto" else (1, 0))
    assert all(s.fast is None for s in collector._sessions.values())  # closed by aclose


@pytest.mark.parametrize("auth", ["v2c", "v1", "v3-sha256-aes"])
def test_answer_bigger_than_a_pdu_is_split(sim: SnmpSim, auth: str) -> None:
    """A profile's answer of ~5 KB: gufo-snmp cannot decode it (4080-byte buffer) and says
    nothing else, so the GET is halved like a tooBig until the halves fit."""
    reading = _poll(sim, "long-ident", **AUTHS[auth])
    assert reading.ok, reading.message
    assert reading.info["mib"] == "ups-mib"
    assert _m(reading, "upkeep_ups_battery_charge_ratio") == 1.0
    info = [s.labels for s in reading.samples if s.metric == "upkeep_ups_info"]
    assert info and info[0]["mfr"].startswith("EATON EATON"), info


def test_alarm_table_decoded_by_name(sim: SnmpSim) -> None:
    reading = _poll(sim, "ups-mib-alarm")
    assert reading.ok, reading.message
    assert reading.info["alarms"] == ["OnBattery", "LowBattery", "BatteryBad"]
    for alarm in ("OnBattery", "LowBattery", "BatteryBad"):
        assert _m(reading, "upkeep_ups_alarm", alarm=alarm) == 1
    assert _flags(reading) == {"OB", "LB", "RB", "ALARM"}
    assert _m(reading, "upkeep_ups_battery_replace_needed") == 1
    assert _m(reading, "upkeep_ups_battery_charge_ratio") == 0.12
    assert _m(reading, "upkeep_ups_battery_runtime_seconds") == 60
    assert _m(reading, "upkeep_ups_selftest_result", result="failed") == 1
    assert reading.info["replace_needed"] is True


def test_ipv6_loopback(sim: SnmpSim) -> None:
    reading = _poll_all(SnmpCollector([("ups", SnmpConfig(
        host="::1", port=sim.port, community="apc-ups", timeout="2s"))]))["ups"]
    assert reading.ok, reading.message
    assert _m(reading, "upkeep_ups_input_voltage_volts") == 231.2


def test_mib_override(sim: SnmpSim) -> None:
    assert _poll(sim, "ups-mib", mib="ups-mib").info["mib"] == "ups-mib"
    wrong = _poll(sim, "ups-mib", mib="apc")
    assert (wrong.ok, wrong.reason) == (False, "config")
    assert "apc" in wrong.message
    not_ups = _poll(sim, "not-a-ups")
    assert (not_ups.ok, not_ups.reason) == (False, "protocol")
    assert "none of UPS-MIB" in not_ups.message


def test_state_flip_via_writecache_online_to_battery(sim: SnmpSim) -> None:
    """SET through snmpsim's writecache between polls of one long-lived collector."""
    collector = SnmpCollector([("u", _cfg(sim, "flip-ups-mib")), ("a", _cfg(sim, "flip-apc")),
                               ("e", _cfg(sim, "flip-eaton"))])

    async def run() -> tuple[dict[str, Reading], dict[str, Reading]]:
        async def once() -> dict[str, Reading]:
            out = await asyncio.gather(*(poll_target(collector, t)
                                         for t in collector.targets()))
            return {r.target: r for rs in out for r in rs}
        before = await once()
        engine = collector.engine()
        await asyncio.to_thread(_power_fails, sim)
        after = await once()
        assert collector.engine() is engine  # one engine for every target and poll
        await collector.aclose()
        return before, after

    before, after = asyncio.run(run())
    assert {name: _flags(r) for name, r in before.items()} == {
        "u": {"OL"}, "a": {"OL"}, "e": {"OL"}}
    assert _flags(after["u"]) == {"OB", "LB"}
    assert _m(after["u"], "upkeep_ups_battery_charge_ratio") == 0.3
    assert _m(after["u"], "upkeep_ups_battery_runtime_seconds") == 300
    assert _flags(after["a"]) == {"OB", "RB"}
    assert _m(after["a"], "upkeep_ups_battery_replace_needed") == 1
    assert _m(after["a"], "upkeep_ups_battery_charge_ratio") == 0.45
    assert _m(after["a"], "upkeep_ups_battery_runtime_seconds") == 600
    assert _flags(after["e"]) == {"OB", "DISCHRG"}
    assert after["u"].info["status"] == ["OB", "LB"]


def _power_fails(sim: SnmpSim) -> None:
    sim.set("flip-ups-mib", f"{U}.4.1.0", 5)  # upsOutputSource battery(5)
    sim.set("flip-ups-mib", f"{U}.2.1.0", 3)  # upsBatteryStatus batteryLow(3)
    sim.set("flip-ups-mib", f"{U}.2.4.0", 30)
    sim.set("flip-ups-mib", f"{U}.2.3.0", 5)  # minutes
    sim.set("flip-apc", f"{A}.4.1.1.0", 3)  # upsBasicOutputStatus onBattery(3)
    sim.set("flip-apc", f"{A}.2.2.4.0", 2)  # upsAdvBatteryReplaceIndicator needs replacing
    sim.set("flip-apc", f"{A}.2.3.1.0", 450, "u")  # high-precision capacity, tenths of %
    sim.set("flip-apc", f"{A}.2.2.3.0", 60000, "t")  # runtime TimeTicks
    sim.set("flip-eaton", "1.3.6.1.4.1.534.1.4.5.0", 5)  # xupsOutputSource battery
    sim.set("flip-eaton", "1.3.6.1.4.1.534.1.2.5.0", 2)  # ABM discharging


# --- bad input -------------------------------------------------------------------------------

@pytest.fixture
def silent_udp() -> Iterator[int]:
    """A UDP port whose socket is open but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_silent_agent_is_a_timeout_bounded_by_the_target_timeout(
        sim: SnmpSim, silent_udp: int) -> None:
    started = time.monotonic()
    reading = _poll_all(SnmpCollector([("ups", SnmpConfig(
        host="127.0.0.1", port=silent_udp, community="x", timeout="1s", retries=2))]))["ups"]
    elapsed = time.monotonic() - started
    assert (reading.ok, reading.reason) == (False, "timeout")
    # bounded by the 1 s timeout (the upper bound leaves room for a loaded machine)
    assert 0.8 <= reading.duration <= 1.5, reading.duration
    assert elapsed < 2.5


@pytest.fixture
def garbage_udp() -> Iterator[int]:
    """A UDP port that answers every datagram with bytes that are not SNMP."""
    import threading

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                _data, peer = sock.recvfrom(65535)
            except TimeoutError:
                continue
            sock.sendto(b"\x30\x82\xff\xff garbage \x00\xff" * 20, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(2)
    sock.close()


def test_garbage_answers_are_dropped_and_end_as_a_timeout(sim: SnmpSim, garbage_udp: int
                                                          ) -> None:
    """pysnmp drops datagrams it cannot decode (UDP may carry strays), so a garbage-speaking
    peer looks silent: reason timeout, bounded, and the good unit beside it unaffected."""
    readings = _poll_all(SnmpCollector([
        ("junk", SnmpConfig(host="127.0.0.1", port=garbage_udp, community="x", timeout="1s")),
        ("good", _cfg(sim, "eaton-ups"))]))
    assert (readings["junk"].ok, readings["junk"].reason) == (False, "timeout")
    assert readings["junk"].duration <= 1.5
    assert readings["good"].ok and readings["good"].info["mib"] == "eaton"


def test_wrong_community_is_a_timeout(sim: SnmpSim) -> None:
    reading = _poll(sim, "no-such-community", timeout="1s")
    assert (reading.ok, reading.reason) == (False, "timeout")
    assert "wrong community" in reading.message
    assert reading.duration <= 1.5


@pytest.mark.parametrize(("change", "needle"), [
    ({"auth": {"protocol": "SHA256", "password": "not-the-key"}}, "digest"),
    ({"priv": {"protocol": "AES", "password": "not-the-key"}}, "ciphertext"),
    ({"user": "intruder"}, "Unknown USM user"),
    ({"auth": {"protocol": "SHA512", "password": "authpass123"}}, "digest"),
])
def test_wrong_v3_credentials_are_auth(sim: SnmpSim, change: dict[str, Any], needle: str
                                       ) -> None:
    cfg = {**sim.snmp_config("ups-mib", user="upsmon"), "timeout": "2s", **change}
    reading = _poll_all(SnmpCollector([("ups", SnmpConfig(**cfg))]))["ups"]
    assert (reading.ok, reading.reason) == (False, "auth")
    assert needle in reading.message
    for secret in ("not-the-key", "authpass123", "privpass123"):
        assert secret not in reading.message


def test_wrong_value_types_are_protocol(sim: SnmpSim) -> None:
    reading = _poll(sim, "ups-mib-badtypes")
    assert (reading.ok, reading.reason) == (False, "protocol")
    assert "charge" in reading.message and "output_source" in reading.message


@pytest.mark.parametrize("version", ["2c", "1"])
def test_huge_alarm_table_is_bounded(sim: SnmpSim, version: str) -> None:
    reading = _poll(sim, "huge-alarm", version=version)  # ok means: within the 2 s timeout
    assert reading.ok, reading.message
    assert len(reading.info["alarms"]) == MAX_ALARM_ROWS
    assert reading.info["alarms"][0] == "oid:1.3.6.1.4.1.99.1.1"


def test_a_dead_target_never_delays_a_good_one(sim: SnmpSim, silent_udp: int) -> None:
    collector = SnmpCollector([
        ("dead", SnmpConfig(host="127.0.0.1", port=silent_udp, community="x", timeout="4s",
                            interval="10s")),
        ("good", _cfg(sim, "apc-ups")),
        ("auth", SnmpConfig(**{**sim.snmp_config("eaton-ups", user="upsmon"),
                               "auth": {"protocol": "SHA256", "password": "wrongwrong"}})),
    ])
    readings = _poll_all(collector)
    # the good one answers long before the dead one's 4 s are up (not after them)
    assert readings["good"].ok and readings["good"].duration < 2.0, readings["good"]
    assert (readings["dead"].reason, readings["auth"].reason) == ("timeout", "auth")
    assert readings["dead"].duration >= 3.5


class LateRelay:
    """A UDP relay in front of the simulator that sends each answer back ``delay`` s late."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        import threading

        self.delay = 0.0
        self.upstream = upstream
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import threading

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
            up.settimeout(2)
            while not self.stop.is_set():
                try:
                    data, peer = self.sock.recvfrom(65535)
                    up.sendto(data, self.upstream)
                    answer = up.recv(65535)
                except TimeoutError:
                    continue
                threading.Timer(self.delay, self.sock.sendto, (answer, peer)).start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def test_a_late_answer_nobody_waits_for_ends_the_watch_and_the_next_poll_works(
        sim: SnmpSim) -> None:
    """v2c sockets stay watched by the loop between requests. An answer that comes after
    the poll timed out finds nobody waiting: the watch ends (no spinning on a readable
    socket), and the next poll watches again and reads its own answer past the stale one."""
    relay = LateRelay((sim.host, sim.port))
    collector = SnmpCollector([("ups", SnmpConfig(host="127.0.0.1", port=relay.port,
                                                   community="eaton-ups", timeout="1s",
                                                   retries=0))])
    target = next(iter(collector.targets()))
    session = collector._sessions["ups"]

    async def run() -> tuple[Reading, float, Reading, Reading]:
        try:
            first = (await poll_target(collector, target))[0]       # answered in time
            await asyncio.sleep(0.1)
            assert session.watched_by is asyncio.get_running_loop()  # still watched
            relay.delay = 1.5
            late = (await poll_target(collector, target))[0]        # the answer comes late
            cpu = time.process_time()
            await asyncio.sleep(1.5)                                # ... now, to nobody
            cpu = time.process_time() - cpu
            assert session.watched_by is None
            relay.delay = 0.0
            again = (await poll_target(collector, target))[0]
            return first, cpu, late, again
        finally:
            await collector.aclose()

    try:
        first, cpu, late, again = asyncio.run(run())
    finally:
        relay.close()
    assert first.ok and again.ok, (first, again)
    assert (late.ok, late.reason) == (False, "timeout")
    assert cpu < 0.3  # a loop spinning on the readable socket would burn the whole 1.5 s
    assert _m(again, "upkeep_ups_battery_charge_ratio") == _m(first,
                                                              "upkeep_ups_battery_charge_ratio")


def test_same_v3_user_with_different_keys_on_two_agents(sim: SnmpSim) -> None:
    """pysnmp keys its user table by (engine ID, user name): two agents with the same user
    name but different keys, polled concurrently and repeatedly on the one engine, must each
    keep their own keys (the collector pins every v3 user to its agent's engine ID)."""
    other_user = V3User("upsmon", "otherauth123", "otherpriv123")
    with SnmpSim({"apc-ups": fixture_records("apc-ups")}, users=[other_user],
                 engine_id="80001f8880aabbccdd01") as other:
        collector = SnmpCollector([
            ("here", SnmpConfig(**{**sim.snmp_config("eaton-ups", user="upsmon"),
                                   "timeout": "2s"})),
            ("there", SnmpConfig(**{**other.snmp_config("apc-ups", user="upsmon"),
                                    "timeout": "2s"}))])

        async def run() -> list[dict[str, Reading]]:
            rounds = []
            for i in range(4):
                if i == 3:
                    # pysnmp forgets peer engine IDs after 300 s: polls must go on after that
                    mp = collector.engine().message_processing_subsystems[3]
                    vars(mp)["_SnmpV3MessageProcessingModel__engineIdCache"].clear()
                out = await asyncio.gather(*(poll_target(collector, t)
                                             for t in collector.targets()))
                rounds.append({r.target: r for rs in out for r in rs})
            # different agents (engine IDs): their keys live side by side in one engine
            assert collector._pysnmp is not None and len(collector._pysnmp.engines) == 1
            await collector.aclose()
            return rounds

        for readings in asyncio.run(run()):
            assert readings["here"].ok, readings["here"].message
            assert readings["there"].ok, readings["there"].message
            assert readings["here"].info["mib"] == "eaton"
            assert readings["there"].info["mib"] == "apc"


@pytest.mark.parametrize("wrong_first", [True, False], ids=["wrong-first", "right-first"])
def test_same_v3_user_with_different_keys_on_one_agent(sim: SnmpSim, wrong_first: bool
                                                       ) -> None:
    """Two entries for the SAME agent (one engine ID) and the same user name, one with a
    wrong auth key: each must be judged by its own keys, whichever is configured (and
    polled) first. pysnmp's USM finds an answer's keys by (engine ID, user name) alone, so
    one engine can hold only one key set per pair: the collector needs a second engine."""
    right = {**sim.snmp_config("ups-mib", user="upsmon"), "timeout": "2s"}
    wrong = {**right, "auth": {"protocol": "SHA256", "password": "not-the-key"}}
    entries = [("wrong", SnmpConfig(**wrong)), ("right", SnmpConfig(**right))]
    collector = SnmpCollector(entries if wrong_first else entries[::-1])

    async def run() -> list[dict[str, Reading]]:
        rounds = []
        for i in range(3):
            targets = collector.targets() if i else collector.targets()[:1]  # one first
            out = await asyncio.gather(*(poll_target(collector, t) for t in targets))
            rounds.append({r.target: r for rs in out for r in rs})
        assert collector._pysnmp is not None
        assert len(collector._pysnmp.engines) == 2  # the second key set, and only it, costs one
        await collector.aclose()
        return rounds

    rounds = asyncio.run(run())
    for readings in rounds[1:]:
        assert readings["right"].ok, readings["right"].message
        assert readings["right"].info["mib"] == "ups-mib"
        assert (readings["wrong"].ok, readings["wrong"].reason) == (False, "auth")
        assert "digest" in readings["wrong"].message
    # net-snmp, an independent client, agrees on which key set is right
    assert sim.get("ups-mib", "1.3.6.1.2.1.1.3.0", user=UPSMON) is not None
    assert sim.get("ups-mib", "1.3.6.1.2.1.1.3.0", user=V3User(
        "upsmon", "not-the-key", "privpass123")) is None


def test_pysmi_is_never_imported_by_the_collector(sim: SnmpSim, tmp_path: Path) -> None:
    """With a pysmi importable, pysnmp's MIB-resolving helpers would load it (and build a
    parser on the event loop); the collector must not touch that path, even while polling
    through pysnmp (v2c goes through gufo-snmp where installed: ``engine="pysnmp"`` here)."""
    fake = tmp_path / "pysmi"
    fake.mkdir()
    (fake / "__init__.py").write_text("")  # importable: pysnmp would import it
    code = (
        "import asyncio, sys\n"
        "from upkeep.collectors.base import load_all\n"
        "load_all()\n"
        "from upkeep.collectors.snmp import SnmpCollector\n"
        "from upkeep.config.ups import SnmpConfig\n"
        f"c = SnmpCollector([('u', SnmpConfig(host='127.0.0.1', port={sim.port}, "
        "community='ups-mib-alarm'))], engine='pysnmp')\n"
        "async def main():\n"
        "    r = await c.poll(c.targets()[0])\n"
        "    await c.aclose()\n"
        "    return r\n"
        "r = asyncio.run(main())\n"
        "assert r.ok and r.info['alarms'], r\n"
        "assert 'pysnmp.entity.rfc3413.cmdgen' in sys.modules  # it did poll through pysnmp\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pysmi', 'lark', 'ply'))\n"
        "print('LOADED', bad)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    # from tmp_path: -c puts the working directory first on sys.path, where the repository's
    # bare upkeep/ folder would hide a non-editable install's mapped rooms
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LOADED []" in result.stdout


def _nut_vars_of(info: dict[str, Any]) -> dict[str, str]:
    """The NUT variables a upsd would report for the state an SNMP reading saw."""
    out = {"ups.status": " ".join(info["status"])}
    for var, key, scale in (("battery.charge", "battery_charge", 100),
                            ("battery.runtime", "battery_runtime", 1),
                            ("ups.load", "load", 100)):
        if info[key] is not None:
            out[var] = f"{info[key] * scale:g}"
    if info["battery_installed"] is not None:
        out["battery.date"] = datetime.fromtimestamp(info["battery_installed"], UTC).strftime(
            "%Y-%m-%d")
    if info["replace_needed"]:
        out["ups.alarm"] = "Replace battery!"
    return out


@pytest.mark.parametrize("community", ["ups-mib", "apc-ups", "eaton-ups", "ups-mib-alarm"])
def test_nut_and_snmp_word_one_state_alike(sim: SnmpSim, community: str) -> None:
    """One summary wording whatever the source: the UI and `upkeep probe` show one sentence."""
    from upkeep.collectors.nut import reading_from_vars

    snmp = _poll(sim, community)
    assert snmp.ok, snmp.message
    nut = reading_from_vars("ups", _nut_vars_of(dict(snmp.info)))
    assert nut.info["status"] == snmp.info["status"]
    assert nut.info["summary"] == snmp.info["summary"]
    assert snmp.info["summary"].startswith(("on line (", "ON BATTERY", "forced shutdown"))
