"""The exception hierarchy of upkeep.

::

    UpkeepError
    ├── ConfigError            bad configuration (CLI exits 2)
    ├── StoreError             the agent's own data could not be read or written
    └── CollectorError         a poll failed; ``reason`` is a short machine-readable code
        ├── TargetUnreachable  reason "unreachable" (refused, no route, DNS failure ...)
        ├── AuthFailed         reason "auth"
        ├── ProtocolError      reason "protocol" (garbage, unexpected answer)
        └── PollTimeout        reason "timeout"

A collector raises one of these (``raise ... from err``) and the scheduler turns it into a
failed ``Reading`` carrying ``reason``; any other exception is a bug, recorded as
reason "internal" and logged with its traceback.

Every reason any room produces is a member of ``Reason``: the values are exported as the
``reason`` label of ``upkeep_poll_error`` and ``upkeep_tls_cert_problem`` and appear in the
JSON API (``reason`` of a reading, of a website's address, redirect check and policy page), so
a value never changes once released.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class Reason(StrEnum):
    """Why a poll (or one step of a website probe) failed; the value is the exported code."""

    # any collector (the scheduler, ``CollectorError`` and its subclasses)
    ERROR = "error"
    INTERNAL = "internal"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    AUTH = "auth"
    PROTOCOL = "protocol"
    CONFIG = "config"
    # NUT (upsd's ERR codes, STARTTLS)
    STALE = "stale"
    DRIVER = "driver"
    TLS = "tls"
    # websites: DNS
    DNS_TIMEOUT = "dns_timeout"
    DNS_SERVFAIL = "dns_servfail"
    DNS_NXDOMAIN = "dns_nxdomain"
    DNS_NO_ADDRESS = "dns_no_address"
    DNS_ERROR = "dns_error"
    # websites: TCP, TLS, HTTP of one address
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    CONNECT_ERROR = "connect_error"
    TLS_TIMEOUT = "tls_timeout"
    TLS_ERROR = "tls_error"
    TLS_HANDSHAKE = "tls_handshake"
    TLS_EXPIRED = "tls_expired"
    TLS_NOT_YET_VALID = "tls_not_yet_valid"
    TLS_HOSTNAME_MISMATCH = "tls_hostname_mismatch"
    TLS_UNTRUSTED = "tls_untrusted"
    TLS_INCOMPLETE_CHAIN = "tls_incomplete_chain"
    TLS_SELF_SIGNED = "tls_self_signed"
    HTTP_TIMEOUT = "http_timeout"
    HTTP_ERROR = "http_error"
    HTTP_PROTOCOL = "http_protocol"
    BODY_TOO_LARGE = "body_too_large"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    REDIRECT_BAD_SCHEME = "redirect_bad_scheme"
    NO_TLS = "no_tls"
    HTTP_STATUS = "http_status"
    TEXT_MISSING = "text_missing"
    # websites: the http->https redirect check (``info.http.redirect.reason``)
    NO_HTTP = "no_http"
    NO_REDIRECT = "no_redirect"
    REDIRECT_NOT_HTTPS = "redirect_not_https"
    REDIRECT_OTHER_HOST = "redirect_other_host"
    # the website standards audit (kind ``audit``, ``info.pages[].reason`` and its parts)
    NOT_HTML = "not_html"
    TOOL_MISSING = "tool_missing"
    TOOL_ERROR = "tool_error"
    AUDIT_TIMEOUT = "audit_timeout"
    # websites: certificate problems (``upkeep_tls_cert_problem{reason}``, ``info.tls.problems``)
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    UNTRUSTED = "untrusted"
    INCOMPLETE_CHAIN = "incomplete_chain"
    SELF_SIGNED = "self_signed"


class UpkeepError(Exception):
    """Base class of every error upkeep raises on purpose."""


class ConfigError(UpkeepError):
    """The configuration is invalid. ``problems`` lists ``(location, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{loc}: {msg}" if loc else msg for loc, msg in problems))


class StoreError(UpkeepError):
    """The agent's SQLite store failed (full disk, read-only directory, corruption)."""


class CollectorError(UpkeepError):
    """A poll of one target failed. ``reason`` is a short code exported as a label."""

    reason: Reason = Reason.ERROR

    def __init__(self, message: str, *, reason: Reason | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class TargetUnreachable(CollectorError):
    reason = Reason.UNREACHABLE


class AuthFailed(CollectorError):
    reason = Reason.AUTH


class ProtocolError(CollectorError):
    reason = Reason.PROTOCOL


class PollTimeout(CollectorError):
    reason = Reason.TIMEOUT
