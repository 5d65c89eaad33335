"""The built-in UI in a real browser: Debian's Chromium driven by Playwright.

Against the running agent of ``conftest.stack`` (two UPS on a real upsd + dummy-ups, three
HTTPS sites, a KPI system): every page in both languages loads with no console error and no
request leaving the agent; a UPS going on battery appears on the overview within one
refresh, without a reload; the language switch changes labels and the calendar; an action
without the token is refused and with it is recorded with who did it; report downloads
open. Screenshots of every page go to ``test-artifacts/ui/`` for a person to look at, and the
pictures the README and docs/ui.md show are written to ``docs/img/`` (``doc_picture``) on every
run, so they never go stale: a run that changed one shows in ``git status``.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dashboards.conftest import TOKEN, Stack
from tests.support import need_binary, wait_for
from upkeep.kit.thai import to_bangkok

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"
#: every doc picture is this much of the page, in CSS pixels at scale 1
DOC_VIEWPORT = {"width": 1280, "height": 800}
#: the pictures the browser tests write to docs/img/ (tests/test_doc_pictures.py checks that
#: docs/img/ holds exactly these and that the README or docs show each)
DOC_PICTURES = ("overview-en", "overview-th", "ups-detail-en", "website-audit-th")
PAGES = {"overview": "/", "ups": "/ui/ups", "hosts": "/ui/hosts", "websites": "/ui/websites",
         "incidents": "/ui/incidents", "checklist": "/ui/checklist", "assets": "/ui/assets"}
TITLES = {"en": {"overview": "Overview", "ups": "UPS", "hosts": "Hosts",
                 "websites": "Websites & certificates", "incidents": "Incidents & KPI",
                 "checklist": "Security checklist", "assets": "Assets & end of life"},
          "th": {"overview": "ภาพรวม", "ups": "UPS", "hosts": "เครื่องแม่ข่าย",
                 "websites": "เว็บไซต์และใบรับรอง", "incidents": "เหตุขัดข้องและ KPI",
                 "checklist": "รายการตรวจความมั่นคงปลอดภัย",
                 "assets": "ครุภัณฑ์และการหมดอายุ"}}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = need_binary("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Tab:
    """A browser tab that records console errors and every request not to the agent."""

    def __init__(self, browser: Any, base: str, **context: Any) -> None:
        self.base = base
        self.context = browser.new_context(accept_downloads=True, **context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda err: self.errors.append(str(err)))
        self.context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        if route.request.url.startswith(self.base):
            route.continue_()
        else:  # nothing may be fetched from anywhere else (no CDN, no web font)
            self.outside.append(route.request.url)
            route.abort()

    def goto(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == 200, path
        return response

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, stack: Stack) -> Iterator[Tab]:
    t = Tab(browser, stack.agent.url, viewport={"width": 1280, "height": 900})
    try:
        yield t
    finally:
        t.close()


#: the lowest WCAG contrast ratio of any visible text (walking up to the first opaque
#: background); AA asks 4.5 for normal text
CONTRAST_JS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bg = el => { for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c; }
    return [255, 255, 255]; };
  let worst = [99, ""];
  for (const el of document.querySelectorAll("body *")) {
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.offsetParent) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < worst[0]) worst = [ratio, el.tagName + "." + el.className + ": " +
                                   el.textContent.trim().slice(0, 40)];
  }
  return worst;
}"""


def shot(tab: Tab, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def doc_picture(tab: Tab, name: str, top: Any = None) -> None:
    """``docs/img/<name>.png``: the page at 1280x800 (scrolled so that ``top``, a locator, is
    at the top), reduced to a 64-colour palette (Pillow, fpdf2's dependency) to stay small."""
    from PIL import Image

    assert name in DOC_PICTURES, name
    DOC_IMAGES.mkdir(parents=True, exist_ok=True)
    before = tab.page.viewport_size
    tab.page.set_viewport_size(DOC_VIEWPORT)
    try:
        if top is not None:
            top.evaluate("e => e.scrollIntoView({block: 'start'})")
        png = tab.page.screenshot(full_page=False, animations="disabled", caret="hide")
    finally:
        tab.page.set_viewport_size(before)
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (DOC_VIEWPORT["width"], DOC_VIEWPORT["height"])
        small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT,
                                              dither=Image.Dither.NONE)
        small.save(DOC_IMAGES / f"{name}.png", optimize=True)


