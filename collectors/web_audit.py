"""Website standards audit (kind ``audit``): W3C HTML conformance, accessibility, Thai.

For each website with ``audit: {enabled: true}`` (``upkeep.config.audit``) the pages (the
website's URL as ``home``, its ``policy_pages`` by name, ``audit.pages`` as ``page2``, ...)
are fetched with the web probe's own client (redirects, size limit, per-site CA) and hashed
every ``audit.check_interval``; the full audit runs when ``audit.interval`` has passed or a
page's content changed, and then:

- **HTML conformance**: the W3C's Nu Html Checker (``vnu.jar`` from npm ``vnu-jar``), one JVM
  for every page of the run (``java -jar vnu.jar --format json --stdout --exit-zero-always``);
- **accessibility**: axe-core (npm ``axe-core``) in headless Chromium driven by Playwright
  (a dependency, imported only when an audit runs), WCAG 2.1 A/AA rules. The browser is served the
  very bytes vnu checked; same-origin sub-resources load, other origins are refused (the
  audit never makes the agent talk to third parties);
- **Thai**: ``lang="th"`` on Thai pages, a declared UTF-8 charset (``web_audit_parse``).

Bounds: pages larger than ``audit.max_page_bytes`` are not audited, a page gets
``audit.page_timeout`` in the browser (a page whose scripts loop is cut off there, the browser
restarted for the next page), the whole run ``audit.timeout``; one audit runs at a time per
agent (later ones wait); the tools run as child processes, so polling goes on meanwhile.
A missing tool makes its part "not available" with the reason, never a clean result.

``Reading.info``: ``{url, audited_at, summary: {th, en}, tools: {name: {ok, detail,
install}}, pages: {page: {url, final_url, reason, message, sha256, bytes, html: {errors,
warnings, messages: [{type, line, column, message, extract}], reason}, accessibility:
{violations: [{id, impact, help, help_url, tags, nodes: [{target, html}], count}], impacts,
reason}, thai: {ok, problems, lang, charset}}}}``. A part that could not run has ``reason``
(``tool_missing``, ``audit_timeout``, ``tool_error``) and no counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from upkeep.collectors import web_dns, web_http
from upkeep.collectors.base import Collector, Target, register
from upkeep.collectors.web_audit_parse import (
    IMPACTS,
    WCAG_TAGS,
    impact_counts,
    parse_axe,
    parse_vnu,
    summaries,
    thai_check,
)
from upkeep.collectors.web_dns import make_resolver
from upkeep.collectors.web_probe import Prober
from upkeep.config import Config
from upkeep.config.audit import AUDIT_PREFIX, AuditToolsConfig
from upkeep.config.websites import ExpectConfig, ResolverConfig, WebsiteConfig
from upkeep.errors import Reason
from upkeep.metrics import Sample, gauge, sample
from upkeep.reading import Reading

log = logging.getLogger(__name__)

KIND = "audit"
_R = "web"

HTML_ERRORS = gauge("upkeep_website_html_errors", "Errors the W3C Nu Html Checker (vnu) found "
                    "on the page at the latest audit.", ("website", "page"), room=_R,
                    counterpart="none (W3C validator)")
HTML_WARNINGS = gauge("upkeep_website_html_warnings", "Warnings the W3C Nu Html Checker found "
                      "on the page at the latest audit.", ("website", "page"), room=_R,
                      counterpart="none (W3C validator)")
A11Y = gauge("upkeep_website_accessibility_violations", "Elements failing an axe-core WCAG 2.1 "
             "A/AA rule at the latest audit, by axe impact (minor, moderate, serious, "
             "critical; always all four).", ("website", "page", "impact"), room=_R,
             counterpart="none (axe-core)")
LAST_RUN = gauge("upkeep_website_audit_last_run_timestamp_seconds", "Unix time the latest "
                 "standards audit of the website ran.", ("website",), unit="seconds", room=_R,
                 counterpart="none")

#: what installs each tool (``upkeep audit --check-tools`` prints these)
VNU_VERSION = "26.9.27"
AXE_VERSION = "4.14.1"
_PREFIX = AUDIT_PREFIX.removesuffix("/node_modules")
INSTALL = {
    "java": "apt-get install -y default-jre-headless",
    "vnu_jar": f"npm install --prefix {_PREFIX} vnu-jar@{VNU_VERSION}",
    "axe_js": f"npm install --prefix {_PREFIX} axe-core@{AXE_VERSION}",
    "chromium": "apt-get install -y chromium",
    "playwright": "pip install --force-reinstall upkeep   (playwright is a dependency)",
}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
_HTML_TYPES = ("text/html", "application/xhtml+xml")


class AuditToolError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# --- tools ---------------------------------------------------------------------------------

def _executable(path: str) -> str | None:
    found = shutil.which(path)
    return found if found else None


def check_tools(tools: AuditToolsConfig) -> dict[str, dict[str, Any]]:
    """Each tool: ``{ok, detail, install}``; ``detail`` says where it is or what is wrong."""
    out: dict[str, dict[str, Any]] = {}

    def put(name: str, ok: bool, detail: str) -> None:
        out[name] = {"ok": ok, "detail": detail, "install": "" if ok else INSTALL[name]}

    java = _executable(tools.java)
    put("java", java is not None, java or f"{tools.java!r} is not an executable on PATH")
    for name, path in (("vnu_jar", tools.vnu_jar), ("axe_js", tools.axe_js)):
        ok = os.path.isfile(path) and os.access(path, os.R_OK)
        put(name, ok, path if ok else f"{path} is missing")
    chromium = _executable(tools.chromium)
    put("chromium", chromium is not None,
        chromium or f"{tools.chromium!r} is not an executable")
    try:
        import playwright  # noqa: F401

        put("playwright", True, "importable")
    except ImportError:
        put("playwright", False, "the Python package playwright is not installed")
    return out


def _missing(tools: dict[str, dict[str, Any]], *names: str) -> str:
    gone = [f"{n}: {tools[n]['detail']}" for n in names if not tools[n]["ok"]]
    return "not available: " + "; ".join(gone) if gone else ""


# --- fetching ------------------------------------------------------------------------------

@dataclass
class Page:
    name: str
    url: str
    final_url: str = ""
    body: bytes = b""
    content_type: str = ""
    reason: str = ""
    message: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest() if not self.reason else ""


def pages_of(website: WebsiteConfig) -> list[tuple[str, str]]:
    """(page name, URL) of a website's audited pages, the home page first."""
    pages = [("home", website.url)]
    pages += [(p.name, p.url) for p in website.policy_pages if p.name != "home"]
    pages += [(f"page{i}", url) for i, url in enumerate(website.audit.pages, start=2)]
    return pages


