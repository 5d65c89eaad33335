"""A small, strictly bounded HTTP/1.1 client on asyncio streams (h11), plus pure header checks.

Why not httpx: the probe pins every request to one resolved address while keeping the URL's
host for ``Host`` and SNI, times each phase separately (connect, tls, first byte, total),
stops reading at a byte limit, and must turn every malformed answer into a reason. h11
(already present under uvicorn) parses; we own the socket and the deadlines.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import difflib
import inspect
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import h11

from upkeep import __version__

USER_AGENT = f"upkeep/{__version__} (website probe)"
_READ = 65536
#: frames of coroutines and generators: ``release_frames`` never clears them via ``f_back``
_SUSPENDABLE = (inspect.CO_COROUTINE | inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR
                | inspect.CO_ITERABLE_COROUTINE)
#: largest status line + header block we accept (a header flood is a protocol error)
_MAX_HEAD = 64 * 1024


class ProbeFailure(Exception):
    """A step of one probe failed; ``reason`` is the exported code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    first_byte: float = 0.0
    transfer: float = 0.0

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]


def remaining(deadline: float, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ProbeFailure(f"{what}_timeout", f"no time left for {what}")
    return left


async def connect(ip: str, port: int, deadline: float
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    remaining(deadline, "connect")
    try:
        # asyncio.timeout_at, not wait_for: no extra task per step (a third of the CPU with
        # hundreds of probes); the loop clock is time.monotonic, like our deadline
        async with asyncio.timeout_at(deadline):
            return await asyncio.open_connection(ip, port)
    except TimeoutError:
        raise ProbeFailure("connect_timeout", f"TCP connect to {ip} port {port} timed out") from None
    except ConnectionRefusedError:
        raise ProbeFailure("connect_refused", f"{ip} port {port} refused the connection") from None
    except OSError as err:
        raise ProbeFailure("connect_error", f"connecting to {ip} port {port}: {err}") from None


async def start_tls(writer: asyncio.StreamWriter, ctx: ssl.SSLContext, sni: str | None,
                    deadline: float) -> None:
    """Upgrade in place; ``ssl.SSLError`` propagates to the caller (it carries the verdict)."""
    budget = remaining(deadline, "tls")
    try:
        async with asyncio.timeout_at(deadline):
            await writer.start_tls(ctx, server_hostname=sni, ssl_handshake_timeout=budget)
    except TimeoutError:
        raise ProbeFailure("tls_timeout", "the TLS handshake did not finish in time") from None
    except (ConnectionError, EOFError) as err:
        raise ProbeFailure("tls_error", f"the server closed during the TLS handshake: {err}") \
            from None


async def handshake_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         ctx: ssl.SSLContext, sni: str | None, deadline: float) -> bool:
    """A TLS handshake and nothing after it: True when it completed, False when the server
    refused it (an alert, or a close during the handshake).

    Driven through memory BIOs on the plain stream instead of ``start_tls``: asyncio's TLS
    protocol allocates a 256 KiB read buffer per connection, and a refused handshake leaves
    it in a reference cycle (the error's traceback holds the frames that hold the protocol)
    that only a full garbage collection frees. The version matrix refuses on purpose at
    every site, so an agent with 34 sites held ~17 MiB of such buffers after its first
    cycle. Here the refusal is an ``ssl.SSLError`` handled in this frame, and nothing is
    left behind."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        async with asyncio.timeout_at(deadline):
            while True:
                done = refused = False
                try:
                    tls.do_handshake()
                    done = True
                    tls.unwrap()  # close_notify, so the server logs a polite goodbye
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError:
                    refused = not done
                pending = outgoing.read()
                if pending:  # our next flight, the alert that says why we gave up, or bye
                    writer.write(pending)
                    await writer.drain()
                if done or refused:
                    return done
                chunk = await reader.read(_READ)
                if not chunk:
                    return False  # closed during the handshake: refused
                incoming.write(chunk)
    except TimeoutError:
        raise ProbeFailure("tls_timeout", "the TLS handshake did not finish in time") from None
    except ConnectionError:
        return False


async def close(writer: asyncio.StreamWriter) -> None:
    """Close politely (TLS close_notify) but never wait on a peer that will not answer."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 0.25)
    except (TimeoutError, OSError, ssl.SSLError, asyncio.CancelledError) as err:
        writer.transport.abort()
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # our own cancellation must go on
        release_frames(err)


def release_frames(err: BaseException) -> None:
    """Clear the locals of the finished frames that ``err``'s traceback holds.

    A failed TLS handshake (a certificate that does not verify) is kept by asyncio with its
    traceback in the connection's futures; the traceback's frames, and the callbacks they
    were called from, hold the TLS protocol and its 256 KiB buffer: a reference cycle that
    only a full garbage collection frees, one per poll of every site with a bad certificate.
    With those frames' locals cleared it is freed at once. Frames still running raise
    ``RuntimeError`` and are left alone; coroutine frames reached through ``f_back`` are never
    cleared (clearing a suspended coroutine's frame would close it)."""
    tb = err.__traceback__
    while tb is not None:
        frame: Any = tb.tb_frame
        with contextlib.suppress(RuntimeError):
            frame.clear()  # as traceback.clear_frames
        frame = frame.f_back
        while frame is not None and not frame.f_code.co_flags & _SUSPENDABLE:
            try:
                frame.clear()
            except RuntimeError:  # running: so is every frame below it
                break
            frame = frame.f_back
        tb = tb.tb_next


async def get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
              target: str, deadline: float, max_body: int) -> HttpResponse:
    """One GET with ``Connection: close``; the body is read up to ``max_body`` bytes."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
    request = h11.Request(method="GET", target=target, headers=[
        ("Host", host), ("User-Agent", USER_AGENT), ("Accept", "*/*"),
        ("Accept-Encoding", "identity"), ("Connection", "close")])
    sent = time.monotonic()
    try:
        writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
        remaining(deadline, "http")
        async with asyncio.timeout_at(deadline):
            await writer.drain()
    except TimeoutError:
        raise ProbeFailure("http_timeout", "sending the request timed out") from None
    except (ConnectionError, ssl.SSLError) as err:
        raise ProbeFailure("http_error", f"sending the request failed: {err}") from None
    response: HttpResponse | None = None
    body = bytearray()
    first: float | None = None
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as err:
            raise ProbeFailure("http_protocol", f"malformed HTTP response: {err}") from None
        if event is h11.NEED_DATA:
            remaining(deadline, "http")
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await reader.read(_READ)
            except TimeoutError:
                phase = "the response headers" if response is None else "the response body"
                raise ProbeFailure("http_timeout", f"{phase} did not arrive in time") from None
            except (ConnectionError, ssl.SSLError) as err:
                raise ProbeFailure("http_error", f"reading the response failed: {err}") from None
            if first is None and chunk:
                first = time.monotonic()
            try:
                conn.receive_data(chunk)
            except h11.RemoteProtocolError as err:
                raise ProbeFailure("http_protocol", f"malformed HTTP response: {err}") from None
            continue
        if isinstance(event, h11.InformationalResponse):
            continue
        if isinstance(event, h11.Response):
            response = HttpResponse(
                event.status_code,
                [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in event.headers],
                b"", first_byte=(first or time.monotonic()) - sent)
            continue
        if isinstance(event, h11.Data):
            body += event.data
            if len(body) > max_body:
                raise ProbeFailure("body_too_large",
                                   f"the body exceeds the limit of {max_body} bytes")
            continue
        if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    if response is None:  # pragma: no cover - h11 raises before this
        raise ProbeFailure("http_protocol", "no response")
    response.body = bytes(body)
    response.transfer = time.monotonic() - sent - response.first_byte
    return response


# --- pure header checks ------------------------------------------------------------------

#: label value -> what counts as present (checked on lower-cased header names)
SECURITY_HEADERS = ("strict-transport-security", "content-security-policy",
                    "x-content-type-options", "x-frame-options", "referrer-policy")
_MAX_AGE = re.compile(r"(?:^|;)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:;|$)", re.IGNORECASE)


def parse_hsts(value: str | None) -> dict[str, object] | None:
    """The first HSTS header (internet.nl evaluates only the first): max-age and flags."""
    if value is None:
        return None
    match = _MAX_AGE.search(value)
    directives = {d.strip().lower() for d in value.split(";")}
    # int() refuses > 4300 digits; 18 digits already mean "forever"
    return {"max_age": int(match.group(1)[:18]) if match else None,
            "include_subdomains": "includesubdomains" in directives,
            "preload": "preload" in directives, "raw": value[:200]}


def csp_has_frame_ancestors(values: list[str]) -> bool:
    return any(re.search(r"(?:^|;)\s*frame-ancestors\s", v + " ", re.IGNORECASE) for v in values)


@dataclass
class HeaderCheck:
    present: dict[str, bool] = field(default_factory=dict)
    hsts: dict[str, object] | None = None
    values: dict[str, str] = field(default_factory=dict)


def check_headers(response: HttpResponse) -> HeaderCheck:
    """Presence of the security headers; X-Frame-Options also counts via CSP frame-ancestors."""
    out = HeaderCheck(hsts=parse_hsts(response.header("strict-transport-security")))
    csp = response.header_all("content-security-policy")
    for name in SECURITY_HEADERS:
        value = response.header(name)
        out.present[name] = value is not None
        if value is not None:
            out.values[name] = value[:300]
    if not out.present["x-frame-options"] and csp_has_frame_ancestors(csp):
        out.present["x-frame-options"] = True
        out.values["x-frame-options"] = "(CSP frame-ancestors)"
    if out.hsts is not None and out.hsts["max_age"] is None:
        out.present["strict-transport-security"] = False  # no max-age: invalid, ignored
    return out


_NONCE = re.compile(rb'nonce="[^"]*"|__VIEWSTATE[^>]*>')
_COMPARE = 64 * 1024


def body_distance(a: bytes, b: bytes) -> float:
    """0.0 identical ... 1.0 unrelated (internet.nl: SequenceMatcher.quick_ratio, nonces out)."""
    a, b = _NONCE.sub(b"", a[:_COMPARE]), _NONCE.sub(b"", b[:_COMPARE])
    if a == b:
        return 0.0
    return 1.0 - difflib.SequenceMatcher(None, a, b, autojunk=False).quick_ratio()


_NOT_CHARSETS = frozenset({"idna", "punycode", "undefined", "unicode-escape",
                           "raw-unicode-escape"})


def decode_text(body: bytes, headers: HttpResponse) -> str:
    charset = "utf-8"
    ctype = headers.header("content-type") or ""
    match = re.search(r"charset=([\w-]+)", ctype, re.IGNORECASE)
    if match:
        charset = match.group(1)
    try:
        codec = codecs.lookup(charset)
    except LookupError:
        codec = codecs.lookup("utf-8")
    # Python's codec registry also holds transforms that are no web charset (idna, punycode,
    # unicode_escape, base64 ...): a page may name them, but they decode as UTF-8; punycode's
    # "replace" differs between Python versions (3.13 drops the whole text)
    if codec.name in _NOT_CHARSETS or not getattr(codec, "_is_text_encoding", True):
        codec = codecs.lookup("utf-8")
    try:
        return body.decode(codec.name, errors="replace")
    except UnicodeError:  # a codec that cannot "replace"
        return body.decode("utf-8", errors="replace")