def test_every_page_in_both_languages(tab: Tab) -> None:
    for lang in ("th", "en"):
        for page, path in PAGES.items():
            tab.goto(f"{path}?lang={lang}")
            assert tab.page.locator("html").get_attribute("lang") == lang
            assert tab.page.locator("h1").inner_text() == TITLES[lang][page]
            assert tab.page.locator("nav a[aria-current=page]").inner_text() == \
                TITLES[lang][page]
            assert "Internal Server Error" not in tab.page.content()
            ratio, where = tab.page.evaluate(CONTRAST_JS)
            assert ratio >= 4.5, (page, lang, ratio, where)
            shot(tab, f"{page}-{lang}")
            if page == "overview":
                doc_picture(tab, f"overview-{lang}")
    assert tab.errors == []
    assert tab.outside == []


def test_wall_screen_and_phone(browser: Any, stack: Stack) -> None:
    for name, viewport in (("wall", {"width": 1920, "height": 1080}),
                           ("phone", {"width": 390, "height": 844})):
        # the wall screen in a dark room: the dark scheme must stay as readable
        t = Tab(browser, stack.agent.url, viewport=viewport, device_scale_factor=1,
                is_mobile=name == "phone", has_touch=name == "phone",
                color_scheme="dark" if name == "wall" else "light")
        try:
            for lang in ("th", "en"):
                t.goto(f"/?lang={lang}")
                # nothing wider than the screen: the page never scrolls sideways
                width = t.page.evaluate("document.documentElement.scrollWidth")
                assert width <= viewport["width"], (name, width)
                shot(t, f"overview-{name}-{lang}")
            t.goto("/ui/ups?lang=th")
            shot(t, f"ups-{name}-th")
            ratio, where = t.page.evaluate(CONTRAST_JS)
            assert ratio >= 4.5, (name, ratio, where)
            assert t.errors == [] and t.outside == []
        finally:
            t.close()


def _problems(tab: Tab) -> str:
    return str(tab.page.locator(".problems").inner_text())


def test_on_battery_shows_on_the_overview_within_one_refresh(tab: Tab, stack: Stack) -> None:
    tab.goto("/?lang=en&refresh=2")
    tab.page.evaluate("window.__sameDocument = true")
    assert "On battery" not in _problems(tab)
    # problems known from the set-up are at the top: the expired certificate, its site down,
    # the service check that nothing answers
    assert "old-portal" in _problems(tab)
    assert "Service check failing localhost: database" in _problems(tab)
    try:
        # the moment the agent has seen it (its API says so) ...
        stack.set_status("ups1", "OB DISCHRG")
        seen_at = int(tab.page.evaluate("document.body.dataset.refreshed || '0'"))
        # ... the overview shows it at the next refresh (2 s), without reloading the page.
        # The refresh count is read in the page at the moment the item appears (read later,
        # on a slow machine the next 2 s refresh may have been counted too)
        shown_at = int(wait_for(lambda: tab.page.evaluate(
            "document.querySelector('.problem.on_battery') ? document.body.dataset.refreshed"
            " : null"), timeout=20, message="the on-battery item on the overview"))
        item = tab.page.locator(".problem.on_battery").inner_text()
        assert "On battery" in item and "ups1" in item
        assert tab.page.evaluate("window.__sameDocument") is True  # no full reload
        refreshes = shown_at - seen_at
        # one refresh; two when a fetch was already in flight as the agent polled
        assert refreshes <= 2, refreshes
        shot(tab, "overview-on-battery-en")
        tab.goto("/ui/ups?lang=th")
        wait_for(lambda: "ใช้ไฟจากแบตเตอรี่" in tab.page.locator("main").inner_text(),
                 timeout=15, message="the event on the UPS page")
        shot(tab, "ups-on-battery-th")
    finally:
        stack.set_status("ups1", "OL")
    tab.goto("/?lang=en&refresh=1")
    tab.page.wait_for_selector(".problem.on_battery", state="detached", timeout=20_000)
    assert tab.errors == []