async def fetch_page(prober: Prober, name: str, url: str, website: WebsiteConfig,
                     max_bytes: int, deadline: float) -> Page:
    page = Page(name, url)
    host = urlsplit(url).hostname or ""
    try:
        answer = await web_dns.resolve(host, prober.resolver,
                                       min(prober.dns_timeout,
                                           web_http.remaining(deadline, "dns")))
    except web_http.ProbeFailure as failure:
        page.reason, page.message = failure.reason, str(failure)
        return page
    if not answer.addresses:
        page.reason, page.message = answer.reason or "dns_no_address", answer.message or host
        return page
    family, address = answer.addresses[0]
    expect = ExpectConfig(max_body_bytes=max_bytes,
                          max_redirects=website.expect.max_redirects)
    fetched = await prober.fetch(url, family, address, deadline, expect, website.tls.ca_file)
    page.final_url = fetched.final_url
    if fetched.reason:
        page.reason, page.message = fetched.reason, fetched.message or fetched.reason
        return page
    response = fetched.response
    assert response is not None
    if not 200 <= response.status < 300:
        page.reason, page.message = "http_status", f"HTTP {response.status}"
        return page
    ctype = response.header("content-type") or ""
    if ctype.split(";")[0].strip().lower() not in _HTML_TYPES:
        page.reason = "not_html"
        page.message = f"the answer is {ctype or 'of no declared type'}, not an HTML page"
        return page
    page.body, page.content_type = response.body, ctype
    return page


# --- vnu -----------------------------------------------------------------------------------

async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), 5)


