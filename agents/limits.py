"""Request-body limits and JSON sanity for the API, as a small ASGI middleware.

Starlette reads a body into memory whole; without a limit one client could make the agent
buffer gigabytes. ``Content-Length`` above the limit is refused before reading; a chunked
body is counted as it arrives and cut off at the limit. Either way the answer is 413 and the
endpoint never runs, so nothing is written.

A JSON body is read here (it is small) and checked before any endpoint sees it: Python's
``json`` accepts ``NaN``, ``1e999999`` (infinity) and lone surrogates (``"\\ud800"``), which
are not JSON/Unicode and would otherwise fail later - as a 500 when FastAPI cannot echo an
infinite number back, or when SQLite cannot store the text. They get 422 instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger(__name__)

#: JSON documents the API accepts are a few hundred bytes; 1 MiB leaves room for notes
DEFAULT_LIMIT = 1024 * 1024
#: an office's asset spreadsheet (policies/api_policies.py refuses beyond 20 MB as well)
#: and an attestation's evidence file, base64 in JSON (20 MB of file is ~27 MB of base64)
PATH_LIMITS = {"/api/v1/assets/import": 20 * 1024 * 1024,
               "/api/v1/checklist/attest": 28 * 1024 * 1024}


class _TooLarge(Exception):
    pass


def json_problem(body: bytes) -> str | None:
    """Why ``body`` is not strict JSON with valid Unicode text, or None (empty is fine:
    the endpoint decides whether it needs a body)."""
    if not body.strip():
        return None

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    def finite(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"{text[:20]} is out of range")
        return value

    try:
        data = json.loads(body, parse_constant=no_constant, parse_float=finite)
        # a lone surrogate decodes to str but cannot be encoded: stored text would fail
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        return "the body is not valid UTF-8 / Unicode text"
    except RecursionError:
        return "the JSON document is nested too deeply"
    except ValueError as err:  # JSONDecodeError is a ValueError
        return f"invalid JSON: {err}"
    return None


class BodyLimit:
    def __init__(self, app: ASGIApp, default: int = DEFAULT_LIMIT,
                 paths: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.paths = PATH_LIMITS if paths is None else paths

    def limit_for(self, path: str) -> int:
        return self.paths.get(path.rstrip("/") or "/", self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", "/"))
        headers = dict(scope.get("headers", ()))
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _refuse(send, 400, "invalid Content-Length")
                return
            if declared > limit:
                await _refuse(send, 413, f"request body larger than {limit} bytes")
                return
        if b"json" in headers.get(b"content-type", b"").lower():
            await self._json(scope, receive, send, limit)
        else:
            await self._streamed(scope, receive, send, limit)

    async def _json(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(send, 413, f"request body larger than {limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = json_problem(body)
        if problem is not None:
            log.info("refused a JSON body on %s: %s", scope.get("path"), problem[:200])
            await _refuse(send, 422, problem)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        too_large = replaced = False

        async def counted_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # the framework turns an error while reading into its own 400: say 413 instead
            nonlocal replaced
            if too_large:
                if not replaced:
                    replaced = True
                    await _refuse(send, 413, f"request body larger than {limit} bytes")
                return
            await send(message)

        with contextlib.suppress(_TooLarge):  # the endpoint did not run; 413 follows
            await self.app(scope, counted_receive, guarded_send)
        if too_large and not replaced:
            await _refuse(send, 413, f"request body larger than {limit} bytes")


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
