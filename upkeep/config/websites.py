"""``websites:`` (sites to probe) and ``resolver:`` (the DNS resolver those probes use).

Example::

    resolver: {nameservers: [127.0.0.1], port: 5353, timeout: 2s}
    websites:
      - name: office
        url: https://www.example.go.th/
        expect: {status: [200], text: "ยินดีต้อนรับ", hsts_min_age: 8760h}
        policy_pages:
          - {name: security_policy, url: https://www.example.go.th/policy, expect_text: นโยบาย}
          - {name: privacy_notice, url: https://www.example.go.th/privacy, expect_text: PDPA}
        tls: {ca_file: /etc/upkeep/office-ca.pem}
        audit: true                       # W3C/accessibility/Thai audit (upkeep.config.audit)
        interval: 60s
        timeout: 15s

A URL must be ``http://`` or ``https://``; anything else is a configuration error, so the
probe never talks to ``file:``, ``gopher:`` or the like.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from upkeep.config.audit import WebsiteAuditConfig
from upkeep.config.base import Duration, Polled, StrictModel

Port = Annotated[int, Field(ge=1, le=65535)]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_url(value: str) -> str:
    """An absolute http(s) URL with a host; raises ``ValueError`` otherwise."""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a bad port
    except ValueError as err:
        raise ValueError(f"{value!r} is not a valid URL: {err}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{value!r}: only http:// and https:// URLs can be probed")
    if not parts.hostname:
        raise ValueError(f"{value!r} has no host")
    if port == 0:
        raise ValueError(f"{value!r}: port 0 is not valid")
    if any(c.isspace() for c in value):
        raise ValueError(f"{value!r} contains whitespace")
    return value


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class ExpectConfig(StrictModel):
    """What a healthy answer looks like (blackbox_exporter's module options, by name)."""

    #: acceptable final status codes (after redirects); empty = any 2xx
    status: list[Annotated[int, Field(ge=100, le=599)]] = []
    #: text the body must contain (plain substring, UTF-8)
    text: str | None = None
    follow_redirects: bool = True
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    #: bodies longer than this fail the probe (blackbox ``body_size_limit``)
    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 2 * 1024 * 1024
    #: check that http://HOST:http_port/ redirects to https on the same host first
    http_redirect: bool = True
    http_port: Port = 80
    #: HSTS max-age below this counts as a finding in ``info`` (internet.nl: one year)
    hsts_min_age: Duration = 31536000.0
    #: try TLS 1.0, 1.1, 1.2 and 1.3 separately to learn what the server accepts
    tls_versions: bool = True
    #: by default the version the main handshake negotiated counts as accepted and the ones
    #: above it as refused (a client offering up to 1.3 got the server's best); true = shake
    #: hands for those too
    tls_versions_separately: bool = False
    #: v4/v6 bodies may differ by at most this ratio (internet.nl: 10 %)
    parity_max_distance: Annotated[float, Field(ge=0, le=1)] = 0.10
    #: also ask whether the zone's name servers have AAAA records
    ns_aaaa: bool = False
    #: at most this many addresses per family are probed (round-robin DNS stays bounded)
    max_addresses: Annotated[int, Field(ge=1, le=16)] = 4
    #: slow facts (the TLS version matrix, the http:// redirect, NS AAAA, the policy pages)
    #: are re-checked this often, and at once when the certificate changes; every poll in
    #: between makes one connection per address (a value below the interval, e.g. 1s, checks
    #: them on every poll)
    slow_checks_interval: Duration = 86400.0


class PolicyPageConfig(StrictModel):
    """A page the security checklist relies on, e.g. ``security_policy`` or ``privacy_notice``."""

    name: str
    url: str
    expect_text: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use lower-case letters, digits and _ (e.g. privacy_notice)")
        return value

    _url = field_validator("url")(check_url)


class WebsiteTlsConfig(StrictModel):
    #: extra CA bundle (PEM) trusted for this site, besides the system store
    ca_file: str | None = None


class WebsiteConfig(Polled):
    name: Annotated[str, Field(min_length=1)]
    url: str
    expect: ExpectConfig = ExpectConfig()
    policy_pages: list[PolicyPageConfig] = []
    tls: WebsiteTlsConfig = WebsiteTlsConfig()
    #: the standards audit (``upkeep.config.audit``); off by default
    audit: WebsiteAuditConfig = WebsiteAuditConfig()
    interval: Duration = 60.0
    timeout: Duration = 15.0

    _url = field_validator("url")(check_url)

    @model_validator(mode="after")
    def _check(self) -> WebsiteConfig:
        names = [page.name for page in self.policy_pages]
        if len(names) != len(set(names)):
            raise ValueError("policy_pages: names must be unique")
        return self


class ResolverConfig(StrictModel):
    """The DNS resolver for website probes; no nameservers = the OS resolver (getaddrinfo:
    /etc/hosts, then DNS, as nsswitch.conf says), dnspython with resolv.conf for NS AAAA."""

    nameservers: list[str] = []
    port: Port = 53
    timeout: Duration = 3.0

    @field_validator("nameservers")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        for item in value:
            if not is_ip_literal(item):
                raise ValueError(f"{item!r} is not an IP address")
        return value
