"""The ASGI application ``upkeep run`` serves: ``/metrics`` here, everything else in FastAPI.

Prometheus asks for ``/metrics`` every few seconds; people open the UI and the API now and
then. So the front answers ``GET /metrics`` itself, straight from the exposition cache
(``MetricsCache``), with the same access rules, rate limit and response headers the API has
(``WebSecurity``). Every other request goes to the FastAPI application
(``upkeep.agents.app.create_app``), which is imported and built on the first such request,
in a worker thread so the polls keep their schedule meanwhile.

What this buys, measured with ``bench/bench_agent.py`` (bench/RESULTS.md): an agent that is
only scraped never loads FastAPI, its routers, the UI and their templates (about 10 MiB
resident), and a scrape costs no routing, dependency injection or middleware stack.

The front also owns the agent's lifecycle (ASGI lifespan): the agent starts before uvicorn
accepts connections and stops after it stops accepting them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from upkeep.agents.exposition import OPENMETRICS, TEXT_004
from upkeep.kit.websecurity import WebSecurity

if TYPE_CHECKING:
    from upkeep.agents.runtime import Agent

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def wants_openmetrics(accept: str) -> bool:
    """Content negotiation as prometheus_client's ``choose_encoder`` does it (Prometheus asks
    for OpenMetrics with q-values, and the order of the list decides, not the q-values).

    Ours rather than the library's: importing ``prometheus_client.exposition`` brings its
    registry, WSGI and HTTP servers (2.4 MB resident) for two small functions. A version
    that is not a number counts as "not 1.0.0 or later" (the library raises TypeError)."""
    for item in accept.split(","):
        tokens = item.split(";")
        kind = tokens[0].strip()
        if kind not in ("application/openmetrics-text", "text/plain"):
            continue
        version = ""
        for token in tokens:
            key, sep, value = token.strip().partition("=")
            if sep and key == "version":
                version = value
                break
        if kind == "application/openmetrics-text" and not version:
            return True
        if _at_least_1(version):
            return kind == "application/openmetrics-text"
    return False


def _at_least_1(version: str) -> bool:
    parts = version.split(".")
    if not version or not all(p.isdigit() for p in parts):
        return False
    return tuple(int(p) for p in parts) >= (1, 0, 0)


def gzip_accepted(accept_encoding: str) -> bool:
    """``Accept-Encoding`` names gzip (as prometheus_client's ``gzip_accepted``)."""
    return any(item.split(";")[0].strip().lower() == "gzip"
               for item in accept_encoding.split(","))


_date: tuple[int, bytes] = (0, b"")


def http_date() -> bytes:
    """The ``Date`` header's value, made at most once a second."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, usegmt=True).encode("latin-1"))
    return _date[1]


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


class AgentFront:
    """The agent's ASGI entry point (see the module text)."""

    def __init__(self, agent: Agent, *, on_started: Callable[[], None] | None = None,
                 build_api: Callable[[AgentFront], ASGIApp] | None = None) -> None:
        self.agent = agent
        self._on_started = on_started
        self._build_api = build_api or _full_api
        self._api: ASGIApp | None = None
        self._api_lock = asyncio.Lock()
        self._security = WebSecurity(agent.config.web)

    def security(self) -> WebSecurity:
        """The HTTP security state, rebuilt when a reload brings a new ``web:`` block."""
        if self._security.config is not self.agent.config.web:
            self._security = WebSecurity(self.agent.config.web)
        return self._security

    @property
    def api_loaded(self) -> bool:
        return self._api is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" and scope["path"] == "/metrics" and scope["method"] == "GET":
            await self._metrics(scope, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "http":
            await (await self._api_app())(scope, receive, _dated(send))
        else:
            await (await self._api_app())(scope, receive, send)

    # --- the rest: FastAPI, built on first use -------------------------------------------
    async def _api_app(self) -> ASGIApp:
        if self._api is None:
            async with self._api_lock:
                if self._api is None:
                    # importing FastAPI, the routers and the UI takes a few hundred ms of CPU
                    self._api = await asyncio.to_thread(self._build_api, self)
                    log.info("API and UI loaded on first use")
        return self._api

    # --- lifespan ----------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.agent.start()
                    if self._on_started is not None:
                        self._on_started()
                except Exception as err:
                    await send({"type": "lifespan.startup.failed", "message": repr(err)})
                    raise
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.agent.stop()
                log.info("upkeep stopped")
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- /metrics --------------------------------------------------------------------------
    async def _metrics(self, scope: Scope, send: Send) -> None:
        sec = self.security()
        extra = list(sec.toolkit().http_server_config.headers.items())
        if not sec.allow_request():
            await _respond(send, 429, b"too many requests", "text/plain; charset=utf-8", extra)
            return
        authorization = _header(scope, b"authorization")
        who = None
        if authorization[:6].lower() == "basic ":  # may cost a bcrypt check: off the loop
            who = await asyncio.to_thread(sec.identify, authorization)
        elif authorization:
            who = sec.identify(authorization)
        if who is None and not sec.reads_are_public():
            body = json.dumps({"detail": "authentication required"}).encode()
            await _respond(send, 401, body, "application/json",
                           [("WWW-Authenticate", 'Basic realm="upkeep"'), *extra])
            return
        # Prometheus asks for OpenMetrics with q-values: see wants_openmetrics
        openmetrics = wants_openmetrics(_header(scope, b"accept"))
        gz = gzip_accepted(_header(scope, b"accept-encoding"))
        cache = self.agent.metrics
        if cache.quick(openmetrics=openmetrics, gzipped=gz):  # cached, or a small render
            body = cache.current(openmetrics=openmetrics, gzipped=gz)
        else:  # a big render off the event loop: polls keep their schedule
            body = await asyncio.to_thread(cache.current, openmetrics=openmetrics, gzipped=gz)
        if gz:
            extra = [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding"), *extra]
        await _respond(send, 200, body, OPENMETRICS if openmetrics else TEXT_004, extra)


def _dated(send: Send) -> Send:
    """``send`` that adds ``Date`` to the response (uvicorn's is off: see QuietServer)."""

    async def dated(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), (b"date", http_date())]
        await send(message)

    return dated


async def _respond(send: Send, status: int, body: bytes, content_type: str,
                   headers: list[tuple[str, str]]) -> None:
    raw = [(b"date", http_date()), (b"content-type", content_type.encode("latin-1")),
           (b"content-length", str(len(body)).encode("latin-1"))]
    raw += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _full_api(front: AgentFront) -> ASGIApp:
    """The FastAPI application (API, ``/probe``, UI), sharing the front's security state."""
    from upkeep.agents.app import create_app
    from upkeep.kit.auth import install_web_security

    app = create_app(front.agent, manage_lifecycle=False)
    install_web_security(app, front.agent.config.web, front.security())
    return app
