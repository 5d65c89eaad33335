"""A ``nut:`` block without ``ups:``: every UPS its upsd lists, against real upsd + dummy-ups
(two UPS on one upsd, one added and one removed at run time) and, for what upsd 2.8 cannot be
made to do, a scripted loopback server. Also NUT's joined alarms and the role-less user."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collectors.test_nut_upsd import get, poll_all
from tests.nut_rig import NutRig, ScriptedUpsd
from upkeep.collectors.nut import NutCollector, _factory
from upkeep.config import Config
from upkeep.config.ups import UpsConfig

FAST = {"interval": "3s", "timeout": "2s"}


def nut_entry(name: str, port: int, **nut: Any) -> UpsConfig:
    return UpsConfig.model_validate({"name": name, "nut": {"host": "127.0.0.1", "port": port,
                                                           **FAST, **nut}})


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[NutRig]:
    rig = NutRig(tmp_path)
    rig.add_ups("alpha", {"ups.status": "OL", "battery.charge": "91",
                          "ups.alarm": "Replace battery! Shutdown imminent!"})
    rig.add_ups("beta", {"ups.status": "OB DISCHRG", "battery.charge": "40"})
    with rig:
        yield rig


def test_nut_block_without_ups_monitors_every_ups_of_that_upsd(rig: NutRig) -> None:
    collector = NutCollector([nut_entry("server-room", rig.port)])
    readings = poll_all(collector)
    assert set(readings) == {"alpha", "beta"}, {n: r.message for n, r in readings.items()}
    assert readings["alpha"].ok and readings["beta"].ok
    assert get(readings["alpha"], "upkeep_ups_battery_charge_ratio") == pytest.approx(0.91)
    assert get(readings["beta"], "upkeep_ups_status", flag="OB") == 1
    assert readings["beta"].info["nut"] == {"host": "127.0.0.1", "port": rig.port,
                                            "ups": "beta", "tls": False,
                                            "entry": "server-room"}


def test_ups_added_appears_and_removed_is_reported_down(rig: NutRig) -> None:
    collector = NutCollector([nut_entry("server-room", rig.port)])
    (target,) = collector.targets()
    assert poll_all(collector, [target]).keys() == {"alpha", "beta"}
    rig.add_ups("gamma", {"ups.status": "OL", "battery.charge": "77"})
    after_add = poll_all(collector, [target])
    assert after_add.keys() == {"alpha", "beta", "gamma"}
    assert get(after_add["gamma"], "upkeep_ups_battery_charge_ratio") == pytest.approx(0.77)
    rig.remove_ups("beta")
    after_remove = poll_all(collector, [target])
    assert after_remove.keys() == {"alpha", "beta", "gamma"}
    beta = after_remove["beta"]
    assert (beta.ok, beta.reason) == (False, "config")
    assert "no longer lists" in beta.message and "beta" in beta.message
    assert after_remove["alpha"].ok and after_remove["gamma"].ok


def test_same_ups_name_on_two_upsd_gets_unique_labels(rig: NutRig, tmp_path: Path) -> None:
    west = NutRig(tmp_path / "west")
    west.add_ups("alpha", {"ups.status": "OL", "battery.charge": "55"})
    west.add_ups("west-only", {"ups.status": "OL"})
    with west:
        collector = NutCollector([nut_entry("east", rig.port), nut_entry("west", west.port)])
        readings = poll_all(collector)
    assert set(readings) == {"alpha@east", "beta@east", "alpha@west", "west-only@west"}
    assert get(readings["alpha@west"], "upkeep_ups_battery_charge_ratio") == pytest.approx(0.55)
    assert get(readings["alpha@east"], "upkeep_ups_battery_charge_ratio") == pytest.approx(0.91)
    assert all(r.ok for r in readings.values())


def test_one_discovering_entry_keeps_plain_names_unless_taken(rig: NutRig) -> None:
    # "beta" is another entry's name: the discovered beta may not take it
    config = Config.model_validate({"ups": [
        {"name": "server-room", "nut": {"host": "127.0.0.1", "port": rig.port, **FAST}},
        {"name": "beta", "nut": {"host": "127.0.0.1", "port": rig.port, "ups": "alpha",
                                 **FAST}}]})
    collector = _factory(config)
    assert collector is not None
    readings = poll_all(collector)
    assert set(readings) == {"alpha", "beta@server-room", "beta"}
    # the entry with ups: set behaves exactly as before: its own name, that UPS's data
    assert get(readings["beta"], "upkeep_ups_battery_charge_ratio") == pytest.approx(0.91)
    assert get(readings["beta@server-room"], "upkeep_ups_battery_charge_ratio") == \
        pytest.approx(0.40)


def test_nut_alarms_are_split_on_the_texts_drivers_emit(rig: NutRig) -> None:
    readings = poll_all(NutCollector([nut_entry("a", rig.port, ups="alpha")]))
    assert readings["a"].info["alarms"] == ["replace_battery", "shutdown_imminent"]
    assert get(readings["a"], "upkeep_ups_alarm", alarm="shutdown_imminent") == 1
    assert get(readings["a"], "upkeep_ups_battery_replace_needed") == 1


def test_login_refused_for_a_user_without_upsmon_role(rig: NutRig) -> None:
    readings = poll_all(NutCollector([
        nut_entry("reader", rig.port, ups="alpha", username="reader", password="readpass")]))
    reading = readings["reader"]
    assert (reading.ok, reading.reason) == (False, "auth")
    assert "ACCESS-DENIED" in reading.message
    assert "upsmon" in reading.message and "upsmon secondary" in reading.message
    assert "readpass" not in repr(reading)


# --- bad input: what upsd 2.8 itself never sends ----------------------------------------

GOOD_VARS = {"ups.status": "OL", "battery.charge": "66", "ups.alarm": "X" * 4096}


def test_bad_upsd_answers_give_clear_reasons_and_stay_isolated(rig: NutRig) -> None:
    empty = ScriptedUpsd({"LIST UPS": ScriptedUpsd.ups_list()})
    refused = ScriptedUpsd({"LIST UPS": ["ERR ACCESS-DENIED"]})
    odd = ScriptedUpsd({
        "LIST UPS": ScriptedUpsd.ups_list('UPS my ups "spaces in the name"',
                                          'UPS good "ห้องเซิร์ฟเวอร์ ชั้น 2 \\"A\\""'),
        "LIST VAR good": ScriptedUpsd.var_list("good", GOOD_VARS),
        "LIST CLIENT good": ["BEGIN LIST CLIENT good", "END LIST CLIENT good"]})
    with empty, refused, odd:
        collector = NutCollector([nut_entry("empty", empty.port),
                                  nut_entry("refused", refused.port),
                                  nut_entry("odd", odd.port),
                                  nut_entry("real", rig.port, ups="beta")])
        started = time.monotonic()
        readings = poll_all(collector)
        elapsed = time.monotonic() - started
    states = {name: (r.ok, r.reason) for name, r in readings.items()}
    assert states == {"empty": (False, "config"), "refused": (False, "auth"),
                      "my_ups@odd": (False, "config"), "good@odd": (True, ""),
                      "real": (True, "")}
    assert "lists no UPS" in readings["empty"].message
    assert "LIST UPS" in readings["refused"].message
    assert "ACCESS-DENIED" in readings["refused"].message
    assert "'my ups'" in readings["my_ups@odd"].message
    good = readings["good@odd"]
    assert get(good, "upkeep_ups_battery_charge_ratio") == pytest.approx(0.66)
    alarms = [s.labels["alarm"] for s in good.samples if s.metric == "upkeep_ups_alarm"]
    assert 1 <= len(alarms) <= 16 and all(len(a) <= 64 for a in alarms)
    assert elapsed < 3.0
