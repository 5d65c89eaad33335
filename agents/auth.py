"""Who may read and who may write, for the agent's HTTP API."""

from __future__ import annotations

import base64
import hmac
import logging
from typing import Annotated

import bcrypt
from fastapi import Depends, HTTPException, Request

from upkeep.config.web import WebConfig

log = logging.getLogger(__name__)


def _basic_user(header: str, config: WebConfig) -> str | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = raw.partition(":")
    hashed = config.basic_auth_users.get(user)
    if not sep or hashed is None:
        return None
    try:
        ok = bcrypt.checkpw(password.encode("utf-8"), hashed.get_secret_value().encode("ascii"))
    except ValueError:
        return None
    return user if ok else None


def _token_ok(header: str, config: WebConfig) -> bool:
    if config.api_token is None or not header.lower().startswith("bearer "):
        return False
    given = header[7:].strip().encode("utf-8")
    return hmac.compare_digest(given, config.api_token.get_secret_value().encode("utf-8"))


def identify(request: Request, config: WebConfig) -> str | None:
    """The caller's identity ("token" or a user name), or None."""
    header = request.headers.get("authorization", "")
    if _token_ok(header, config):
        return "token"
    return _basic_user(header, config)


def web_config(request: Request) -> WebConfig:
    config: WebConfig = request.app.state.agent.config.web
    return config


def require_reader(request: Request,
                   config: Annotated[WebConfig, Depends(web_config)]) -> str | None:
    if config.public_read and not config.basic_auth_users:
        return identify(request, config)
    who = identify(request, config)
    if who is None:
        raise HTTPException(401, "authentication required",
                            headers={"WWW-Authenticate": 'Basic realm="upkeep"'})
    return who


def require_writer(request: Request, config: Annotated[WebConfig, Depends(web_config)]) -> str:
    """Writes always need authority; with neither token nor users configured, none can write."""
    header = request.headers.get("authorization", "")
    if not header:
        raise HTTPException(401, "a write needs the API token (Authorization: Bearer ...)",
                            headers={"WWW-Authenticate": 'Bearer realm="upkeep"'})
    who = identify(request, config)
    if who is None:
        raise HTTPException(403, "the credentials given are not valid")
    return who


Reader = Annotated["str | None", Depends(require_reader)]
Writer = Annotated[str, Depends(require_writer)]
