"""Who may read and who may write, as FastAPI dependencies over ``WebSecurity``.

- Read (``Reader``): open when ``reads_are_public``; otherwise a valid basic-auth user or the
  token, else 401 with ``WWW-Authenticate: Basic``.
- Write (``Writer``): always a valid user or the token. No credentials: 401; credentials
  that are not valid: 403.

The state (bcrypt users, token, the reloaded toolkit file, the rate limit) is
``upkeep.kit.websecurity.WebSecurity``, which needs no web framework: the agent's ``/metrics``
fast path uses it before FastAPI is ever loaded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from starlette.responses import PlainTextResponse

from upkeep.config.web import WebConfig
from upkeep.kit.websecurity import WebSecurity

__all__ = ["Reader", "WebSecurity", "Writer", "install_web_security", "require_reader",
           "require_writer", "security"]


def security(request: Request) -> WebSecurity:
    """The app's ``WebSecurity``, built on first use from the agent's ``web:`` config."""
    state = request.app.state
    config: WebConfig = state.agent.config.web
    current: WebSecurity | None = getattr(state, "web_security", None)
    if current is None or current.config is not config:
        current = WebSecurity(config)
        state.web_security = current
    return current


def require_reader(request: Request,
                   sec: Annotated[WebSecurity, Depends(security)]) -> str | None:
    who = sec.identify(request.headers.get("authorization", ""))
    if who is None and not sec.reads_are_public():
        raise HTTPException(401, "authentication required",
                            headers={"WWW-Authenticate": 'Basic realm="upkeep"'})
    return who


def require_writer(request: Request, sec: Annotated[WebSecurity, Depends(security)]) -> str:
    """Writes always need authority; with neither token nor users configured, none can write."""
    if not request.headers.get("authorization"):
        raise HTTPException(401, "a write needs credentials (Authorization: Bearer <api_token> "
                                 "or a basic-auth user)",
                            headers={"WWW-Authenticate": 'Bearer realm="upkeep"'})
    who = sec.identify(request.headers.get("authorization", ""))
    if who is None:
        raise HTTPException(403, "the credentials given are not valid")
    return who


Reader = Annotated["str | None", Depends(require_reader)]
Writer = Annotated[str, Depends(require_writer)]


def install_web_security(app: FastAPI, config: WebConfig,
                         sec: WebSecurity | None = None) -> WebSecurity:
    """Response headers and the rate limit from ``http_server_config`` / ``rate_limit``.

    ``sec``: share an existing state (the agent's ``/metrics`` fast path and the API then
    draw on one rate-limit bucket and one credential cache)."""
    sec = sec if sec is not None else WebSecurity(config)
    app.state.web_security = sec

    @app.middleware("http")
    async def _web_security(request: Request,
                            call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not sec.allow_request():
            return PlainTextResponse("too many requests", status_code=429)
        response = await call_next(request)
        for name, value in sec.toolkit().http_server_config.headers.items():
            response.headers[name] = value
        return response

    return sec
