"""States the UI must not show as better (or more English) than they are.

A website that accepts TLS 1.0/1.1 or lacks HSTS or security headers is a warning with its
findings listed, never "Healthy"; a UPS that never answered shows "unknown" for replace-battery
(not a green "no"); the battery's age shows when only its manufacture date is known; Thai
pages say the UPS state in Thai.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.dashboards.test_ui_pages import TestClient, ups_reading
from upkeep.agents.app import create_app
from upkeep.agents.runtime import Agent
from upkeep.collectors.ups_model import UpsSnapshot, info_from_snapshot
from upkeep.config import parse_config
from upkeep.dashboards import web_data
from upkeep.reading import Reading

GOOD = {"strict-transport-security": True, "content-security-policy": True,
        "x-content-type-options": True, "x-frame-options": True, "referrer-policy": True}


def site_info(accepted: dict[str, bool], headers: dict[str, bool],
              hsts_long_enough: bool = True) -> dict[str, object]:
    return {"url": "https://site.test/", "families": {"ipv4": {"up": True, "status": 200}},
            "tls": {"not_after": time.time() + 200 * 86400, "accepted": accepted,
                    "problems": []},
            "http": {"status": 200, "headers_present": headers,
                     "hsts_long_enough": hsts_long_enough, "redirect": None},
            "ipv6_parity": None}


def make_agent() -> Agent:
    agent = Agent(parse_config("site: hq\ndata_dir: /nonexistent-upkeep-test\n"))
    now = time.time()
    agent.store.put(Reading("web", "legacy", now, True, info=site_info(
        {"TLS 1.0": True, "TLS 1.1": True, "TLS 1.2": True}, GOOD)))
    agent.store.put(Reading("web", "bare", now, True, info=site_info(
        {"TLS 1.2": True}, {**GOOD, "strict-transport-security": False,
                            "content-security-policy": False})))
    agent.store.put(Reading("web", "tidy", now, True, info=site_info({"TLS 1.2": True}, GOOD)))
    # a UPS whose very first poll failed: no facts at all
    agent.store.put(Reading("nut", "silent", now, False, reason="unreachable",
                            message="connection refused"))
    agent.store.put(ups_reading("ups-ok", ("OL",)))
    old = info_from_snapshot(UpsSnapshot(name="old-batt", source="snmp", status=("OL",),
                                         battery_manufactured=now - 3 * 31557600))
    agent.store.put(Reading("snmp", "old-batt", now, True, info=old))
    agent.store.put(Reading("nut", "outage", now, True, info=info_from_snapshot(UpsSnapshot(
        name="outage", source="nut", status=("OB", "DISCHRG"), battery_charge=0.64,
        battery_runtime=1200, load=0.3))))
    return agent


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(make_agent(), manage_lifecycle=False))


def _healthy(body: str) -> str:
    return body.split('id="healthy-h"')[1]


def test_weak_websites_are_warnings_with_findings_not_healthy(client: TestClient) -> None:
    body = client.get("/?lang=en").text
    healthy = _healthy(body)
    assert "tidy" in healthy
    assert "legacy" not in healthy and "bare" not in healthy
    items = re.findall(r'<li class="problem web_warning">(.*?)</li>', body)
    legacy = next(i for i in items if "legacy" in i)
    assert "TLS 1.0" in legacy and "TLS 1.1" in legacy
    bare = next(i for i in items if "bare" in i)
    assert "HSTS" in bare and "content-security-policy" in bare
    page = client.get("/ui/websites?lang=en").text
    row = next(r for r in page.split("<tr>") if "legacy" in r)
    assert 'badge warn">Warning' in row and "accepts TLS 1.0" in row
    tidy = next(r for r in page.split("<tr>") if "tidy" in r)
    assert 'badge ok">Up' in tidy


def test_findings_are_listed_in_thai_on_thai_pages(client: TestClient) -> None:
    body = client.get("/?lang=th").text
    item = next(i for i in re.findall(r'<li class="problem web_warning">(.*?)</li>', body)
                if "bare" in i)
    assert "ไม่มี HSTS" in item


def test_ups_that_never_answered_shows_unknown_not_no(client: TestClient) -> None:
    page = client.get("/ui/ups?lang=en").text
    silent = next(r for r in page.split("<tr>") if ">silent</a></strong>" in r)
    cells = re.findall(r"<td>(.*?)</td>", silent)
    replace = cells[7]
    assert 'badge warn">unknown' in replace, replace
    ok = next(r for r in page.split("<tr>") if ">ups-ok</a></strong>" in r)
    assert 'badge ok">no' in re.findall(r"<td>(.*?)</td>", ok)[7]


def test_battery_age_from_the_manufacture_date_when_install_date_is_unknown(
        client: TestClient) -> None:
    page = client.get("/ui/ups?lang=en").text
    row = next(r for r in page.split("<tr>") if ">old-batt</a></strong>" in r)
    assert "3.0 years" in row


def test_thai_pages_give_the_ups_state_in_thai(client: TestClient) -> None:
    body = client.get("/?lang=th").text
    item = next(i for i in re.findall(r'<li class="problem on_battery">(.*?)</li>', body)
                if "outage" in i)
    assert "ON BATTERY" not in item and "charge" not in item
    assert "ใช้ไฟจากแบตเตอรี่" in item and "64%" in item and "OB DISCHRG" in item
    english = client.get("/?lang=en").text
    assert "On battery (OB DISCHRG), charge 64%" in english


def test_findings_of_a_reading_are_pure() -> None:
    row = web_data.Row("web", "x", True, "", "", 0.0, 0.0, site_info(
        {"TLS 1.0": True}, GOOD, hsts_long_enough=False))
    assert web_data.web_findings(row) == [("finding.legacy_tls", "TLS 1.0"),
                                          ("finding.short_hsts", "")]
