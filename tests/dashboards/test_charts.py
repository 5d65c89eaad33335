"""The SVG charts on data (pure), and the detail pages drawing the stored history."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.dashboards.test_ui_pages import HOSTILE, TestClient, ups_reading
from upkeep.agents.app import create_app
from upkeep.agents.runtime import Agent
from upkeep.config import parse_config
from upkeep.dashboards import charts
from upkeep.kit.db import Database
from upkeep.policies.history import HistoryService
from upkeep.reading import Reading

DAY = 86400.0
START = 1_780_000_000.0  # 2026-05-29 03:26:40 Bangkok


def _chart(**kw: object) -> str:
    base: dict[str, object] = dict(title="Charge", points=[], start=START, end=START + DAY,
                                   step=60, lang="en", fmt=lambda v: f"{v:.0f}")
    base.update(kw)
    return str(charts.line_chart(**base))  # type: ignore[arg-type]


def test_points_are_drawn_and_tabled_and_gaps_stay_gaps() -> None:
    points = [(START + 60 * i, 50.0 + i) for i in range(10)] + \
             [(START + 3600 + 60 * i, 80.0) for i in range(3)]
    svg = _chart(points=points)
    lines = re.findall(r'<polyline class="line" points="([^"]+)"', svg)
    assert [len(p.split()) for p in lines] == [10, 3]  # the hour without data is a gap
    rows = re.findall(r'<tr data-t="(\d+)" data-v="([\d.]+)">', svg)
    assert [(float(t), float(v)) for t, v in rows] == points
    assert 'data-points="13"' in svg and "<title" in svg and 'role="img"' in svg


def test_bands_are_clipped_to_the_window_and_listed() -> None:
    inside = charts.Band(START + 3600, START + 5400, "On battery 30 min")
    before = charts.Band(START - 7200, START - 3600, "long ago")
    svg = _chart(points=[(START, 1.0)], bands=[inside, before])
    rects = re.findall(r'<rect class="band" x="([\d.]+)" y="\d+" width="([\d.]+)"[^>]*'
                       r'data-start="(\d+)" data-end="(\d+)"', svg)
    assert len(rects) == 1
    x, width, a, b = rects[0]
    assert int(b) - int(a) == 1800
    assert abs(float(width) - 1800 / DAY * (charts.WIDTH - charts.LEFT - charts.RIGHT)) < 0.2
    assert "On battery 30 min" in svg and "long ago" not in svg


def test_axis_in_bangkok_time_and_the_languages_calendar() -> None:
    day = _chart(points=[(START, 1.0)])
    hours = re.findall(r'text-anchor="middle">(\d\d:\d\d)<', day)
    assert hours and all(int(h[:2]) % 3 == 0 for h in hours)  # Bangkok's 3-hour marks
    week_th = _chart(points=[(START, 1.0)], end=START + 7 * DAY, lang="th")
    assert "2569" in week_th and "เวลาประเทศไทย" in week_th  # Buddhist Era year
    week_en = _chart(points=[(START, 1.0)], end=START + 7 * DAY, lang="en")
    assert "2026" in week_en and "Bangkok time" in week_en


def test_battery_periods_from_events() -> None:
    events = [(100.0, "on_line"), (200.0, "on_battery"), (260.0, "on_line"),
              (400.0, "on_battery"), (410.0, "low_battery")]
    assert charts.battery_periods(events, 500.0) == [(200.0, 260.0), (400.0, 500.0)]


def test_titles_and_values_are_escaped() -> None:
    svg = _chart(title=HOSTILE, points=[(START, 1.0)])
    assert HOSTILE not in svg and "&lt;script&gt;" in svg


def test_detail_pages_draw_the_stored_history(tmp_path: Path) -> None:
    config = parse_config(f"site: hq\ndata_dir: {tmp_path}\n")
    agent = Agent(config)
    agent.db = Database(tmp_path / "upkeep.db")
    service = HistoryService(agent.db)
    agent.services.append(service)  # type: ignore[arg-type]
    now = time.time()
    for i in range(20):
        reading = ups_reading("ups-ok", ("OL",))
        service.store.write(service.sampler.offer(
            type(reading)(**{**reading.__dict__, "time": now - 1200 + 60 * i})))
    agent.store.put(ups_reading("ups-ok", ("OL",)))
    client = TestClient(create_app(agent, manage_lifecycle=False))
    page = client.get("/ui/ups/ups-ok?lang=th")
    assert page.status_code == 200
    assert page.text.count("<svg") == 4 and "ประจุแบตเตอรี่" in page.text
    charge = page.text.split('id="chart-0-charge"')[1].split("</figure>")[0]
    api = client.get("/api/v1/history?kind=nut&target=ups-ok&series=charge").json()
    rows = re.findall(r'<tr data-t="(\d+)" data-v="([\d.]+)">', charge)
    assert [(float(t), float(v) / 100) for t, v in rows] == [tuple(p) for p in api["points"]]
    assert len(rows) == 20
    assert client.get("/ui/ups/nope").status_code == 404
    assert client.get("/ui/ups/ups-ok?range=1y").status_code == 404
    week = client.get("/ui/ups/ups-ok?range=7d&lang=en")
    assert week.status_code == 200 and 'aria-current="true">7 days' in week.text
    assert client.get("/ui/fragment/ups/ups-ok?range=90d").status_code == 200
    assert "/ui/ups/ups-ok" in client.get("/ui/ups").text
    agent.db.close()


def _audit_reading(website: str) -> Reading:
    """An audit reading in the shape collectors/web_audit.py documents, with hostile text."""
    pages = {
        "home": {"url": "https://jfo.example/", "final_url": "https://jfo.example/", "reason": "",
                 "message": "", "sha256": "0" * 64, "bytes": 1200,
                 "thai": {"ok": False, "problems": ["no lang=\"th\""], "lang": "", "charset": "utf-8"},
                 "html": {"errors": 2, "warnings": 1, "reason": "", "messages": [
                     {"type": "error", "line": 12, "column": 5,
                      "message": f"Duplicate ID {HOSTILE}", "extract": ""},
                     {"type": "error", "line": 30, "column": 1, "message": "Stray end tag",
                      "extract": ""},
                     {"type": "info", "line": 2, "column": 1, "message": "Trailing slash",
                      "extract": ""}]},
                 "accessibility": {"reason": "", "impacts": {"critical": 1, "serious": 0,
                                                             "moderate": 0, "minor": 0},
                                   "violations": [{"id": "image-alt", "impact": "critical",
                                                   "help": "Images must have alternate text",
                                                   "help_url": "", "tags": ["wcag2a"],
                                                   "nodes": [{"target": ["img.logo"],
                                                              "html": HOSTILE}], "count": 1}]}},
        "privacy_notice": {"url": "https://jfo.example/privacy", "final_url": "",
                           "reason": "redirect_loop", "message": "redirect loop back to /a"},
    }
    info = {"url": "https://jfo.example/", "audited_at": time.time() - 60, "tools": {},
            "pages": pages, "summary": {"en": "2 page(s): 2 HTML error(s)",
                                        "th": "2 หน้า: ข้อผิดพลาด HTML 2 รายการ"}}
    return Reading("audit", website, time.time(), True, info=info)


def test_website_page_shows_the_latest_audit_escaped(tmp_path: Path) -> None:
    agent = Agent(parse_config(f"site: hq\ndata_dir: {tmp_path}\n"))
    agent.store.put(Reading("web", "jfo", time.time(), True, info={
        "url": "https://jfo.example/", "tls": {"not_after": time.time() + 90 * 86400,
                                                "accepted": {"TLS 1.2": True}, "problems": []},
        "http": {"status": 200}}))
    client = TestClient(create_app(agent, manage_lifecycle=False))
    before = client.get("/ui/websites/jfo?lang=en").text
    assert "Standards audit" in before and "Not audited" in before
    agent.store.put(_audit_reading("jfo"))
    page = client.get("/ui/websites/jfo?lang=th").text
    assert "ตรวจมาตรฐานเว็บไซต์" in page and "2 หน้า: ข้อผิดพลาด HTML 2 รายการ" in page
    assert "<td>2 / 1</td>" in page and "<td>1</td>" in page       # counts per page
    assert "12:5" in page and "image-alt" in page and "img.logo" in page
    assert "redirect loop back to /a" in page                        # a page not audited
    assert HOSTILE not in page and "&lt;script&gt;" in page
