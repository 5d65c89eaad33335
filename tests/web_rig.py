"""Reusable loopback web rig: a test PKI, HTTP(S) servers on 127.0.0.1 and [::1], real DNS.

For every room that needs a website to look at (web collector, KPI e2e, checklist,
dashboards, hardening, fleet)::

    from tests.web_rig import Pki, WebRig, Route, Dnsmasq

    pki = Pki(tmp_path)                         # root CA -> intermediate -> leaves
    with WebRig() as rig:                       # one background event loop for all servers
        site = rig.https(pki.leaf("valid"), routes={"/": Route(body=b"hello")})
        site.url("good.test")                   # https://good.test:PORT/
        site.url("127.0.0.1"), site.url("::1")  # IP-literal URLs, both families, same port
    with Dnsmasq(tmp_path, {"good.test": ["127.0.0.1", "::1"]}) as dns:
        dns.port                                # resolver: {nameservers: [127.0.0.1], port: ...}

Certificates (``Pki.leaf(kind)``): ``valid``, ``expired``, ``soon`` (5 days left),
``not_yet_valid``, ``wrong_host`` (for other.test), ``self_signed``, ``no_intermediate``
(leaf sent without its intermediate, which its AIA caIssuers names, as public CAs do),
``foreign_ca`` (leaf sent alone, issued by a CA nobody trusts). Trust the rig with
``pki.ca_file`` (root only).
Leaves cover ``NAMES`` (``Pki(dir, names=...)`` to change them).

Servers (``WebRig.https`` / ``WebRig.http``) listen on both families on one free port unless
``families=("ipv4",)``; ``routes_v6`` gives IPv6 a different answer (parity tests). A
``Route`` answers with status, headers and body, or misbehaves on purpose: ``drip`` (one byte
per ``drip`` seconds), ``stream_bytes`` (a huge body streamed without buffering), ``raw``
(bytes sent verbatim, e.g. an invalid header), ``to_https_port`` (301 to https on the
request's own Host). ``WebRig.tarpit()`` accepts TCP and never
speaks. TLS versions: ``tls=("TLSv1", "TLSv1")`` makes a TLS 1.0-only server (SECLEVEL=0).

DNS (``Dnsmasq(dir, records, ns={"good.test": ["ns1.good.test"]})``): Debian's dnsmasq with
``--local=/test/``, so a name without AAAA gets
NOERROR/NODATA (not NXDOMAIN) and unknown names NXDOMAIN. ``slow.test`` is forwarded to a
silent socket (timeouts), ``servfail.test`` to a responder that answers SERVFAIL. Only
127.0.0.1 and ::1 are ever used.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: names every rig leaf covers (OpenSSL rejects "*.tld" wildcards, so test names are listed)
NAMES = ("good.test", "www.good.test", "*.good.test", "dead6.test", "v4only.test", "v6only.test",
         "localhost", "127.0.0.1", "::1")
_TLS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
        "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


# --- PKI ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Leaf:
    chain_file: str
    key_file: str
    kind: str


class Pki:
    """Root -> intermediate -> leaves (trustme), plus a self-signed leaf (cryptography)."""

    def __init__(self, directory: Path, names: Sequence[str] = NAMES) -> None:
        self.names = tuple(names)
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.root = trustme.CA()
        self.intermediate = self.root.create_child_ca()
        self.ca_file = str(self.dir / "root.pem")
        self.root.cert_pem.write_to_path(self.ca_file)
        self._leaves: dict[str, Leaf] = {}

    def leaf(self, kind: str = "valid") -> Leaf:
        if kind not in self._leaves:
            self._leaves[kind] = self._make(kind)
        return self._leaves[kind]

    def _make(self, kind: str) -> Leaf:
        now = dt.datetime.now(dt.UTC)
        chain = self.dir / f"{kind}-chain.pem"
        key = self.dir / f"{kind}-key.pem"
        if kind == "self_signed":
            chain.write_bytes(_self_signed(key, self.names))
            return Leaf(str(chain), str(key), kind)
        names: Sequence[str] = self.names
        window = {"not_before": now - dt.timedelta(days=1), "not_after": now + dt.timedelta(days=365)}
        if kind == "expired":
            window = {"not_before": now - dt.timedelta(days=30), "not_after": now - dt.timedelta(days=1)}
        elif kind == "soon":
            window["not_after"] = now + dt.timedelta(days=5)
        elif kind == "not_yet_valid":
            window = {"not_before": now + dt.timedelta(days=2), "not_after": now + dt.timedelta(days=90)}
        elif kind == "wrong_host":
            names = ("other.test",)
        elif kind == "no_intermediate":
            chain.write_bytes(_leaf_with_aia(self.intermediate, key, names, **window))
            return Leaf(str(chain), str(key), kind)
        elif kind == "foreign_ca":
            # a root of its own issues the leaf directly: the chain is the leaf alone
            foreign = trustme.CA().issue_cert(*names, **window)
            chain.write_bytes(b"".join(p.bytes() for p in foreign.cert_chain_pems))
            foreign.private_key_pem.write_to_path(str(key))
            return Leaf(str(chain), str(key), kind)
        elif kind != "valid":
            raise ValueError(f"unknown leaf kind {kind!r}")
        cert = self.intermediate.issue_cert(*names, **window)
        pems = cert.cert_chain_pems
        # trustme's chain = leaf + intermediate (root not sent, as real servers do)
        chain.write_bytes(b"".join(p.bytes() for p in pems))
        cert.private_key_pem.write_to_path(str(key))
        return Leaf(str(chain), str(key), kind)


def _san(names: Sequence[str]) -> x509.SubjectAlternativeName:
    import ipaddress

    def entry(value: str) -> x509.GeneralName:
        try:
            return x509.IPAddress(ipaddress.ip_address(value))
        except ValueError:
            return x509.DNSName(value)

    return x509.SubjectAlternativeName([entry(n) for n in names])


def _leaf_with_aia(issuer: trustme.CA, key_path: Path, names: Sequence[str], *,
                   not_before: dt.datetime, not_after: dt.datetime) -> bytes:
    """A leaf of ``issuer`` naming its issuer's certificate in AIA caIssuers (never fetched),
    written without that issuer: the "intermediate not sent" mistake of real servers."""
    ca_cert = x509.load_pem_x509_certificate(issuer.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(issuer.private_key_pem.bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    aia = x509.AuthorityInformationAccess([x509.AccessDescription(
        x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
        x509.UniformResourceIdentifier("http://127.0.0.1:9/intermediate.crt"))])
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(_san(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_cert.public_key()), critical=False)  # type: ignore[arg-type]
            .add_extension(aia, critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _self_signed(key_path: Path, names: Sequence[str]) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "good.test")])
    now = dt.datetime.now(dt.UTC)
    san = _san(names)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert.public_bytes(serialization.Encoding.PEM)


# --- HTTP(S) servers ------------------------------------------------------------------------

@dataclass
class Route:
    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b"<html><body>upkeep test page</body></html>\n"
    #: seconds between single bytes of the whole response (a "byte a second" server)
    drip: float = 0.0
    #: stream a body of this many bytes (content-length set) instead of ``body``
    stream_bytes: int = 0
    #: send exactly these bytes as the response
    raw: bytes | None = None
    #: answer 301 to https://<the request's Host>:<this port><path> (an http->https redirect)
    to_https_port: int = 0


GOOD_HEADERS = (
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'self'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)


@dataclass
class Server:
    port: int
    families: tuple[str, ...]
    scheme: str
    servers: list[asyncio.AbstractServer] = field(default_factory=list)
    requests: int = 0

    def url(self, host: str = "good.test", path: str = "/") -> str:
        shown = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{shown}:{self.port}{path}"


def _bind_pair(families: Sequence[str]) -> tuple[int, list[socket.socket]]:
    """A port free on every requested family (the same number on 127.0.0.1 and ::1)."""
    for _ in range(50):
        socks: list[socket.socket] = []
        try:
            port = 0
            for family in families:
                af, host = ((socket.AF_INET6, "::1") if family == "ipv6"
                            else (socket.AF_INET, "127.0.0.1"))
                sock = socket.socket(af, socket.SOCK_STREAM)
                socks.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if af == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((host, port))
                port = sock.getsockname()[1]
                sock.listen(128)
            return port, socks
        except OSError:
            for sock in socks:
                sock.close()
    raise RuntimeError("no port free on both 127.0.0.1 and ::1")


def server_context(leaf: Leaf, tls: tuple[str, str] | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(leaf.chain_file, leaf.key_file)
    if tls is not None:
        with warnings.catch_warnings():  # TLS 1.0/1.1 on purpose
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version, ctx.maximum_version = _TLS[tls[0]], _TLS[tls[1]]
    return ctx


class WebRig:
    """Servers on one background event loop; ``close()`` (or ``with``) stops everything."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(lambda loop, context: None)  # clients hang up on purpose
        self._thread = threading.Thread(target=self.loop.run_forever, name="web-rig",
                                        daemon=True)
        self._thread.start()
        self.servers: list[Server] = []

    def __enter__(self) -> WebRig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(15)

    def https(self, leaf: Leaf, routes: Mapping[str, Route] | None = None, *,
              routes_v6: Mapping[str, Route] | None = None,
              families: Sequence[str] = ("ipv4", "ipv6"),
              tls: tuple[str, str] | None = None,
              context: ssl.SSLContext | None = None) -> Server:
        """An HTTPS server; pass ``context`` (from ``server_context``) to swap its
        certificate later with ``context.load_cert_chain``."""
        ctx = context if context is not None else server_context(leaf, tls)
        return self._call(self._serve("https", ctx, routes, routes_v6, families))

    def http(self, routes: Mapping[str, Route] | None = None, *,
             routes_v6: Mapping[str, Route] | None = None,
             families: Sequence[str] = ("ipv4", "ipv6")) -> Server:
        return self._call(self._serve("http", None, routes, routes_v6, families))

    def tarpit(self, families: Sequence[str] = ("ipv4", "ipv6")) -> Server:
        """Accepts TCP, reads, never answers (a TLS handshake or request that hangs)."""
        return self._call(self._serve("https", None, {"*": Route(raw=b"")}, None, families,
                                      tarpit=True))

    async def _serve(self, scheme: str, ctx: ssl.SSLContext | None,
                     routes: Mapping[str, Route] | None, routes_v6: Mapping[str, Route] | None,
                     families: Sequence[str], tarpit: bool = False) -> Server:
        port, socks = _bind_pair(families)
        server = Server(port, tuple(families), scheme)
        for sock in socks:
            table = routes_v6 if (routes_v6 is not None and sock.family == socket.AF_INET6) \
                else (routes or {"/": Route()})

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                             table: Mapping[str, Route] = table) -> None:
                server.requests += 1
                try:
                    if tarpit:
                        while await reader.read(4096):
                            pass
                        return
                    await _answer(reader, writer, table)
                except (OSError, ssl.SSLError, asyncio.IncompleteReadError, EOFError):
                    pass
                finally:
                    writer.close()
                    try:
                        await asyncio.wait_for(writer.wait_closed(), 1)
                    except BaseException:
                        writer.transport.abort()  # a client that never finishes closing
                        raise

            server.servers.append(await asyncio.start_server(
                handle, sock=sock, ssl=ctx, ssl_handshake_timeout=5 if ctx else None))
        self.servers.append(server)
        return server

    def stop(self, server: Server) -> None:
        async def _stop() -> None:
            for item in server.servers:
                item.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(item.wait_closed(), 2)
        self._call(_stop())

    def close(self) -> None:
        if not self.loop.is_running():
            return
        for server in list(self.servers):
            with contextlib.suppress(Exception):
                self.stop(server)

        async def _cancel() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            self._call(_cancel())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  table: Mapping[str, Route]) -> None:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    path = head.split(b" ", 2)[1].decode("latin-1") if head.count(b" ") >= 2 else "/"
    route = table.get(path.split("?")[0]) or table.get("*") or Route(404, (), b"not found\n")
    if route.to_https_port:
        host = next((line.split(b":", 1)[1].strip().decode("latin-1")
                     for line in head.split(b"\r\n") if line.lower().startswith(b"host:")),
                    "localhost")
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        route = Route(301, [("Location", f"https://{host}:{route.to_https_port}{path}")], b"")
    if route.raw is not None:
        writer.write(route.raw)
        await writer.drain()
        return
    length = route.stream_bytes or len(route.body)
    lines = [f"HTTP/1.1 {route.status} X", f"Content-Length: {length}", "Connection: close",
             "Content-Type: text/html; charset=utf-8",
             *(f"{k}: {v}" for k, v in route.headers)]
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    if route.drip:
        for byte in payload + route.body:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(route.drip)
        return
    writer.write(payload)
    if route.stream_bytes:
        block = b"x" * 65536
        sent = 0
        while sent < route.stream_bytes:
            writer.write(block[: route.stream_bytes - sent])
            sent += len(block)
            await writer.drain()
        return
    writer.write(route.body)
    await writer.drain()