async def run_vnu(tools: AuditToolsConfig, pages: Sequence[Page], deadline: float
                  ) -> dict[str, Any]:
    """One JVM checks every page; returns ``HtmlResult`` per page name."""
    with tempfile.TemporaryDirectory(prefix="upkeep-vnu-") as tmp:
        names: dict[str, str] = {}
        files = []
        for i, page in enumerate(pages):
            suffix = ".xhtml" if "xhtml" in page.content_type.lower() else ".html"
            path = Path(tmp) / f"page{i}{suffix}"
            path.write_bytes(page.body)
            names[path.name] = page.name
            files.append(str(path))
        proc = await asyncio.create_subprocess_exec(
            tools.java, "-Xss1m", "-Xmx512m", "-jar", tools.vnu_jar, "--format", "json",
            "--stdout", "--exit-zero-always", *files, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        try:
            out, err = await asyncio.wait_for(proc.communicate(),
                                              max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            await _kill(proc)
            raise AuditToolError("audit_timeout", "vnu did not finish in time") from None
        except asyncio.CancelledError:
            await _kill(proc)
            raise
        try:
            return dict(parse_vnu(out, names))
        except ValueError as error:
            raise AuditToolError("tool_error", f"{error} (exit {proc.returncode}; "
                                 f"{err.decode(errors='replace')[-300:]})") from None


# --- axe in Chromium -----------------------------------------------------------------------

_AXE_RUN = """(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags},
  resultTypes: ['violations']}).then(r => ({violations: r.violations}))"""


class _Browser:
    """One Chromium for a run, restarted after a page that hung it."""

    def __init__(self, tools: AuditToolsConfig, driver: Any) -> None:
        self.tools = tools
        self.driver = driver
        self.browser: Any = None

    async def get(self) -> Any:
        if self.browser is None:
            self.browser = await self.driver.chromium.launch(
                executable_path=self.tools.chromium, headless=True, args=CHROMIUM_ARGS)
        return self.browser

    async def drop(self) -> None:
        browser, self.browser = self.browser, None
        if browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), 10)


async def _axe_page(browser: Any, page: Page, axe_source: str, timeout: float
                    ) -> dict[str, Any]:
    origin = urlsplit(page.final_url or page.url)[:2]
    document = page.final_url or page.url

    async def route(r: Any) -> None:
        url = r.request.url
        if url.split("#")[0] == document.split("#")[0] and r.request.is_navigation_request():
            await r.fulfill(status=200, body=page.body,
                            headers={"content-type": page.content_type})
        elif urlsplit(url)[:2] == origin:
            await r.continue_()
        else:
            await r.abort()

    context = await browser.new_context(ignore_https_errors=True, bypass_csp=True,
                                        service_workers="block")
    try:
        tab = await context.new_page()
        await tab.route("**/*", route)
        with contextlib.suppress(Exception):  # a page that never finishes loading: audit it as is
            await tab.goto(document, wait_until="load", timeout=timeout * 500)
        await tab.add_script_tag(content=axe_source)
        result = await tab.evaluate(_AXE_RUN, list(WCAG_TAGS))
        violations = parse_axe(result)
        return {"violations": violations, "impacts": impact_counts(violations)}
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(context.close(), 5)


