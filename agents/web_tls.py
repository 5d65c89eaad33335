"""TLS for the agent's HTTP server, with exporter-toolkit semantics.

- ``server_context(tls)`` builds the ``SSLContext`` (versions, ciphers, client certificates).
- ``ReloadingContext`` re-reads the certificate, key and client CA when any of those files
  (or the web-config file) changes, at the next handshake: the toolkit re-reads its file on
  every connection so rotated certificates are picked up without a restart. The swap happens
  in the SNI callback, which OpenSSL calls for every ClientHello, SNI or not.
- ``client_allowed_sans`` is checked once the handshake is done (Python's ssl has no verify
  callback); a certificate without an allowed SAN gets the connection closed.
- ``exposure_warnings(host, toolkit, web)`` says what is missing when listening beyond
  loopback.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import ssl
import time
from collections.abc import Callable
from typing import Any

from upkeep.config.web import TlsServerConfig, WebConfig, WebToolkitConfig

log = logging.getLogger(__name__)

_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
             "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_CURVES = {"CurveP256": "prime256v1", "CurveP384": "secp384r1", "CurveP521": "secp521r1",
           "X25519": "X25519"}
_CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
                "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}


def server_context(tls: TlsServerConfig) -> ssl.SSLContext:
    """A server ``SSLContext``; raises ``ssl.SSLError``/``OSError`` naming a bad file."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if tls.min_version in ("TLS10", "TLS11"):
        # Debian's OpenSSL refuses TLS < 1.2 at security level 2
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = _VERSIONS[tls.min_version]
    ctx.maximum_version = _VERSIONS[tls.max_version]
    if tls.cipher_suites:
        ctx.set_ciphers(":".join(tls.cipher_suites))
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    ctx.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
    if tls.client_ca_file:
        ctx.load_verify_locations(cafile=tls.client_ca_file)
    if tls.curve_preferences:
        # Python sets one ECDH curve; the toolkit's first preference wins
        ctx.set_ecdh_curve(_CURVES.get(tls.curve_preferences[0], tls.curve_preferences[0]))
    return ctx


def _mtimes(paths: list[str | None]) -> tuple[float | None, ...]:
    out: list[float | None] = []
    for path in paths:
        try:
            out.append(os.stat(path).st_mtime if path else None)
        except OSError:
            out.append(None)
    return tuple(out)


class ReloadingContext:
    """The first context serves the listening socket; its SNI callback swaps in a newer one."""

    def __init__(self, toolkit_source: Callable[[], WebToolkitConfig]) -> None:
        self._source = toolkit_source
        self.tls = self._tls()
        self.context = server_context(self.tls)
        self._current = self.context
        self._stamp = self._files_stamp(self.tls)
        self._checked = time.monotonic()
        self.context.sni_callback = self._on_hello

    def _tls(self) -> TlsServerConfig:
        tls = self._source().tls_server_config
        if tls is None:
            raise ValueError("no tls_server_config")
        return tls

    @staticmethod
    def _files_stamp(tls: TlsServerConfig) -> tuple[float | None, ...]:
        return _mtimes([tls.cert_file, tls.key_file, tls.client_ca_file])

    def current(self) -> ssl.SSLContext:
        now = time.monotonic()
        if now - self._checked < 1.0:
            return self._current
        self._checked = now
        try:
            tls = self._tls()
        except ValueError:
            return self._current  # TLS cannot be switched off without a restart
        stamp = self._files_stamp(tls)
        if tls == self.tls and stamp == self._stamp:
            return self._current
        try:
            fresh = server_context(tls)
        except (OSError, ssl.SSLError) as err:
            # half-written files during a rotation: keep the old pair, try again next time
            log.error("cannot load the new TLS certificate (%s); keeping the previous one", err)
            return self._current
        self.tls, self._stamp, self._current = tls, stamp, fresh
        log.info("TLS certificate reloaded from %s", tls.cert_file)
        return fresh

    def _on_hello(self, sslobj: Any, server_name: str | None, ctx: ssl.SSLContext) -> None:
        fresh = self.current()
        if fresh is not ctx:
            sslobj.context = fresh

    def allowed_sans(self) -> list[str]:
        return list(self.tls.client_allowed_sans)


def peer_sans(cert: dict[str, Any] | None) -> set[str]:
    """SAN values of a verified peer certificate (``getpeercert()`` form)."""
    if not cert:
        return set()
    return {str(value) for _kind, value in cert.get("subjectAltName", ())}


def san_allowed(cert: dict[str, Any] | None, allowed: list[str]) -> bool:
    if not allowed:
        return True
    sans = peer_sans(cert)
    return any(a in sans for a in allowed)


def san_checking_protocol(allowed: Callable[[], list[str]]) -> type[Any]:
    """uvicorn's HTTP protocol, closing TLS connections whose client SAN is not allowed."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class SanCheckingProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            names = allowed()
            if names and not san_allowed(transport.get_extra_info("peercert"), names):
                log.warning("closing a connection from %s: its client certificate carries "
                            "none of client_allowed_sans",
                            (transport.get_extra_info("peername") or ("?",))[0])
                transport.close()

    return SanCheckingProtocol


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warnings(host: str, toolkit: WebToolkitConfig, web: WebConfig) -> list[str]:
    """What is unsafe about listening on ``host`` with this web config (empty on loopback)."""
    if is_loopback(host):
        return []
    out = []
    if toolkit.tls_server_config is None:
        out.append("without TLS (web.tls_server_config): metrics and credentials travel "
                   "in clear text")
    has_auth = bool(toolkit.basic_auth_users) or web.api_token is not None or (
        toolkit.tls_server_config is not None
        and toolkit.tls_server_config.client_auth_type == "RequireAndVerifyClientCert")
    if not has_auth:
        out.append("without authentication (web.basic_auth_users, web.api_token or client "
                   "certificates): anyone who can reach it can read it")
    elif web.reads_are_public(toolkit):
        out.append("with public_read: reads need no credentials")
    return out
