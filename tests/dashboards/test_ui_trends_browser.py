"""Trends and truthful states in a real browser (Chromium via Playwright) against the real
agent of ``conftest.stack``: an OB -> OL cycle on dummy-ups draws an on-battery band of its
length on the UPS page; the chart's points are the stored history; the TLS 1.0 site is a
warning; the UPS that never answered shows "unknown"; the intranet's page shows its audit.
Screenshots go to ``test-artifacts/ui/``, the docs' pictures to ``docs/img/``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.dashboards import test_ui_browser as ui
from tests.dashboards.conftest import Stack
from tests.support import wait_for

pytestmark = pytest.mark.slow

Tab = ui.Tab
shot = ui.shot
doc_picture = ui.doc_picture
browser = ui.browser  # the fixtures, shared with the other browser tests
tab = ui.tab


def test_on_battery_band_has_the_outage_length(tab: Tab, stack: Stack) -> None:
    try:
        stack.set_status("ups1", "OB DISCHRG")
        seen_ob = time.time()
        time.sleep(6)
    finally:
        stack.set_status("ups1", "OL")
    seen_ol = time.time()
    tab.goto("/ui/ups/ups1?lang=en")
    bands = tab.page.locator("#chart-0-charge rect.band")
    assert bands.count() >= 1
    start = float(bands.last.get_attribute("data-start") or 0)
    end = float(bands.last.get_attribute("data-end") or 0)
    # the agent polls every second: the band is the outage within a poll or two either side
    assert abs((end - start) - (seen_ol - seen_ob)) <= 3, (end - start, seen_ol - seen_ob)
    assert "On battery" in (bands.last.locator("title").text_content() or "")
    shot(tab, "ups-detail-on-battery-en")
    doc_picture(tab, "ups-detail-en")
    tab.goto("/ui/ups/ups1?lang=th")
    assert "ใช้ไฟจากแบตเตอรี่" in (tab.page.locator("#chart-0-charge").text_content() or "")
    shot(tab, "ups-detail-th")
    assert tab.errors == [] and tab.outside == []


def _rows(tab: Tab) -> list[tuple[float, float]]:
    cells: Any = tab.page.evaluate(
        "Array.from(document.querySelectorAll('#chart-1-input_voltage tr[data-t]'))"
        ".map(r => [Number(r.dataset.t), Number(r.dataset.v)])")
    return [(float(t), float(v)) for t, v in cells]


def test_chart_points_are_the_stored_history(tab: Tab, stack: Stack) -> None:
    api = "/api/v1/history?kind=nut&target=ups2&series=input_voltage"
    wait_for(lambda: stack.agent.get(api).json()["points"], timeout=30,
             message="a stored input-voltage point")
    before = [tuple(p) for p in stack.agent.get(api).json()["points"]]
    tab.goto("/ui/ups/ups2?lang=en")
    after = [tuple(p) for p in stack.agent.get(api).json()["points"]]
    drawn = _rows(tab)
    assert drawn in (before, after)
    assert all(v == 229.0 for _, v in drawn)
    polyline = tab.page.locator("#chart-1-input_voltage svg").get_attribute("data-points")
    assert polyline == str(len(drawn))
    for range_name in ("7d", "90d"):
        tab.goto(f"/ui/ups/ups2?lang=en&range={range_name}")
        assert tab.page.locator("svg.chart").count() == 4
    tab.goto("/ui/websites/intranet?lang=th")
    shot(tab, "website-detail-th")
    tab.goto("/ui/hosts/localhost?lang=en")
    shot(tab, "host-detail-en")
    assert tab.errors == [] and tab.outside == []


def test_tls10_site_is_a_warning_and_silent_ups_unknown(tab: Tab, stack: Stack) -> None:
    wait_for(lambda: stack.agent.targets()["web:legacy"]["info"].get("tls", {})
             .get("accepted", {}).get("TLS 1.0"), timeout=30, message="TLS 1.0 seen")
    tab.goto("/?lang=en")
    item = tab.page.locator(".problem.web_warning", has_text="legacy")
    assert "accepts TLS 1.0" in item.inner_text()
    assert "legacy" not in tab.page.locator("#healthy-h + ul").inner_text()
    tab.goto("/ui/websites?lang=en")
    row = tab.page.locator("tr", has_text="legacy")
    assert row.locator(".badge.warn").first.inner_text() == "Warning"
    shot(tab, "websites-warning-en")
    tab.goto("/ui/ups?lang=en")
    silent = tab.page.locator("tr", has_text="silent")
    assert silent.locator("td").nth(7).inner_text() == "unknown"
    tab.goto("/ui/ups?lang=th")
    assert tab.page.locator("tr", has_text="silent").locator("td").nth(7).inner_text() == \
        "ไม่ทราบ"
    shot(tab, "ups-never-answered-th")


def test_website_page_shows_its_audit(tab: Tab, stack: Stack) -> None:
    # vnu's JVM and axe's Chromium on a busy machine: the one audit takes a while
    wait_for(lambda: stack.agent.targets().get("audit:intranet", {}).get("info", {})
             .get("pages"), timeout=180, message="the intranet's audit")
    tab.goto("/ui/websites/intranet?lang=th")
    main = tab.page.locator("main")
    assert "ตรวจมาตรฐานเว็บไซต์" in main.inner_text()
    # the page's defects, as vnu and axe found them: a duplicate id, an image without alt
    audit = main.locator("table.audit")
    assert audit.count() == 2, main.inner_text()
    assert "news" in audit.first.inner_text()
    assert "image-alt" in audit.last.inner_text()
    doc_picture(tab, "website-audit-th", top=tab.page.locator("h2", has_text="ตรวจมาตรฐาน"))
    assert tab.errors == [] and tab.outside == []