async def run_axe(tools: AuditToolsConfig, pages: Sequence[Page], deadline: float
                  ) -> dict[str, dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations per page name (or ``{reason, message}``)."""
    from playwright.async_api import async_playwright

    axe_source = Path(tools.axe_js).read_text(encoding="utf-8")
    out: dict[str, dict[str, Any]] = {}
    async with async_playwright() as driver:
        browser = _Browser(tools, driver)
        try:
            for page in pages:
                left = deadline - time.monotonic()
                if left <= 1:
                    out[page.name] = {"reason": "audit_timeout",
                                      "message": "no time left for this page"}
                    continue
                timeout = min(tools.page_timeout, left)
                try:
                    out[page.name] = await asyncio.wait_for(
                        _axe_page(await browser.get(), page, axe_source, timeout), timeout)
                except TimeoutError:
                    out[page.name] = {"reason": "audit_timeout", "message":
                                      f"the page did not let axe finish within {timeout:g}s"}
                    await browser.drop()  # its renderer may be stuck in a loop
                except Exception as err:  # Playwright's errors: a page that breaks the browser
                    out[page.name] = {"reason": "tool_error",
                                      "message": f"{type(err).__name__}: {str(err)[:300]}"}
                    await browser.drop()
        finally:
            await browser.drop()
    return out


# --- one website ---------------------------------------------------------------------------

@dataclass
class AuditRun:
    website: WebsiteConfig
    pages: list[Page]
    tools: dict[str, dict[str, Any]]
    html: dict[str, Any] = field(default_factory=dict)
    axe: dict[str, dict[str, Any]] = field(default_factory=dict)
    html_failure: tuple[str, str] | None = None
    axe_failure: tuple[str, str] | None = None
    started: float = field(default_factory=time.time)


async def audit(website: WebsiteConfig, pages: list[Page], tools_config: AuditToolsConfig,
                deadline: float) -> AuditRun:
    """Run both tools over the pages that were fetched (each bounded by ``deadline``)."""
    tools = check_tools(tools_config)
    run = AuditRun(website, pages, tools)
    good = [p for p in pages if not p.reason]
    if not good:
        return run
    missing = _missing(tools, "java", "vnu_jar")
    if missing:
        run.html_failure = (Reason.TOOL_MISSING, missing)
    else:
        try:
            run.html = await run_vnu(tools_config, good, deadline)
        except AuditToolError as err:
            run.html_failure = (err.reason, str(err))
        except OSError as err:
            run.html_failure = ("tool_error", f"cannot run java: {err}")
    missing = _missing(tools, "chromium", "axe_js", "playwright")
    if missing:
        run.axe_failure = (Reason.TOOL_MISSING, missing)
    else:
        try:
            run.axe = await run_axe(tools_config, good, deadline)
        except Exception as err:  # the Playwright driver or Chromium would not start
            run.axe_failure = ("tool_error", f"{type(err).__name__}: {str(err)[:300]}")
    return run


def _html_info(run: AuditRun, page: Page) -> dict[str, Any]:
    if run.html_failure:
        return {"reason": run.html_failure[0], "message": run.html_failure[1]}
    result = run.html.get(page.name)
    if result is None or result.failure:
        return {"reason": "tool_error",
                "message": result.failure if result else "vnu said nothing about the page"}
    return {"errors": result.errors, "warnings": result.warnings,
            "messages": result.messages, "reason": ""}


def _axe_info(run: AuditRun, page: Page) -> dict[str, Any]:
    if run.axe_failure:
        return {"reason": run.axe_failure[0], "message": run.axe_failure[1]}
    found = run.axe.get(page.name) or {"reason": "tool_error", "message": "no axe result"}
    return {"reason": "", **found}


def audit_reading(run: AuditRun, duration: float) -> Reading:
    """Pure: the reading (samples and info) of one audit run."""
    name = run.website.name
    pages: dict[str, dict[str, Any]] = {}
    samples: list[Sample] = [sample(LAST_RUN, run.started, website=name)]
    for page in run.pages:
        entry: dict[str, Any] = {"url": page.url, "final_url": page.final_url,
                                 "reason": page.reason, "message": page.message}
        pages[page.name] = entry
        if page.reason:
            continue
        entry.update(sha256=page.sha256, bytes=len(page.body))
        entry["thai"] = thai_check(page.body, page.content_type, thai=run.website.audit.thai)
        html = entry["html"] = _html_info(run, page)
        if not html["reason"]:
            samples.append(sample(HTML_ERRORS, html["errors"], website=name, page=page.name))
            samples.append(sample(HTML_WARNINGS, html["warnings"], website=name,
                                  page=page.name))
        axe = entry["accessibility"] = _axe_info(run, page)
        if not axe["reason"]:
            for impact in IMPACTS:
                samples.append(sample(A11Y, axe["impacts"][impact], website=name,
                                      page=page.name, impact=impact))
    info = {"url": run.website.url, "audited_at": run.started, "tools": run.tools,
            "pages": pages, "summary": summaries(pages)}
    reason, message = "", ""
    failed = [(n, p) for n, p in pages.items() if p["reason"]]
    if failed and len(failed) == len(pages):
        reason, message = failed[0][1]["reason"], f"{failed[0][0]}: {failed[0][1]['message']}"
    elif run.html_failure or run.axe_failure:
        reason, message = (run.html_failure or run.axe_failure or ("", ""))
    return Reading(KIND, name, time.time(), not reason, duration, reason, message, samples,
                   info)


def findings(reading: Reading) -> Iterator[str]:
    """Why an audit is not clean (empty when it ran fully and found nothing)."""
    if not reading.info:
        yield f"no audit: {reading.reason} {reading.message}".strip()
        return
    for name, page in reading.info["pages"].items():
        if page["reason"]:
            yield f"{name}: {page['reason']} ({page['message']})"
            continue
        for part in ("html", "accessibility"):
            if page[part]["reason"]:
                yield f"{name}: {part} {page[part]['reason']} ({page[part]['message']})"
        if not page["html"]["reason"] and page["html"]["errors"]:
            yield f"{name}: {page['html']['errors']} HTML error(s)"
        if not page["accessibility"]["reason"] and sum(page["accessibility"]["impacts"].values()):
            yield (f"{name}: accessibility "
                   + ", ".join(v["id"] for v in page["accessibility"]["violations"]))
        if page["thai"]["problems"]:
            yield f"{name}: " + ", ".join(page["thai"]["problems"])


# --- the collector -------------------------------------------------------------------------

@dataclass
class _Last:
    reading: Reading
    hashes: dict[str, str]
    at: float  # monotonic


class AuditCollector(Collector):
    kind = KIND

    def __init__(self, websites: Sequence[WebsiteConfig], resolver: ResolverConfig,
                 tools: AuditToolsConfig) -> None:
        self.websites = [w for w in websites if w.audit.enabled]
        self.resolver_config = resolver
        self.tools = tools
        self._prober: Prober | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last: dict[str, _Last] = {}

    def _loop_parts(self) -> tuple[Prober, asyncio.Lock]:
        loop = asyncio.get_running_loop()
        if self._prober is None or self._lock is None or self._loop is not loop:
            self._loop = loop
            self._prober = Prober(make_resolver(self.resolver_config),
                                  self.resolver_config.timeout, max_connections=8)
            self._lock = asyncio.Lock()
        return self._prober, self._lock

    def targets(self) -> Sequence[Target]:
        return [Target(KIND, w.name, w.audit.check_interval, self.tools.timeout,
                       jitter=min(w.audit.check_interval / 10, 30.0), settings=w)
                for w in self.websites]

    async def poll(self, target: Target) -> Reading:
        return await self.run(target.settings, target.timeout, force=False)

    async def fetch(self, website: WebsiteConfig, deadline: float) -> list[Page]:
        prober, _ = self._loop_parts()
        return list(await asyncio.gather(*(
            fetch_page(prober, name, url, website, self.tools.max_page_bytes, deadline)
            for name, url in pages_of(website))))

    async def run(self, website: WebsiteConfig, timeout: float, *, force: bool) -> Reading:
        """Fetch and hash the pages; audit when due, changed or ``force``d, else the last
        audit's reading again."""
        started = time.monotonic()
        deadline = started + max(timeout * 0.9, timeout - 2.0)
        _, lock = self._loop_parts()
        pages = await self.fetch(website, min(deadline, started + max(website.timeout, 5.0)))
        hashes = {p.name: p.sha256 for p in pages}
        last = self._last.get(website.name)
        if (not force and last is not None and last.hashes == hashes
                and started - last.at < website.audit.interval):
            return replace(last.reading, time=time.time(), duration=0.0)
        async with lock:  # one audit at a time: two JVMs and browsers would starve the agent
            run = await audit(website, pages, self.tools, deadline)
        reading = audit_reading(run, time.monotonic() - started)
        self._last[website.name] = _Last(reading, hashes, started)
        return reading


@register(KIND)
def _factory(config: Config) -> AuditCollector | None:
    if not any(w.audit.enabled for w in config.websites):
        return None
    return AuditCollector(config.websites, config.resolver, config.audit)
