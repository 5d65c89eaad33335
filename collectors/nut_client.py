"""A small asyncio client for NUT's ``upsd`` (the I/O half; parsing is in ``nut_protocol``).

Why our own: ``aionut`` (asyncio, Home Assistant) has no STARTTLS, no ``GET VAR`` and no
unescaping; PyNUTClient (NUT upstream) has STARTTLS but is synchronous, GPL and returns raw
bytes; ``nut2`` imports ``telnetlib`` (gone in Python 3.13). The protocol is a handful of
line commands, so this module is cheaper to own than any of those is to wrap.

One ``NutClient`` = one persistent connection to one upsd (host, port, credentials).
Commands on it are serialized by a lock; different upsd hosts run concurrently. Every call
is bounded by ``timeout`` (connect, STARTTLS, command and answer together); an I/O error,
a timeout or a cancellation closes the connection, and the next call reconnects. A
connection found dead when reused (upsd restarted, idle-closed) is retried once.

TLS: ``STARTTLS`` then ``StreamWriter.start_tls``; the certificate is verified against
``ca_file`` (or the system store) with hostname checks, or pinned by SHA-256 fingerprint.
With ``required`` a server that does not offer STARTTLS is refused before anything else is
sent, credentials included.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import socket
import ssl
from dataclasses import dataclass

from upkeep.collectors.nut_protocol import (
    MAX_LINE,
    MAX_LIST_LINES,
    NutError,
    check_error,
    decode_line,
    parse_clients,
    parse_ups_list,
    parse_vars,
    quote,
    split_words,
)
from upkeep.errors import (
    AuthFailed,
    CollectorError,
    PollTimeout,
    ProtocolError,
    Reason,
    TargetUnreachable,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsSettings:
    ca_file: str | None = None
    #: SHA-256 of the DER certificate, hex (colons and case ignored)
    fingerprint: str | None = None
    required: bool = True


class TlsError(CollectorError):
    reason = Reason.TLS


_NAME = re.compile(r"^[A-Za-z0-9_.:@+-]{1,128}$")


def check_name(name: str) -> None:
    """UPS and variable names go into commands unquoted: refuse anything that could break
    the line (a space, a quote, a newline) instead of sending it."""
    if not _NAME.match(name):
        raise CollectorError(f"{name[:60]!r} is not a valid NUT name", reason=Reason.CONFIG)


def login_refused(ups: str, username: str) -> AuthFailed:
    """USERNAME and PASSWORD were accepted (upsd stores them unchecked) and LOGIN was not.
    NUT 2.8 answers ACCESS-DENIED alike to a wrong password and to a user without an
    ``upsmon`` role in upsd.users, so the message names both, the role first: it is the
    case a correct-looking config hits (a "read-only" user with no role at all)."""
    return AuthFailed(
        f"upsd: ERR ACCESS-DENIED (LOGIN {ups} as {username}): USERNAME and PASSWORD were "
        f"accepted but LOGIN was refused: user {username!r} lacks the upsmon role in "
        "upsd.users (give it `upsmon secondary`), or its password is wrong (NUT 2.8 gives "
        "the same answer to both)")


def normalize_fingerprint(text: str) -> str:
    return text.replace(":", "").replace(" ", "").lower()


class NutClient:
    def __init__(self, host: str, port: int = 3493, *, username: str | None = None,
                 password: str | None = None, tls: TlsSettings | None = None,
                 timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.tls = tls
        self.timeout = timeout
        self.tls_active = False
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self._verified: set[str] = set()

    def __repr__(self) -> str:  # never the password
        return f"NutClient({self.host}:{self.port}, user={self.username!r})"

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    # --- public API ------------------------------------------------------------------------
    async def list_ups(self) -> dict[str, str]:
        return parse_ups_list(await self._call_list("LIST UPS", "UPS"))

    async def list_var(self, ups: str) -> dict[str, str]:
        check_name(ups)
        return parse_vars(await self._call_list(f"LIST VAR {ups}", f"VAR {ups}", ups), ups)

    async def get_var(self, ups: str, var: str) -> str:
        check_name(ups)
        check_name(var)
        line = await self._call(f"GET VAR {ups} {var}", ups)
        words = split_words(line)
        if len(words) != 4 or words[:3] != ["VAR", ups, var]:
            raise ProtocolError(f"unexpected answer to GET VAR: {line[:120]!r}")
        return words[3]

    async def list_client(self, ups: str) -> list[str]:
        check_name(ups)
        return parse_clients(await self._call_list(f"LIST CLIENT {ups}", f"CLIENT {ups}", ups),
                             ups)

    async def version(self) -> str:
        return await self._call("VER")

    async def verify_login(self, ups: str) -> None:
        """Check the credentials once per UPS name (raises ``AuthFailed``).

        upsd stores USERNAME/PASSWORD without checking them; only LOGIN (any upsmon user)
        does. A LOGIN on the shared connection would count us as an upsmon client until it
        closes, and upsmon's primary waits for such clients (HOSTSYNC) before shutting down;
        so the check uses its own short connection: LOGIN, LOGOUT, close.
        """
        if self.username is None or ups in self._verified:
            return
        check_name(ups)
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await self._open()
                try:
                    writer.write(f"LOGIN {ups}\n".encode())
                    await writer.drain()
                    answer = await _readline(reader, self.address)
                    if answer.split()[:2] == ["ERR", "ACCESS-DENIED"]:
                        raise login_refused(ups, self.username)
                    check_error(answer, f"LOGIN {ups} as {self.username}")
                    writer.write(b"LOGOUT\n")
                    await writer.drain()
                finally:
                    writer.close()
                    await _wait_closed(writer)
        except TimeoutError as err:
            raise PollTimeout(f"upsd {self.address} did not answer LOGIN within "
                              f"{self.timeout:g}s") from err
        except (ConnectionError, asyncio.IncompleteReadError) as err:
            raise TargetUnreachable(f"upsd {self.address}: {err}") from err
        self._verified.add(ups)

    async def aclose(self) -> None:
        await self._close()

    # --- internals -------------------------------------------------------------------------
    async def _call(self, command: str, context: str = "") -> str:
        lines = await self._exchange(command, None, context)
        return lines[0]

    async def _call_list(self, command: str, item: str, context: str = "") -> list[str]:
        return await self._exchange(command, item, context)

    async def _exchange(self, command: str, item: str | None, context: str) -> list[str]:
        try:
            async with asyncio.timeout(self.timeout), self._lock:
                reused = self._writer is not None
                try:
                    return await self._roundtrip(command, item, context)
                except (ConnectionError, asyncio.IncompleteReadError) as err:
                    await self._close()
                    if not reused:
                        raise TargetUnreachable(
                            f"upsd {self.address} closed the connection: {err}") from err
                    # a kept connection upsd dropped meanwhile: one fresh try
                    log.debug("nut %s: reconnecting after %s", self.address, err)
                    return await self._roundtrip(command, item, context)
        except TimeoutError as err:
            await self._close()
            raise PollTimeout(f"upsd {self.address} did not answer {command.split()[0]} "
                              f"within {self.timeout:g}s") from err
        except NutError:
            raise  # the connection is fine, upsd just said no
        except (ConnectionError, asyncio.IncompleteReadError) as err:
            await self._close()
            raise TargetUnreachable(f"upsd {self.address}: {err}") from err
        except BaseException:
            await self._close()  # state unknown after cancellation or garbage
            raise

    async def _roundtrip(self, command: str, item: str | None, context: str) -> list[str]:
        if self._writer is None:
            self._reader, self._writer = await self._open()
        reader, writer = self._reader, self._writer
        assert reader is not None
        _quickack(writer)
        writer.write(command.encode() + b"\n")
        await writer.drain()
        first = await _readline(reader, self.address)
        check_error(first, context or command)
        if item is None:
            return [first]
        kind = command.split(" ", 1)[1]
        if first != f"BEGIN {command}":
            raise ProtocolError(f"upsd {self.address}: expected 'BEGIN {command}', "
                                f"got {first[:120]!r}")
        lines: list[str] = []
        end = f"END {command}"
        while True:
            _quickack(writer)  # one cheap syscall per line; see _quickack
            line = await _readline(reader, self.address)
            if line == end:
                return lines
            if len(lines) >= MAX_LIST_LINES:
                raise ProtocolError(f"upsd {self.address}: {kind} longer than "
                                    f"{MAX_LIST_LINES} lines")
            lines.append(line)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=MAX_LINE)
        except OSError as err:
            raise TargetUnreachable(f"cannot connect to upsd {self.address}: "
                                    f"{err.strerror or err}") from err
        try:
            self.tls_active = False
            if self.tls is not None:
                await self._starttls(reader, writer)
            if self.username is not None:
                for line in (f"USERNAME {quote(self.username)}",
                             f"PASSWORD {quote(self._password or '')}"):
                    writer.write(line.encode() + b"\n")
                    await writer.drain()
                    check_error(await _readline(reader, self.address),
                                line.split()[0] + f" {self.username}")
        except BaseException:
            writer.close()
            await _wait_closed(writer)
            raise
        return reader, writer

    async def _starttls(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        assert self.tls is not None
        writer.write(b"STARTTLS\n")
        await writer.drain()
        answer = await _readline(reader, self.address)
        if not answer.startswith("OK STARTTLS"):
            if self.tls.required:
                raise TlsError(f"upsd {self.address} refused STARTTLS ({answer[:80]}) and "
                               "nut.tls.required is true: not talking in clear text")
            log.debug("nut %s offers no STARTTLS (%s); continuing in clear text",
                      self.address, answer)
            return
        context = self._ssl_context()
        try:
            await writer.start_tls(context, server_hostname=self.host)
        except (ssl.SSLError, OSError) as err:
            raise TlsError(f"TLS handshake with upsd {self.address} failed: {err}") from err
        if self.tls.fingerprint:
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            seen = hashlib.sha256(der or b"").hexdigest()
            if seen != normalize_fingerprint(self.tls.fingerprint):
                raise TlsError(f"upsd {self.address} certificate fingerprint {seen} does not "
                               "match nut.tls.cert_fingerprint")
        self.tls_active = True

    def _ssl_context(self) -> ssl.SSLContext:
        assert self.tls is not None
        if self.tls.fingerprint and not self.tls.ca_file:
            # pinning replaces the chain check: a self-signed upsd cert is the usual case
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cafile=self.tls.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    async def _close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        self.tls_active = False
        if writer is not None:
            writer.close()
            await _wait_closed(writer)


def _quickack(writer: asyncio.StreamWriter) -> None:
    """Acknowledge at once. upsd writes a LIST as many small segments and Nagle holds each
    until the previous one is ACKed; with Linux's delayed ACK that costs 40 ms per LIST.
    The kernel leaves quick-ACK mode again by itself, hence before every wait for data."""
    sock = writer.get_extra_info("socket")
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


async def _readline(reader: asyncio.StreamReader, address: str) -> str:
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as err:
        raise ProtocolError(f"upsd {address}: answer line longer than {MAX_LINE} bytes") from err
    return decode_line(raw)


async def _wait_closed(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
        await asyncio.wait_for(writer.wait_closed(), 1.0)