# --- DNS ------------------------------------------------------------------------------------

def _free_udp_tcp_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return int(port)
    raise RuntimeError("no free DNS port")


class _ServfailResponder:
    """UDP: answers every query with SERVFAIL (dnsmasq passes it through for servfail.test)."""

    def __init__(self) -> None:
        import dns.message
        import dns.rcode

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    data, peer = self.sock.recvfrom(4096)
                except (TimeoutError, OSError):
                    continue
                try:
                    query = dns.message.from_wire(data)
                except Exception:  # noqa: BLE001 - garbage in, nothing out
                    continue
                reply = dns.message.make_response(query)
                reply.set_rcode(dns.rcode.SERVFAIL)
                with contextlib.suppress(OSError):
                    self.sock.sendto(reply.to_wire(), peer)

        self._thread = threading.Thread(target=run, name="servfail-dns", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class Dnsmasq:
    """dnsmasq on 127.0.0.1:<free port> serving ``records`` (name -> [IPs]) under ``.test``."""

    def __init__(self, directory: Path, records: Mapping[str, Sequence[str]],
                 ns: Mapping[str, Sequence[str]] | None = None) -> None:
        """``records``: name -> A/AAAA addresses; ``ns``: zone -> name-server names."""
        import dns.name

        binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_udp_tcp_port()
        self.silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.silent.bind(("127.0.0.1", 0))  # never read: queries forwarded here time out
        self.servfail = _ServfailResponder()
        args = [binary, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
                f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                f"--pid-file={self.dir / 'dnsmasq.pid'}", "--local=/test/",
                "--cache-size=0", "--log-facility=" + str(self.dir / "dnsmasq.log"),
                f"--server=/slow.test/127.0.0.1#{self.silent.getsockname()[1]}",
                f"--server=/servfail.test/127.0.0.1#{self.servfail.port}"]
        for name, addresses in records.items():
            args.append(f"--host-record={name}," + ",".join(addresses))
        for zone, servers in (ns or {}).items():
            for server in servers:  # NS (type 2) as raw wire-format rdata
                args.append(f"--dns-rr={zone},2,{dns.name.from_text(server).to_wire().hex()}")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        import dns.message
        import dns.query

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"dnsmasq exited: {err}")
            with contextlib.suppress(Exception):
                dns.query.udp(dns.message.make_query("ready.test", "A"), "127.0.0.1",
                              port=self.port, timeout=0.3)
                return
            time.sleep(0.05)
        raise RuntimeError("dnsmasq did not answer")

    def resolver(self, timeout: str = "1s") -> dict[str, Any]:
        """The ``resolver:`` config block pointing at this server."""
        return {"nameservers": ["127.0.0.1"], "port": self.port, "timeout": timeout}

    def __enter__(self) -> Dnsmasq:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                import os

                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stderr:
            self.proc.stderr.close()
        self.silent.close()
        self.servfail.close()


@contextlib.contextmanager
def dnsmasq(directory: Path, records: Mapping[str, Sequence[str]]) -> Iterator[Dnsmasq]:
    server = Dnsmasq(directory, records)
    try:
        yield server
    finally:
        server.close()