def test_language_switch_changes_labels_and_calendar(tab: Tab) -> None:
    tab.goto("/ui/ups?lang=en")
    main = tab.page.locator("main").inner_text()
    assert "Battery installed" in main and "1 Jun 2023" in main  # battery.date 2023-06-01
    footer_en = tab.page.locator("#updated").inner_text()
    year = to_bangkok(time.time()).year  # the UI's clock is Bangkok's, not the test machine's
    assert str(year) in footer_en
    tab.page.get_by_role("link", name="ไทย").click()
    tab.page.wait_for_load_state()
    assert tab.page.locator("html").get_attribute("lang") == "th"
    main = tab.page.locator("main").inner_text()
    assert "ติดตั้งแบตเตอรี่" in main and "1 มิ.ย. 2566" in main  # Buddhist Era
    assert "Battery installed" not in main
    assert str(year + 543) in tab.page.locator("#updated").inner_text()
    # remembered: a page opened without ?lang= stays Thai
    tab.goto("/ui/hosts")
    assert tab.page.locator("h1").inner_text() == "เครื่องแม่ข่าย"
    # keyboard: the first Tab reaches the skip link, Enter moves focus to the content
    tab.page.keyboard.press("Tab")
    assert tab.page.evaluate("document.activeElement.className") == "skip"
    tab.page.keyboard.press("Enter")
    assert tab.page.evaluate("document.activeElement.id") == "live"
    tab.page.get_by_role("link", name="English").click()
    tab.page.wait_for_load_state()
    assert tab.page.locator("h1").inner_text() == "Hosts"
    assert tab.errors == []


def _submit(tab: Tab, form: str) -> str:
    tab.page.locator(f"{form} button[type=submit]").click()
    out = tab.page.locator(f"{form} output.result")
    wait_for(lambda: out.inner_text() not in ("", "…"), timeout=10, message="an answer")
    return str(out.inner_text())


def test_action_refused_without_token_recorded_with_it(tab: Tab, stack: Stack,
                                                       tmp_path: Path) -> None:
    tab.goto("/ui/checklist?lang=en")
    every_input = tab.page.evaluate(
        "Array.from(document.querySelectorAll('input, textarea'))"
        ".every(i => i.labels && i.labels.length > 0)")
    assert every_input, "an input without a label"

    def fill() -> None:
        tab.page.get_by_label("Control", exact=True).fill("P11-LAW-01")
        tab.page.get_by_label("Your name", exact=True).fill("Somchai P.")
        tab.page.get_by_label("Evidence URL", exact=True).fill("https://intranet.example/policy.pdf")
        tab.page.get_by_label("Valid until", exact=True).fill("2027-09-30")

    fill()
    answer = _submit(tab, "#action-attest")
    assert answer.startswith("Refused (401)"), answer
    history = stack.agent.get("/api/v1/checklist/attestations?control=P11-LAW-01").json()
    assert history["attestations"] == []

    tab.page.get_by_label("API token", exact=True).fill("wrong-token-0123456789")
    tab.page.get_by_role("button", name="Use token").click()
    fill()
    assert _submit(tab, "#action-attest").startswith("Refused (403)")

    tab.page.get_by_label("API token", exact=True).fill(TOKEN)
    tab.page.get_by_role("button", name="Use token").click()
    fill()
    assert _submit(tab, "#action-attest") == "Recorded."
    history = stack.agent.get("/api/v1/checklist/attestations?control=P11-LAW-01").json()
    assert [(a["by"], a["evidence"]) for a in history["attestations"]] == \
        [("Somchai P.", "https://intranet.example/policy.pdf")]
    # the token stays in this tab only (sessionStorage), never in a cookie or localStorage
    assert tab.page.evaluate("sessionStorage.getItem('upkeep-token')") == TOKEN
    assert tab.page.evaluate("localStorage.length") == 0
    assert TOKEN not in json.dumps(tab.context.cookies())
    tab.goto("/ui/checklist?lang=th")
    row = tab.page.locator("tr", has_text="P11-LAW-01")
    assert "Somchai P." in row.inner_text() and "30 ก.ย. 2570" in row.inner_text()
    shot(tab, "checklist-attested-th")

    # importing assets: a file sent as it is, recorded, then listed on the assets page
    sheet = tmp_path / "assets.csv"
    sheet.write_text("asset_tag,class,site,manufacturer,model,serial,in_service\n"
                     "TAG-0001,server,test-site,Dell,R740,SRV123,15/11/2559\n",
                     encoding="utf-8")
    tab.goto("/ui/assets?lang=en")
    tab.page.get_by_label("File", exact=True).set_input_files(str(sheet))
    assert _submit(tab, "#action-import") == "Recorded."
    tab.goto("/ui/assets?lang=th")
    row = tab.page.locator("tr", has_text="TAG-0001")
    assert "15 พ.ย. 2559" in row.inner_text()  # BE date typed in the sheet, shown in BE
    shot(tab, "assets-imported-th")
    assert tab.errors == [] or all("401" in e or "403" in e for e in tab.errors)


