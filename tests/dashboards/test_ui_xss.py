"""Hostile text from devices, config and people never becomes markup, on any page.

A real ``Agent`` started in-process on a real database (its services running: power events,
the incident ledger, the checklist, the asset register with discovery), fed real ``Reading``s
whose target names, UPS model, host facts and website problems carry a script tag and an
attribute-breaking payload, plus an incident whose cause carries both. Every UI page and
fragment in both languages must show the escaped text and never the raw markup. The reports
are files (PDF, XLSX, CSV, JSON), never served as HTML.
"""

from __future__ import annotations

import asyncio
import time
from html import escape
from pathlib import Path

import httpx

from upkeep.agents.app import create_app
from upkeep.agents.runtime import Agent
from upkeep.collectors.ups_model import UpsSnapshot, info_from_snapshot
from upkeep.config import parse_config
from upkeep.dashboards import web_pages
from upkeep.policies.kpi_service import KpiService
from upkeep.reading import Reading

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
PAYLOADS = (SCRIPT, ATTRIBUTE)


def _feed(agent: Agent) -> None:
    now = time.time()
    for payload in PAYLOADS:
        snap = UpsSnapshot(name=f"ups {payload}", source="nut", mfr=f"APC {payload}",
                           model=f"Smart-UPS {payload}", serial=f"SN{len(payload)}",
                           status=("OB", "DISCHRG"), battery_charge=0.5, battery_runtime=600,
                           load=0.3, battery_installed=1_600_000_000)
        agent.store.put(Reading("nut", f"ups {payload}", now, True,
                                info=info_from_snapshot(snap)))
        agent.store.put(Reading("web", f"site {payload}", now, False, reason="timeout",
                                message=f"no answer {payload}",
                                info={"url": f"https://portal.test/{payload}",
                                      "tls": {"not_after": now + 3 * 86400,
                                              "problems": [payload]}}))
        agent.store.put(Reading("host", f"host {payload}", now, True, info={
            "hostname": payload, "os": payload, "services": {payload: False},
            "filesystem_list": [{"mountpoint": payload, "size_bytes": 10, "avail_bytes": 5}]}))


def escaped(text: str) -> set[str]:
    """The text as HTML shows it (``&quot;`` from html.escape, ``&#34;`` from markupsafe)."""
    html = escape(text, quote=True)
    return {html, html.replace("&quot;", "&#34;").replace("&#x27;", "&#39;")}


def _pages() -> list[str]:
    paths = ["/", *(f"/ui/{p}" for p in web_pages.PAGES if p != "overview")]
    return paths + [f"/ui/fragment/{p}" for p in web_pages.PAGES]


async def _crawl(tmp_path: Path) -> dict[str, httpx.Response]:
    config = parse_config(
        f"site: hq\ndata_dir: {tmp_path}\n"
        "systems:\n  - {name: intranet, checks: ['web:portal']}\n")
    agent = Agent(config)
    await agent.start()
    try:
        now = time.time()
        ledger = agent.service(KpiService).ledger
        assert ledger is not None
        ledger.add("intranet", now - 7200, restored_at=now - 3600, actor="test", at=now,
                   cause_text=f"{SCRIPT} {ATTRIBUTE}")
        second = ledger.add("intranet", now - 600, restored_at=None, actor="test", at=now,
                            cause_text=SCRIPT)
        ledger.acknowledge(second, ATTRIBUTE, now)
        _feed(agent)
        app = create_app(agent, manage_lifecycle=False)
        out: dict[str, httpx.Response] = {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://ui.test") as client:
            for path in _pages():
                for lang in ("th", "en"):
                    out[f"{path}?lang={lang}"] = await client.get(f"{path}?lang={lang}")
            for kind in ("status", "kpi", "checklist", "assets"):
                for fmt in ("csv", "json"):
                    out[f"/ui/reports/{kind}.{fmt}"] = await client.get(
                        f"/ui/reports/{kind}.{fmt}?lang=en")
        return out
    finally:
        await agent.stop()


def test_hostile_text_is_escaped_on_every_page_and_never_served_as_html(
        tmp_path: Path) -> None:
    responses = asyncio.run(_crawl(tmp_path))
    pages = {k: r for k, r in responses.items() if not k.startswith("/ui/reports/")}
    assert len(pages) == 2 * 2 * len(web_pages.PAGES)
    for where, response in pages.items():
        assert response.status_code == 200, where
        body = response.text
        for payload in PAYLOADS:
            assert payload not in body, where
        assert "<img" not in body and "<script>alert" not in body, where
    # the escaped text is there, where each payload is shown
    def shows(page: str, *texts: str) -> None:
        for lang in ("th", "en"):
            body = pages[f"{page}?lang={lang}"].text
            for text in texts:
                assert any(form in body for form in escaped(text)), (page, lang, text)

    shows("/", f"ups {SCRIPT}", f"site {ATTRIBUTE}", f"host {SCRIPT}: {SCRIPT}")
    shows("/ui/ups", f"ups {SCRIPT}", f"Smart-UPS {SCRIPT}", f"Smart-UPS {ATTRIBUTE}")
    shows("/ui/hosts", f"host {ATTRIBUTE}", SCRIPT)
    shows("/ui/websites", f"site {SCRIPT}", f"https://portal.test/{ATTRIBUTE}")
    shows("/ui/incidents", f"unknown {SCRIPT} {ATTRIBUTE}", f"({ATTRIBUTE})")
    shows("/ui/fragment/incidents", f"unknown {SCRIPT}")
    shows("/ui/assets", f"APC {SCRIPT} Smart-UPS {SCRIPT}")
    reports = {k: r for k, r in responses.items() if k.startswith("/ui/reports/")}
    for where, response in reports.items():
        assert response.status_code == 200, where
        assert "html" not in response.headers["content-type"], where
        assert response.headers["content-disposition"].startswith("attachment"), where
    assert SCRIPT in reports["/ui/reports/status.json"].text  # the data, unchanged
