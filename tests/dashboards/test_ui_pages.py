"""The UI's server side in-process: escaping, missing parts, read access, language, labels.

A real ``Agent`` (not started: no pollers) whose state store holds real ``Reading``s, served
by the real FastAPI app through Starlette's test client. Fast, so the many cases the browser
tests do not reach (hostile names, parts not running, auth) are covered here.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
from fastapi import FastAPI

from upkeep.agents.app import create_app
from upkeep.agents.events import EventRecorder
from upkeep.agents.runtime import Agent
from upkeep.collectors.ups_model import SELFTEST_RESULTS, UpsSnapshot, info_from_snapshot
from upkeep.config import parse_config
from upkeep.dashboards import i18n, web_data, web_pages
from upkeep.events import EVENT_KINDS
from upkeep.kit.db import Database
from upkeep.kit.messages import MESSAGES
from upkeep.parts import PartMissing
from upkeep.policies.checklist import STATUSES
from upkeep.policies.checklist_service import ChecklistService
from upkeep.policies.kpi_service import KpiService
from upkeep.reading import Reading

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
HOSTILE = '<script>alert("x")</script>'


def ups_reading(name: str, status: tuple[str, ...], ok: bool = True) -> Reading:
    snap = UpsSnapshot(name=name, source="nut", mfr="APC", model=HOSTILE, serial="S1",
                       status=status, battery_charge=0.5, battery_runtime=600, load=0.3,
                       battery_installed=1_600_000_000)
    return Reading("nut", name, time.time(), ok, info=info_from_snapshot(snap))


def make_agent(extra: str = "") -> Agent:
    config = parse_config(f"site: hq\ndata_dir: /nonexistent-upkeep-test\n{extra}")
    agent = Agent(config)
    agent.store.put(ups_reading("ups-ok", ("OL",)))
    agent.store.put(ups_reading("ups-batt", ("OB", "DISCHRG")))
    agent.store.put(Reading("web", HOSTILE, time.time(), False, reason="timeout",
                            message=f"no answer {HOSTILE}"))
    agent.store.put(Reading("web", "portal", time.time(), True, info={
        "url": "https://portal.test/", "tls": {"not_after": time.time() + 3 * 86400,
                                               "accepted": {"TLS 1.2": True, "TLS 1.0": False},
                                               "problems": []},
        "http": {"status": 200}, "ipv6_parity": {"ok": True}}))
    return agent


class TestClient:
    """The app in-process over httpx's ASGI transport (no server, no lifespan), keeping
    cookies between requests like a browser."""

    __test__ = False

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.cookies = httpx.Cookies()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        async def run() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ui.test",
                                         cookies=self.cookies) as client:
                response = await client.get(path, **kwargs)
                self.cookies.update(client.cookies)
                return response
        return asyncio.run(run())


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(make_agent(), manage_lifecycle=False))


def test_hostile_names_are_escaped_everywhere(client: TestClient) -> None:
    for path in ("/", "/ui/ups", "/ui/websites", "/ui/fragment/overview"):
        for lang in ("th", "en"):
            body = client.get(f"{path}?lang={lang}").text
            assert HOSTILE not in body, path
            # markupsafe writes the quote as &#34; (html.escape as &quot;): the same text
            assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body, path


def test_overview_puts_power_first_then_down_then_certificates(client: TestClient) -> None:
    body = client.get("/?lang=en").text
    problems = re.findall(r'<li class="problem (\w+)">', body)
    assert problems[:3] == ["on_battery", "target_down", "cert_expiring"], problems
    assert "ups-batt" in body.split('class="problem target_down"')[0]
    healthy = body.split('id="healthy-h"')[1]
    assert "ups-ok" in healthy and "ups-batt" not in healthy and "portal" not in healthy


def test_parts_not_running_say_so_and_pages_still_work(client: TestClient) -> None:
    for page, what in (("incidents", "No systems are configured"),
                       ("checklist", "Not available in this agent yet"),
                       ("assets", "Not available in this agent yet")):
        response = client.get(f"/ui/{page}?lang=en")
        assert response.status_code == 200
        assert what in response.text, page
    assert "ยังไม่พร้อมใช้งาน" in client.get("/ui/checklist?lang=th").text
    missing = client.get("/ui/reports/kpi.pdf?lang=en")
    assert missing.status_code == 503 and "kpi" in missing.json()["detail"]
    status = client.get("/ui/reports/status.csv?lang=th")
    assert status.status_code == 200 and status.content.startswith(b"\xef\xbb\xbf")
    assert "ups-batt" in status.content.decode("utf-8")
    assert "attachment" in status.headers["content-disposition"]
    assert client.get("/ui/reports/status.exe").status_code == 404
    assert client.get("/ui/nope").status_code == 404
    assert client.get("/ui/static/../web.py").status_code == 404


def test_language_choice_is_remembered_and_browser_default_used(client: TestClient) -> None:
    assert 'lang="en"' in client.get("/", headers={"accept-language": "en-US"}).text
    fresh = TestClient(client.app)
    assert 'lang="th"' in fresh.get("/", headers={"accept-language": "th-TH,th"}).text
    response = client.get("/ui/hosts?lang=th")
    assert response.cookies.get("upkeep_lang") == "th"
    assert 'lang="th"' in client.get("/ui/ups", headers={"accept-language": "en"}).text


def test_no_external_resources_and_a_strict_policy(client: TestClient) -> None:
    response = client.get("/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    for path in ("/", "/ui/static/ui.css", "/ui/static/ui.js"):
        text = client.get(path).text
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path
    assert "<script>" not in response.text  # no inline script (the CSP forbids it anyway)


def _hashed(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def test_reading_needs_login_when_the_agent_says_so() -> None:
    extra = f"web:\n  public_read: false\n  basic_auth_users:\n    ops: '{_hashed('s3cret')}'\n"
    client = TestClient(create_app(make_agent(extra), manage_lifecycle=False))
    for path in ("/", "/ui/ups", "/ui/fragment/overview", "/ui/reports/status.json"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, auth=("ops", "wrong")).status_code == 401, path
        assert client.get(path, auth=("ops", "s3cret")).status_code == 200, path


def test_actions_are_forms_with_labels_posting_to_the_api(client: TestClient) -> None:
    body = client.get("/ui/incidents?lang=en").text
    forms = re.findall(r'<form class="action"[^>]*data-endpoint="([^"]+)"', body)
    assert forms == ["/api/v1/incidents/{id}/ack", "/api/v1/incidents/{id}/notes",
                     "/api/v1/maintenance"]
    ids = re.findall(r'<(?:input|textarea) id="([^"]+)"', body)
    labelled = set(re.findall(r'<label for="([^"]+)"', body))
    assert ids and set(ids) <= labelled
    assert 'id="actions"' not in client.get("/ui/ups").text  # read-only pages have no forms


def _used_label_keys() -> set[str]:
    keys: set[str] = set()
    for path in DASHBOARDS.glob("web*.py"):
        keys |= set(re.findall(r'label\(\s*"([a-z_.0-9]+)"', path.read_text(encoding="utf-8")))
        keys |= set(re.findall(r'Field\([^)]*?"[a-z_]+",\s*"([a-z_]+)"',
                               path.read_text(encoding="utf-8")))
    return keys


def test_every_label_exists_in_both_languages() -> None:
    missing = {k for k in _used_label_keys() if k not in MESSAGES and not k.endswith(".")}
    assert not missing
    dynamic = ([f"st.{s}" for s in STATUSES] + [f"ev.{k}" for k in EVENT_KINDS]
               + [f"selftest.{r}" for r in SELFTEST_RESULTS]
               + [f"as.{s}" for s in ("overdue", "due_in_fy", "next_fy", "later", "unknown")]
               + [f"nav.{p}" for p in web_pages.PAGES] + list(web_data.URGENCY)
               # notifications draw from the same catalogue
               + [f"notify.{part}.{k}" for k in EVENT_KINDS for part in ("title", "advice")])
    assert not [k for k in dynamic if k not in MESSAGES]
    for key, words in MESSAGES.items():
        assert words.th and words.en, key
        assert set(re.findall(r"\{\w+\}", words.en)) == set(re.findall(r"\{\w+\}", words.th)), key


@pytest.mark.parametrize(("lang", "expected"), [("th", "13 ก.ย. 2563"), ("en", "13 Sep 2020")])
def test_dates_use_the_languages_calendar(lang: Any, expected: str) -> None:
    assert i18n.date(1_600_000_000, lang) == expected
    assert i18n.date("2020-09-13", lang) == expected
    assert i18n.date(None, lang) == "–"


def test_kpi_page_without_its_service_keeps_the_level_table() -> None:
    extra = "systems:\n  - {name: intranet, checks: ['web:portal']}\n"
    client = TestClient(create_app(make_agent(extra), manage_lifecycle=False))
    body = client.get("/ui/incidents?lang=th").text
    assert "ยังไม่พร้อมใช้งาน" in body and "kpi service is not running" in body
    levels = re.findall(r"<tr><td><strong>(\d)</strong></td><td>([^<]+)</td>", body)
    assert levels == [("5", "12 ชั่วโมง (0.5 วัน)"), ("4", "24 ชั่วโมง (1 วัน)"),
                      ("3", "36 ชั่วโมง (1.5 วัน)"), ("2", "48 ชั่วโมง (2 วัน)"),
                      ("1", "60 ชั่วโมง (2.5 วัน)")]


def test_parts_are_reached_by_type_and_say_why_they_are_missing(tmp_path: Path) -> None:
    agent = make_agent()
    with pytest.raises(PartMissing, match="the kpi service is not running"):
        agent.service(KpiService)
    recorder = EventRecorder(Database(tmp_path / "upkeep.db"))
    agent.services.append(recorder)
    assert agent.service(EventRecorder) is recorder
    agent.db_error = "cannot open /nonexistent-upkeep-test/upkeep.db"
    with pytest.raises(PartMissing, match="cannot open"):
        agent.service(ChecklistService)


class _BuggyRecorder(EventRecorder):
    def events(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a bug in the part")


def test_a_bug_in_a_part_is_not_shown_as_not_available(tmp_path: Path) -> None:
    agent = make_agent()
    agent.services.append(_BuggyRecorder(Database(tmp_path / "upkeep.db")))
    client = TestClient(create_app(agent, manage_lifecycle=False))
    # the page fails loudly (a 500 in production) instead of hiding the bug as "not available"
    with pytest.raises(TypeError, match="a bug in the part"):
        client.get("/ui/ups?lang=en")