def test_report_downloads_open(tab: Tab, tmp_path: Path) -> None:
    pdftotext = need_binary("pdftotext")
    tab.goto("/ui/assets?lang=th")
    links = tab.page.locator("ul.downloads a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert {h.split("?")[0].rsplit(".", 1)[1] for h in hrefs if h} == {"pdf", "xlsx", "csv",
                                                                      "json"}
    opened = 0
    for i, href in enumerate(hrefs):
        assert href is not None
        kind = href.split("/")[-1].split(".")[0]
        with tab.page.expect_download() as info:
            links.nth(i).click()
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        data = path.read_bytes()
        fmt = path.suffix[1:]
        if fmt == "pdf":
            assert data.startswith(b"%PDF")
            text = subprocess.run([pdftotext, "-raw", str(path), "-"], capture_output=True,
                                  text=True, timeout=30, check=True).stdout
            # pdftotext spaces out zero-advance Thai marks: compare characters, not spacing
            text = "".join(text.replace("\u200b", "").split())
            assert text, kind
            if kind == "status":
                assert "รายงานสถานะปัจจุบัน" in text and "ups1" in text
            if kind == "kpi":
                assert "intranet" in text or "อินทราเน็ต" in text
        elif fmt == "xlsx":
            import openpyxl

            book = openpyxl.load_workbook(path, read_only=True)
            assert book.sheetnames
            book.close()
        elif fmt == "csv":
            assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel on Thai Windows reads UTF-8
            data.decode("utf-8")
        else:
            json.loads(data)
        opened += 1
    assert opened == 16  # status, KPI, checklist and assets, each in every format


def _use_token(tab: Tab) -> None:
    tab.page.get_by_label("API token", exact=True).fill(TOKEN)
    tab.page.get_by_role("button", name="Use token").click()


def test_incident_ack_note_and_maintenance_window(tab: Tab, stack: Stack) -> None:
    now = time.time()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    created = httpx.post(f"{stack.agent.url}/api/v1/incidents", headers=auth, timeout=10, json={
        "system": "intranet", "started_at": now - 7200, "restored_at": now - 3600,
        "cause_text": "power cut"})
    assert created.status_code == 201, created.text
    incident = created.json()["id"]
    tab.goto("/ui/incidents?lang=en")
    row = tab.page.locator("tr", has_text="power cut")
    assert "intranet" in row.inner_text() and "1 h 0 min" in row.inner_text()

    def fill_ack() -> None:
        tab.page.locator("#ack-id").fill(str(incident))
        tab.page.locator("#ack-by").fill("Somchai P.")
        tab.page.locator("#ack-note").fill("generator started")

    fill_ack()
    assert _submit(tab, "#action-ack").startswith("Refused (401)")
    assert httpx.get(f"{stack.agent.url}/api/v1/incidents/{incident}",
                     timeout=10).json()["acknowledged_at"] is None
    _use_token(tab)
    fill_ack()
    assert _submit(tab, "#action-ack") == "Recorded."
    tab.page.locator("#annotate-id").fill(str(incident))
    tab.page.locator("#annotate-by").fill("Somchai P.")
    tab.page.locator("#annotate-text").fill("UPS battery replaced")
    assert _submit(tab, "#action-annotate") == "Recorded."
    shown = httpx.get(f"{stack.agent.url}/api/v1/incidents/{incident}", timeout=10).json()
    assert shown["acknowledged_at"] is not None
    texts = json.dumps([e["payload"] for e in shown["timeline"]], ensure_ascii=False)
    assert "Somchai P.: generator started" in texts and "Somchai P.: UPS battery replaced" in texts

    tab.page.locator("#maintenance-system").fill("intranet")
    tab.page.locator("#maintenance-starts_at").fill("2030-01-05T08:00")
    tab.page.locator("#maintenance-ends_at").fill("2030-01-05T10:00")
    tab.page.locator("#maintenance-approved_by").fill("Somchai P.")
    assert _submit(tab, "#action-maintenance") == "Recorded."
    windows = httpx.get(f"{stack.agent.url}/api/v1/maintenance", timeout=10).json()["windows"]
    assert [(w["system"], w["approved_by"], w["ends_at"] - w["starts_at"]) for w in windows] \
        == [("intranet", "Somchai P.", 7200)]
    tab.goto("/ui/incidents?lang=th")
    row = tab.page.locator("tr", has_text="power cut")
    assert "token" in row.inner_text()  # acknowledged, by the token's holder
    shot(tab, "incidents-acknowledged-th")
    assert all("401" in e for e in tab.errors)
