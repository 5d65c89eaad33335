"""TLS for website probes: client contexts, certificate facts, the protocol-version matrix.

Facts are read from the chain the server *sent* (``get_unverified_chain``), so they exist
even when verification fails (blackbox_exporter #1119). Problems come from two sources:
OpenSSL's verify code (which reports only the first error) and our own checks on the
parsed chain (expiry, hostname, self-signed), so "expired *and* wrong host" shows both.

TLS 1.0/1.1 detection: OpenSSL 3 refuses them at the default security level on the client
side ("legacy sigalg disallowed"), so the matrix client uses ``ALL:@SECLEVEL=0`` with
``minimum_version = maximum_version`` (checked working with Debian's OpenSSL 3.0; Debian 12
sets no MinProtocol in openssl.cnf). Python warns that TLSv1/1.1 are deprecated when such a
context is built; the contexts are built once, with that warning silenced on purpose.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
import threading
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from upkeep.collectors import web_x509

#: metric label value (blackbox_exporter's spelling) -> ssl.TLSVersion
VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLS 1.0": ssl.TLSVersion.TLSv1,
    "TLS 1.1": ssl.TLSVersion.TLSv1_1,
    "TLS 1.2": ssl.TLSVersion.TLSv1_2,
    "TLS 1.3": ssl.TLSVersion.TLSv1_3,
}
#: ssl.SSLObject.version() -> label
VERSION_LABEL = {"TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2",
                 "TLSv1.3": "TLS 1.3"}
PROBLEMS = ("expired", "not_yet_valid", "hostname_mismatch", "untrusted", "incomplete_chain",
            "self_signed")

# OpenSSL X509_V_ERR_* codes (include/openssl/x509_vfy.h)
_UNABLE_TO_GET_ISSUER = 2
_NOT_YET_VALID = 9
_EXPIRED = 10
_DEPTH_ZERO_SELF_SIGNED = 18
_SELF_SIGNED_IN_CHAIN = 19
_UNABLE_TO_GET_ISSUER_LOCALLY = 20
_UNABLE_TO_VERIFY_LEAF = 21
_HOSTNAME_MISMATCH = 62
_IP_MISMATCH = 64

_lock = threading.Lock()
_verifying: dict[str | None, ssl.SSLContext] = {}
_legacy: dict[str, ssl.SSLContext] = {}


def verifying_context(ca_file: str | None) -> ssl.SSLContext:
    """System store (honours SSL_CERT_FILE/SSL_CERT_DIR) plus an optional CA file; cached."""
    with _lock:
        ctx = _verifying.get(ca_file)
        if ctx is None:
            ctx = ssl.create_default_context()
            if ca_file:
                ctx.load_verify_locations(cafile=ca_file)
            _verifying[ca_file] = ctx
        return ctx


def legacy_context(version: str | None = None) -> ssl.SSLContext:
    """A non-verifying client able to speak TLS 1.0 ... 1.3 (optionally exactly one)."""
    key = version or "any"
    with _lock:
        ctx = _legacy.get(key)
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.set_ciphers("ALL:@SECLEVEL=0")
                ctx.minimum_version = VERSIONS[version] if version else ssl.TLSVersion.TLSv1
                ctx.maximum_version = VERSIONS[version] if version else ssl.TLSVersion.TLSv1_3
            _legacy[key] = ctx
        return ctx


def peer_chain_der(ssl_object: Any) -> list[bytes]:
    """DER of every certificate the server sent, leaf first (3.10+ private API; 3.13 public)."""
    getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        chain = getter() or []
        return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
                for c in chain]
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


@dataclass(frozen=True)
class CertSummary:
    subject: str
    issuer: str
    serial: str
    fingerprint_sha256: str
    not_before: float
    not_after: float
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    is_ca: bool
    self_issued: bool
    #: AIA caIssuers URLs: where the issuer's certificate is published (public CAs set it)
    ca_issuers: tuple[str, ...] = ()


@lru_cache(maxsize=1024)
def parse_cert(der: bytes) -> CertSummary:
    """``ValueError`` when the DER is malformed (see ``web_x509``)."""
    cert = web_x509.parse(der)
    return CertSummary(
        subject=web_x509.rfc4514(cert.subject), issuer=web_x509.rfc4514(cert.issuer),
        serial=format(cert.serial, "x"), fingerprint_sha256=hashlib.sha256(der).hexdigest(),
        not_before=cert.not_before, not_after=cert.not_after,
        dns_names=tuple(n.lower().rstrip(".") for n in cert.dns_names),
        ip_addresses=cert.ip_addresses, is_ca=cert.is_ca,
        self_issued=cert.subject == cert.issuer, ca_issuers=cert.ca_issuers)


def hostname_matches(host: str, cert: CertSummary) -> bool:
    """RFC 6125 subset: IP literals against IP SANs, names against DNS SANs (one-label '*')."""
    host = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return any(ipaddress.ip_address(ip) == address for ip in cert.ip_addresses)
    for pattern in cert.dns_names:
        if pattern == host:
            return True
        # like OpenSSL: the wildcard is the whole left-most label, and never "*.tld"
        if pattern.startswith("*.") and "." in pattern[2:] and "." in host:
            head, _, rest = host.partition(".")
            if head and rest == pattern[2:]:
                return True
    return False


@dataclass
class CertFacts:
    chain: list[CertSummary] = field(default_factory=list)
    verified: bool = False
    verify_code: int | None = None
    verify_message: str = ""
    problems: list[str] = field(default_factory=list)
    san_match: bool = False
    trusted: bool = False
    chain_complete: bool = False

    @property
    def leaf(self) -> CertSummary | None:
        return self.chain[0] if self.chain else None

    @property
    def earliest_expiry(self) -> float | None:
        return min((c.not_after for c in self.chain), default=None)

    def to_info(self, now: float) -> dict[str, Any]:
        leaf = self.leaf
        out: dict[str, Any] = {
            "verified": self.verified, "verify_code": self.verify_code,
            "verify_message": self.verify_message, "problems": list(self.problems),
            "san_match": self.san_match, "trusted": self.trusted,
            "chain_complete": self.chain_complete, "chain_length": len(self.chain),
        }
        if leaf is not None:
            out.update(subject=leaf.subject, issuer=leaf.issuer, serial=leaf.serial,
                       fingerprint_sha256=leaf.fingerprint_sha256,
                       not_before=leaf.not_before, not_after=leaf.not_after,
                       days_to_expiry=round((leaf.not_after - now) / 86400, 2),
                       chain_earliest_expiry=self.earliest_expiry,
                       san=[*leaf.dns_names, *leaf.ip_addresses],
                       self_signed=leaf.self_issued)
        return out


def assess_chain(chain_der: list[bytes], host: str, now: float, *, verified: bool,
                 verify_code: int | None = None, verify_message: str = "") -> CertFacts:
    """Pure: the facts and problems of a served chain, given OpenSSL's verdict."""
    facts = CertFacts(chain=[parse_cert(d) for d in chain_der], verified=verified,
                      verify_code=verify_code, verify_message=verify_message)
    leaf = facts.leaf
    if leaf is None:
        return facts
    problems: list[str] = []
    if any(c.not_after < now for c in facts.chain):
        problems.append("expired")
    if any(c.not_before > now for c in facts.chain):
        problems.append("not_yet_valid")
    facts.san_match = hostname_matches(host, leaf)
    if not facts.san_match:
        problems.append("hostname_mismatch")
    if leaf.self_issued and not verified:  # a self-signed cert configured as trusted is fine
        problems.append("self_signed")
    linked = all(a.issuer == b.subject for a, b in zip(facts.chain, facts.chain[1:], strict=False))
    if verified:
        facts.trusted = facts.chain_complete = True
    elif verify_code in (_EXPIRED, _NOT_YET_VALID, _HOSTNAME_MISMATCH, _IP_MISMATCH):
        # OpenSSL checks names and dates only after it built a chain to a trust anchor
        facts.trusted = facts.chain_complete = True
    elif verify_code in (_UNABLE_TO_GET_ISSUER_LOCALLY, _UNABLE_TO_VERIFY_LEAF,
                         _UNABLE_TO_GET_ISSUER):
        last = facts.chain[-1]
        if linked and not last.is_ca and not last.self_issued:
            # the chain stops at a leaf. OpenSSL says "issuer not found" both when the server
            # left out an intermediate and when a CA we do not trust issued the leaf; only the
            # leaf's AIA caIssuers (set by public CAs) says an issuer was published to send
            problems.append("incomplete_chain" if last.ca_issuers else "untrusted")
        else:
            facts.chain_complete = linked
            problems.append("untrusted")
    elif verify_code == _DEPTH_ZERO_SELF_SIGNED:
        facts.chain_complete = True
    elif verify_code is not None:
        facts.chain_complete = linked
        problems.append("untrusted")
    if verify_code == _SELF_SIGNED_IN_CHAIN and "untrusted" not in problems:
        problems.append("untrusted")
    if verify_code in (_HOSTNAME_MISMATCH, _IP_MISMATCH) and "hostname_mismatch" not in problems:
        facts.san_match = False
        problems.append("hostname_mismatch")
    facts.problems = [p for p in PROBLEMS if p in problems]
    return facts


def verify_error(err: ssl.SSLError) -> tuple[int | None, str]:
    if isinstance(err, ssl.SSLCertVerificationError):
        return err.verify_code, err.verify_message or str(err)
    return None, str(err)


def utcnow() -> float:
    return dt.datetime.now(dt.UTC).timestamp()
