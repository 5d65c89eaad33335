"""ITA disclosure pages: fetching each configured OIT item's page for the checklist.

The government's Integrity and Transparency Assessment (ITA, by the NACC) asks an agency to
publish a list of items (OIT: O1 structure, O2 executives, ...) on its main website, each
answered with a URL. The catalogue has one control per item (``ITA-O1`` ...) whose
``params.heading`` is the heading the page must show; ``policies.ita.pages`` says where the
office publishes each item. This service fetches every configured page on its own slow
schedule (``policies.ita.interval``, default a day; each fetch bounded by ``timeout``) and
hands the checklist one ``Reading`` of kind ``ita`` per item, never put into the state store
(so nothing new appears on ``/metrics``). The evaluator ``ita.page``
(``checklist_checks``) judges it.

When was a page updated? Its ``Last-Modified`` header when it sends one; otherwise when
upkeep first saw its current content (SHA-256 of the body, kept in the agent's SQLite file so
a restart does not make an old page look new). A page whose body changes on every request
(a clock, a session token) therefore always looks fresh: prefer pages that send
``Last-Modified``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import ssl
import time
from typing import TYPE_CHECKING, Any

from upkeep.config import Config, ConfigError
from upkeep.errors import StoreError
from upkeep.kit.db import Database
from upkeep.reading import Reading

if TYPE_CHECKING:
    from upkeep.kit.agent import AgentView

log = logging.getLogger(__name__)

KIND = "ita"
#: a disclosure page bigger than this is read only this far (the heading is near the top)
BODY_LIMIT = 4 * 1024 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS ita_page_content (
    item TEXT NOT NULL,
    url TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    first_seen REAL NOT NULL,
    PRIMARY KEY (item, url, sha256)
);
"""
_TAGS = re.compile(r"<[^>]*>")
_CHARSET = re.compile(r"charset=([\w-]+)", re.IGNORECASE)


def headings(config: Config) -> dict[str, str]:
    """OIT item -> the heading text its page must show (config first, then the catalogue)."""
    from upkeep.policies.checklist import load_catalogue

    out: dict[str, str] = {}
    try:
        catalogue = load_catalogue(config.policies.checklist)
    except ConfigError:
        catalogue = None
    if catalogue is not None:
        for control in catalogue.controls:
            if control.evaluator == "ita.page" and "item" in control.params:
                out[str(control.params["item"])] = str(control.params.get("heading") or "")
    for item, page in config.policies.ita.pages.items():
        if page.expect_text:
            out[item] = page.expect_text
    return out


def page_text(body: bytes, content_type: str) -> str:
    """The page's visible text, roughly: tags removed, entities decoded, spaces collapsed."""
    match = _CHARSET.search(content_type or "")
    text = None
    for encoding in ([match.group(1)] if match else []) + ["utf-8", "cp874"]:
        try:
            text = body.decode(encoding)
            break
        except (UnicodeDecodeError, LookupError):
            continue
    if text is None:
        text = body.decode("utf-8", errors="replace")
    import html  # with its entity table: loaded when a page is read, not by every agent

    return " ".join(html.unescape(_TAGS.sub(" ", text)).split())


