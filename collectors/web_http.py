"""A small, strictly bounded HTTP/1.1 client on an asyncio protocol (h11), plus pure header checks.

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
import re
import ssl
import time
from dataclasses import dataclass, field

import h11

from upkeep import __version__

USER_AGENT = f"upkeep/{__version__} (website probe)"
_READ = 65536
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


class Exchange(asyncio.Protocol):
    """One connection: TLS (optional) through memory BIOs, then one HTTP/1.1 request.

    Why not asyncio streams with ``start_tls``: a probe on those costs four sends (hello,
    Finished, request, close_notify), a task per wait and asyncio's TLS protocol with its
    256 KiB read buffer per connection, which a refused handshake left in a reference cycle.
    Here the handshake runs in the protocol's callbacks, the request leaves in the same send
    as the client's Finished, and nothing is allocated beyond what the bytes need: a probe
    costs 0.4-0.8 ms of CPU less (of ~4.4 ms, measured in one process on the build machine).

    Use: ``await connect()``, ``await handshake()`` (TLS only), ``await response()`` when a
    request was given, and always ``close()``. Every wait is bounded by the deadline; a
    verification failure propagates as the ``ssl.SSLError`` (it carries the verdict), every
    other problem as a ``ProbeFailure`` with its reason. ``server_name`` is the URL's host:
    sent as SNI when it is a name, and with a verifying context checked against the
    certificate's DNS or IP names either way."""

    def __init__(self, deadline: float, *, context: ssl.SSLContext | None = None,
                 server_name: str | None = None, host: str = "", target: str = "",
                 max_body: int = 0, request: bool = True) -> None:
        loop = asyncio.get_running_loop()
        self.deadline = deadline
        #: "handshake" until the TLS handshake ended, then "secured" or "refused"
        self._stage = "handshake"
        # The outcomes live here; the two futures only wake whoever awaits them. They never
        # hold an error: raised from ``handshake``, it would hold that frame, which holds this
        # exchange (a reference cycle per refused handshake, freed only by a full collection)
        self._refusal: BaseException | None = None
        self._problem: ProbeFailure | None = None
        self._response: HttpResponse | None = None
        self._secured: asyncio.Future[None] = loop.create_future()
        self._answered: asyncio.Future[None] = loop.create_future()
        self._transport: asyncio.Transport | None = None
        self.tls: ssl.SSLObject | None = None
        if context is not None:
            self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = context.wrap_bio(self._incoming, self._outgoing,
                                        server_hostname=server_name)
        self._http: h11.Connection | None = None
        self._request = b""
        if request:
            self._http = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
            self._request = self._http.send(h11.Request(method="GET", target=target, headers=[
                ("Host", host), ("User-Agent", USER_AGENT), ("Accept", "*/*"),
                ("Accept-Encoding", "identity"), ("Connection", "close")])) \
                + self._http.send(h11.EndOfMessage())
        self._max_body = max_body
        self._head: HttpResponse | None = None
        self._body = bytearray()
        self._eof = False
        #: monotonic times of each step (0.0 until it happened)
        self.connected_at = self.secured_at = self.sent_at = self.first_byte_at = 0.0

    # --- what the prober awaits ------------------------------------------------------------
    async def connect(self, ip: str, port: int) -> None:
        remaining(self.deadline, "connect")
        loop = asyncio.get_running_loop()
        try:
            # asyncio.timeout_at, not wait_for: no extra task per step (a third of the CPU
            # with hundreds of probes); the loop clock is time.monotonic, like our deadline
            async with asyncio.timeout_at(self.deadline):
                await loop.create_connection(lambda: self, ip, port)
        except TimeoutError:
            raise ProbeFailure("connect_timeout",
                               f"TCP connect to {ip} port {port} timed out") from None
        except ConnectionRefusedError:
            raise ProbeFailure("connect_refused",
                               f"{ip} port {port} refused the connection") from None
        except OSError as err:
            raise ProbeFailure("connect_error", f"connecting to {ip} port {port}: {err}") \
                from None

    async def handshake(self) -> None:
        """Until the TLS handshake completed; ``ssl.SSLError`` when the server refused it or
        its certificate did not verify."""
        try:
            async with asyncio.timeout_at(self.deadline):
                await self._secured
        except TimeoutError:
            raise ProbeFailure("tls_timeout", "the TLS handshake did not finish in time") \
                from None
        if self._stage == "refused":
            raise self._pop_refusal()  # never bound to a local of this frame: no cycle

    async def response(self) -> HttpResponse:
        try:
            async with asyncio.timeout_at(self.deadline):
                await self._answered
        except TimeoutError:
            phase = "the response headers" if self._head is None else "the response body"
            raise ProbeFailure("http_timeout", f"{phase} did not arrive in time") from None
        if self._response is None:
            raise self._pop_problem()
        return self._response

    def close(self) -> None:
        """Say goodbye (TLS close_notify) unless the server already left; never wait."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self.tls is not None and self._stage == "secured" and not self._eof:
            with contextlib.suppress(ssl.SSLError):
                self.tls.unwrap()
            self._flush()
        transport.close()

    # --- asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.connected_at = time.monotonic()
        if self.tls is None:
            self._stage = "secured"
            _wake(self._secured)
            self._send_request()
        else:
            self._shake()

    def data_received(self, data: bytes) -> None:
        if self.tls is None:
            self._take(data)
            return
        self._incoming.write(data)
        if self._stage == "handshake":
            self._shake()
        if self._stage == "secured":
            self._read_tls()

    def eof_received(self) -> bool:
        self._eof = True
        if self.tls is None:
            self._take(b"")
        else:
            self._incoming.write_eof()
            if self._stage == "handshake":
                self._refuse(ProbeFailure("tls_error", "the server closed during the TLS handshake"))
            elif self._stage == "secured":
                self._read_tls()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._stage == "handshake":
            why = f": {exc}" if exc is not None else ""
            self._refuse(ProbeFailure("tls_error", f"the server closed during the TLS handshake{why}"))
        else:
            self._fail(ProbeFailure("http_error", f"the connection was lost: {exc or 'closed'}"))

    # --- the bytes ---------------------------------------------------------------------------
    def _shake(self) -> None:
        assert self.tls is not None
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except ssl.SSLError as err:
            self._flush()  # the alert that says why we gave up
            # without its traceback: the frames would hold this protocol in a cycle
            self._refuse(err.with_traceback(None))
            return
        self.secured_at = time.monotonic()
        self._stage = "secured"
        _wake(self._secured)
        self._send_request()  # Finished and the request leave in one send

    def _send_request(self) -> None:
        if self._request:
            if self.tls is None:
                self._write(self._request)
            else:
                try:
                    self.tls.write(self._request)
                except ssl.SSLError as err:
                    self._fail(ProbeFailure(
                        "http_error", f"sending the request failed: {err}"))
            self.sent_at = time.monotonic()
        self._flush()

    def _flush(self) -> None:
        if self.tls is not None:
            pending = self._outgoing.read()
            if pending:
                self._write(pending)

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _read_tls(self) -> None:
        assert self.tls is not None
        while not self._over:
            try:
                chunk = self.tls.read(_READ)
            except ssl.SSLWantReadError:
                return
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                chunk = b""  # close_notify, or a close without it: h11 judges the message
            except ssl.SSLError as err:
                self._fail(ProbeFailure(
                    "http_error", f"reading the response failed: {err}"))
                return
            self._take(chunk)
            if not chunk:
                return

    def _take(self, chunk: bytes) -> None:
        """Feed h11 one chunk (``b""`` = the server closed) and act on every event."""
        http = self._http
        if http is None or self._over:
            return
        if chunk and not self.first_byte_at:
            self.first_byte_at = time.monotonic()
        try:
            http.receive_data(chunk)
            while True:
                event = http.next_event()
                if event is h11.NEED_DATA:
                    return
                if isinstance(event, h11.Response):
                    self._head = HttpResponse(
                        event.status_code,
                        [(k.decode("latin-1").lower(), v.decode("latin-1"))
                         for k, v in event.headers], b"")
                elif isinstance(event, h11.Data):
                    self._body += event.data
                    if len(self._body) > self._max_body:
                        self._fail(ProbeFailure(
                            "body_too_large",
                            f"the body exceeds the limit of {self._max_body} bytes"))
                        return
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    self._finish()
                    return
        except h11.RemoteProtocolError as err:
            self._fail(ProbeFailure("http_protocol", f"malformed HTTP response: {err}"))

    def _finish(self) -> None:
        head = self._head
        if head is None:  # pragma: no cover - h11 raises before this
            self._fail(ProbeFailure("http_protocol", "no response"))
            return
        head.body = bytes(self._body)
        first = self.first_byte_at or time.monotonic()
        head.first_byte = first - self.sent_at
        head.transfer = time.monotonic() - first
        self._response = head
        _wake(self._answered)

    @property
    def _over(self) -> bool:
        return self._response is not None or self._problem is not None

    def _refuse(self, err: BaseException) -> None:
        """The handshake failed: whoever awaits it or the response learns why."""
        self._stage = "refused"
        self._refusal = err
        self._problem = ProbeFailure("tls_error", str(err))
        _wake(self._secured)
        _wake(self._answered)

    def _fail(self, err: ProbeFailure) -> None:
        """The response failed: stop reading."""
        if not self._over:
            self._problem = err
            _wake(self._answered)
        if self._transport is not None:
            self._transport.abort()

    def _pop_refusal(self) -> BaseException:
        err, self._refusal = self._refusal, None
        assert err is not None
        return err

    def _pop_problem(self) -> ProbeFailure:
        err, self._problem = self._problem, None
        assert err is not None
        return err


def _wake(future: asyncio.Future[None]) -> None:
    """Wake whoever awaits ``future``, unless they already left (a timeout cancels it)."""
    if not future.done():
        future.set_result(None)


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
