"""Asset discovery in a running agent from a real upsd + dummy-ups serving NUT DDL dumps.

One module-scoped upsd (tests/nut_rig.py) replays real devices: an APC Back-UPS with the
placeholder battery date 2001/09/25, an APC Smart-UPS that is also in the office's imported
list (matched by serial, conflicting manufacturer shown), an HP whose self-test failed, and
two MGE units that both report the serial "unknown" (they must stay two assets).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.nut_rig import NutRig
from tests.support import NUT_DDL, metric, parse_metrics, run_cli, wait_for
from upkeep.kit.thai import BANGKOK
from upkeep.policies.assets import today_bangkok

DDL = NUT_DDL
DUMPS = {
    "backups": "APC__Back-UPS_XS_1000M__usbhid-ups__2.7.4.1__01.dev",
    "smart": "APC__Smart-UPS_2200_RM_XL__snmp-ups__2.7.1__01.dev",
    "hp": "HP__R5500_XR__snmp-ups__2.6.3__01.dev",
    "mge1": "MGE_UPS_SYSTEMS__Ellipse_1200_USBS__mge-shut__2.0.2__01.dev",
    "mge2": "MGE_UPS_SYSTEMS__Pulsar_Evolution_800_Tower_UPS__mge-shut__2.0.3__01.dev",
}
TOKEN = "assets-test-token-0123456789"
OFFICE_LIST = ("asset_tag,class,site,manufacturer,model,serial,in_service,price\n"
               "7440-001-0009,ups,hq,American Power Conversion,Smart-UPS 2200 RM XL,"
               "qs0411211473,2016-11-15,45000\n")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NutRig]:
    nut = NutRig(tmp_path_factory.mktemp("nut-assets"))
    for name, dump in DUMPS.items():
        nut.add_ups(name, DDL / dump)
    with nut:
        yield nut


@pytest.fixture(scope="module")
def agent(rig: NutRig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("agent-assets")
    dmi = tmp / "dmi"
    dmi.mkdir()
    (dmi / "sys_vendor").write_text("Dell Inc.\n")
    (dmi / "product_name").write_text("PowerEdge R740\n")
    (dmi / "product_serial").write_text("7XQ1234\n")
    config = {
        "site": "hq", "web": {"api_token": TOKEN},
        "host": {"enabled": True, "interval": "2s", "timeout": "1s"},
        "ups": [{"name": name, "nut": {"host": "127.0.0.1", "port": rig.port, "ups": name,
                                       "interval": "2s", "timeout": "1s"}}
                for name in DUMPS],
        "policies": {"assets": {"dmi_dir": str(dmi)}},
    }
    # the office's list is imported before the agent ever saw the UPS
    from tests.support import AgentProcess

    process = AgentProcess(tmp, config)
    (tmp / "office.csv").write_text(OFFICE_LIST, encoding="utf-8")
    done = run_cli("assets", "import", "-c", str(process.config_path), str(tmp / "office.csv"))
    assert done.returncode == 0, done.stderr
    process.start()
    try:
        wait_for(lambda: len(process.get("/api/v1/assets").json()["assets"]) >= 11, timeout=30,
                 message="5 UPS + 5 batteries + the host discovered")
        yield process
    finally:
        process.stop()


def _assets(agent: Any) -> list[dict[str, Any]]:
    return agent.get("/api/v1/assets").json()["assets"]


def _by_ref(agent: Any) -> dict[str, dict[str, Any]]:
    return {a["ref"] or a["name"]: a for a in _assets(agent)}


def test_ups_units_discovered_and_matched_by_serial(agent: Any) -> None:
    assets = _by_ref(agent)
    backups = assets["ups:hq/backups"]
    assert backups["serial"] == "3B1941X68111"
    assert backups["values"]["model"] == "Back-UPS XS 1000M"
    assert backups["values"]["manufactured"] == "2019-10-11"
    smart = assets["ups:hq/smart"]
    # the imported row (lower-case serial) and the discovered UPS are one asset
    assert (smart["tag"], smart["serial"]) == ("7440-001-0009", "QS0411211473")
    assert smart["values"]["in_service"] == "2016-11-15"
    assert smart["values"]["manufacturer"] == "American Power Conversion"  # imported wins
    assert smart["conflicts"] == [{"field": "manufacturer",
                                   "imported": "American Power Conversion",
                                   "discovered": "APC"}]
    assert smart["end_of_life"]["due"] == "2026-11-15"
    assert smart["end_of_life"]["fiscal_year"] == 2570
    # two units reporting the serial "unknown" stay two assets
    assert assets["ups:hq/mge1"]["serial"] is None and assets["ups:hq/mge2"]["serial"] is None
    assert assets["ups:hq/mge1"]["id"] != assets["ups:hq/mge2"]["id"]


def test_batteries(agent: Any) -> None:
    assets = _by_ref(agent)
    placeholder = assets["battery:3B1941X68111"]
    assert placeholder["values"]["class"] == "ups_battery"
    assert placeholder["values"].get("in_service") in (None, "")  # 2001/09/25 is no date
    assert placeholder["end_of_life"]["state"] == "unknown"
    smart = assets["battery:QS0411211473"]
    assert smart["values"]["in_service"] == "2011-10-11"
    assert smart["end_of_life"]["due"] == "2014-10-11"
    assert smart["end_of_life"]["state"] == "overdue"
    failed = assets["battery:ups:hq/hp"]
    assert failed["values"]["selftest_result"] == "failed"
    assert failed["end_of_life"]["reason"] == "battery_selftest_failed"
    assert failed["end_of_life"]["due"] == today_bangkok().isoformat()


def test_host_with_dmi(agent: Any) -> None:
    host = next(a for a in _assets(agent) if a["values"].get("class") == "server")
    assert host["serial"] == "7XQ1234"
    assert host["values"]["manufacturer"] == "Dell Inc."
    assert host["values"]["model"] == "PowerEdge R740"
    assert host["values"]["os"]


def test_metrics(agent: Any) -> None:
    # the asset metrics are recomputed in the background once discovery changed the register
    # (within a second), not inside the scrape. Discovery adds the units one poll at a time, so
    # a scrape can show a register that still lacks a battery: wait until the metrics count
    # every battery in the register.
    # (the fixture waited until all five units and their batteries were registered)
    batteries = sum(a["values"].get("class") == "ups_battery" for a in _assets(agent))
    assert batteries == 5

    def batteries_counted() -> dict[Any, float] | None:
        found = parse_metrics(agent.metrics())
        counted = sum(value for (name, labels), value in found.items()
                      if name == "upkeep_assets" and ("class", "ups_battery") in labels)
        return found if counted == batteries else None

    series = wait_for(batteries_counted, timeout=10, message="every battery asset in the metrics")
    due = datetime(2026, 11, 15, tzinfo=BANGKOK).timestamp()
    assert metric(series, "upkeep_asset_end_of_life_timestamp_seconds",
                  asset="7440-001-0009", **{"class": "ups"}) == due
    # the Smart-UPS battery (2011 + 3 y); the HP one is due today (failed self-test)
    assert metric(series, "upkeep_assets", state="overdue", **{"class": "ups_battery"}) == 1
    assert metric(series, "upkeep_assets", state="due_this_fiscal_year",
                  **{"class": "ups_battery"}) == 1
    assert metric(series, "upkeep_assets", state="unknown", **{"class": "ups_battery"}) >= 1


def test_import_over_the_api(agent: Any, tmp_path: Path) -> None:
    body = (b"asset_tag,class,site,model,in_service\n"
            b"PC-1,pc,hq,OptiPlex,2019-03-01\n"
            b"PC-2,toaster,hq,x,2019-03-01\n")
    url = f"{agent.url}/api/v1/assets/import?filename=pcs.csv"
    assert httpx.post(url, content=body, timeout=10).status_code == 401
    assert httpx.post(url, content=body, timeout=10,
                      headers={"Authorization": "Bearer nope-nope-nope-nope"}).status_code == 403
    auth = {"Authorization": f"Bearer {TOKEN}"}
    first = httpx.post(url, content=body, timeout=10, headers=auth)
    assert first.status_code == 200, first.text
    assert first.json()["added"] == 1
    assert first.json()["rejected"] == [{"row": 3, "reason": first.json()["rejected"][0]["reason"]}]
    assert "toaster" in first.json()["rejected"][0]["reason"]
    again = httpx.post(url, content=body, timeout=10, headers=auth).json()
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 1)
    bad = httpx.post(f"{agent.url}/api/v1/assets/import?filename=x.txt", content=body,
                     timeout=10, headers=auth)
    assert bad.status_code == 422
    assert TOKEN not in agent.log_text()