def _context(ca_file: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()  # the system store (honours SSL_CERT_FILE)
    if ca_file:
        ctx.load_verify_locations(ca_file)
    return ctx


def fetch_page(url: str, heading: str, timeout: float, ca_file: str | None = None
               ) -> dict[str, Any]:
    """GET ``url`` (redirects followed, TLS verified): status, Last-Modified, body digest and
    whether ``heading`` appears. Blocking; every socket operation bounded by ``timeout``."""
    # urllib's HTTP client and the email package: loaded when a page is fetched
    import urllib.error
    import urllib.request
    from email.utils import parsedate_to_datetime

    out: dict[str, Any] = {"url": url, "status": None, "reason": "", "message": "",
                           "last_modified": None, "sha256": None, "text_found": None,
                           "final_url": None, "fetched_at": time.time()}
    request = urllib.request.Request(url, headers={"User-Agent": "upkeep-ita-check",
                                                   "Accept": "text/html,*/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout,  # noqa: S310 (http/https only)
                                    context=_context(ca_file)) as response:
            body = response.read(BODY_LIMIT)
            out["status"] = response.status
            out["final_url"] = response.geturl()
            headers = response.headers
    except urllib.error.HTTPError as err:
        out.update(status=err.code, reason="http_status", message=f"HTTP {err.code}")
        return out
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        out.update(reason="tls" if isinstance(reason, ssl.SSLError) else "unreachable",
                   message=str(reason))
        return out
    modified = headers.get("Last-Modified")
    if modified:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            out["last_modified"] = parsedate_to_datetime(modified).timestamp()
    out["sha256"] = hashlib.sha256(body).hexdigest()
    text = page_text(body, headers.get("Content-Type", ""))
    out["text_found"] = (" ".join(heading.split()) in text) if heading else None
    return out


class ItaPages:
    """The configured pages' latest fetches, with the content history in ``db``."""

    def __init__(self, config: Config, db: Database | None) -> None:
        self.config = config
        self.db: Database | None = None
        self.results: dict[str, Reading] = {}
        if db is not None:
            try:
                db.ensure_schema("ita_page_content", SCHEMA)
                self.db = db
            except StoreError as err:
                log.error("ITA pages: content history not kept: %s", err)

    async def check_all(self) -> None:
        config = self.config.policies.ita
        wanted = headings(self.config)

        async def one(item: str, url: str) -> None:
            try:
                info = await asyncio.wait_for(asyncio.to_thread(
                    fetch_page, url, wanted.get(item, ""), config.timeout, config.ca_file),
                    config.timeout * 2 + 1)
            except TimeoutError:
                info = {"url": url, "status": None, "reason": "timeout",
                        "message": f"no answer within {config.timeout:g} s",
                        "fetched_at": time.time()}
            self.results[item] = self.reading(item, info)

        await asyncio.gather(*(one(item, page.url) for item, page in config.pages.items()))

    def reading(self, item: str, info: dict[str, Any]) -> Reading:
        """The fetch as a Reading, with ``updated_at`` (Last-Modified, or content first seen)."""
        info = dict(info)
        updated = info.get("last_modified")
        if updated is None and info.get("sha256") and self.db is not None:
            try:
                with self.db.transaction() as conn:
                    conn.execute("INSERT OR IGNORE INTO ita_page_content VALUES (?,?,?,?)",
                                 (item, info["url"], info["sha256"], info["fetched_at"]))
                rows = self.db.query("SELECT first_seen FROM ita_page_content WHERE item = ? "
                                     "AND url = ? AND sha256 = ?",
                                     (item, info["url"], info["sha256"]))
                updated = float(rows[0][0])
                info["updated_source"] = "first_seen"
            except StoreError as err:
                log.warning("ITA %s: cannot keep the content history: %s", item, err)
        elif updated is not None:
            info["updated_source"] = "last_modified"
        info["updated_at"] = updated
        ok = not info.get("reason")
        return Reading(KIND, item, float(info["fetched_at"]), ok,
                       reason=info.get("reason") or "", message=info.get("message") or "",
                       info=info)

    def readings(self) -> list[Reading]:
        return list(self.results.values())


def check_once(config: Config, db: Database | None) -> list[Reading]:
    """Fetch every configured page now (the CLI's ``upkeep checklist``, outside the agent)."""
    pages = ItaPages(config, db)
    asyncio.run(pages.check_all())
    return pages.readings()


class ItaService:
    """``ItaPages`` on the agent's schedule (``policies.ita.interval``)."""

    name = "ita"

    def __init__(self, agent: AgentView) -> None:
        self.agent = agent
        self.pages: ItaPages | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, agent: AgentView) -> None:
        if agent.db is None:
            log.error("ITA pages: content history not kept: %s", agent.db_error or "no database")
        self.pages = ItaPages(agent.config, agent.db)
        self._task = asyncio.create_task(self._loop(self.pages))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self, pages: ItaPages) -> None:
        while True:
            await pages.check_all()
            await asyncio.sleep(self.agent.config.policies.ita.interval)

    def readings(self) -> list[Reading]:
        return self.pages.readings() if self.pages is not None else []


def factory(agent: AgentView) -> ItaService | None:
    return ItaService(agent) if agent.config.policies.ita.pages else None
