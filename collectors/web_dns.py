"""DNS for website probes: A and AAAA of the site's host (dnspython), optionally NS AAAA.

"No AAAA" (NODATA) is an answer with zero records, not an error; NXDOMAIN, SERVFAIL and a
silent server are errors with their own reason (``dns_nxdomain``, ``dns_servfail``,
``dns_timeout``). An IP-literal host is never looked up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from upkeep.config.websites import ResolverConfig


@dataclass
class DnsResult:
    #: ("ipv4" | "ipv6", address) in answer order
    addresses: list[tuple[str, str]] = field(default_factory=list)
    #: record counts by type: "A", "AAAA" and, when asked, "NS_AAAA"
    counts: dict[str, int] = field(default_factory=dict)
    #: "" when every query got an answer (possibly an empty one)
    reason: str = ""
    message: str = ""
    duration: float = 0.0
    literal: bool = False


def family_of(address: str) -> str:
    return "ipv6" if ipaddress.ip_address(address).version == 6 else "ipv4"


def make_resolver(config: ResolverConfig) -> dns.asyncresolver.Resolver:
    if config.nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = list(config.nameservers)
        resolver.port = config.port
    else:
        resolver = dns.asyncresolver.Resolver()
    resolver.timeout = config.timeout
    resolver.lifetime = config.timeout
    return resolver


def _error_reason(err: BaseException) -> tuple[str, str]:
    if isinstance(err, dns.resolver.NXDOMAIN):
        return "dns_nxdomain", "the name does not exist (NXDOMAIN)"
    if isinstance(err, dns.resolver.NoNameservers):
        return "dns_servfail", f"no server could answer (SERVFAIL or refused): {err}"
    if isinstance(err, dns.exception.Timeout | TimeoutError):
        return "dns_timeout", "the DNS server did not answer in time"
    return "dns_error", f"{type(err).__name__}: {err}"


async def _query(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str,
                 lifetime: float) -> list[str]:
    try:
        answer = await resolver.resolve(name, rdtype, lifetime=max(lifetime, 0.05),
                                        search=False)
    except dns.resolver.NoAnswer:
        return []  # NODATA: the name exists, it has no record of this type
    return [rr.to_text() for rr in answer]


async def resolve(host: str, resolver: dns.asyncresolver.Resolver, timeout: float,
                  *, ns_aaaa: bool = False) -> DnsResult:
    """Resolve A and AAAA concurrently; never raises for DNS failures."""
    started = time.monotonic()
    if _literal(host):
        return DnsResult([(family_of(host), host)], {}, literal=True)
    result = DnsResult()
    jobs = [_query(resolver, host, "A", timeout), _query(resolver, host, "AAAA", timeout)]
    if ns_aaaa:
        jobs.append(_ns_aaaa(resolver, host, timeout))
    answers = await asyncio.gather(*jobs, return_exceptions=True)
    for rdtype, answer in zip(("A", "AAAA", "NS_AAAA"), answers, strict=False):
        if isinstance(answer, BaseException):
            if not isinstance(answer, Exception):
                raise answer
            if not result.reason:
                result.reason, result.message = _error_reason(answer)
            continue
        result.counts[rdtype] = len(answer)
        if rdtype != "NS_AAAA":
            result.addresses.extend((family_of(a), a) for a in answer)
    if not result.reason and not result.addresses:
        result.reason, result.message = "dns_no_address", f"{host} has neither A nor AAAA"
    result.duration = time.monotonic() - started
    return result


async def _ns_aaaa(resolver: dns.asyncresolver.Resolver, host: str, timeout: float) -> list[str]:
    """AAAA records of the name servers of the zone ``host`` lives in (internet.nl ns_aaaa)."""
    deadline = time.monotonic() + timeout
    name = dns.name.from_text(host)
    servers: list[str] = []
    while len(name.labels) > 1 and not servers:
        try:
            servers = await _query(resolver, name.to_text(), "NS", deadline - time.monotonic())
        except dns.resolver.NXDOMAIN:
            servers = []
        name = name.parent()
    found: list[str] = []
    for server in servers[:8]:
        found.extend(await _query(resolver, server, "AAAA", deadline - time.monotonic()))
    return found


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
