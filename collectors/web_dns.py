"""DNS for website probes: the addresses of the site's host, optionally NS AAAA.

Two ways to look a name up, chosen by ``resolver:``:

- not set (the default): the OS resolver (``getaddrinfo``), exactly as a browser on this
  machine resolves the name: ``/etc/hosts`` first, then DNS, as ``nsswitch.conf`` says.
  Branch offices define intranet names in ``/etc/hosts``; asking DNS servers directly
  would call those names missing. ``A``/``AAAA`` then count the IPv4/IPv6 addresses the
  OS returned (distinct addresses, whichever source they came from), not DNS records.
- ``resolver: {nameservers: [...]}``: dnspython asks those servers directly (the hosts
  file is not read), and ``A``/``AAAA`` are the records in their answers.

``NS_AAAA`` (``expect.ns_aaaa``) is a DNS question either way (name servers are not in
``/etc/hosts``): the configured servers, else those of ``/etc/resolv.conf``. With the OS
resolver a failing NS lookup only leaves ``NS_AAAA`` out; it never hides addresses the OS
found. "No AAAA" (NODATA) is an answer with zero records, not an error; NXDOMAIN, SERVFAIL
and a silent server are errors with their own reason (``dns_nxdomain``, ``dns_servfail``,
``dns_timeout``). An IP-literal host is never looked up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class Resolver:
    """How the probes look names up: ``system`` = the OS for addresses; ``dns`` for the rest."""

    dns: dns.asyncresolver.Resolver
    system: bool


#: getaddrinfo blocks a thread; its own small pool, so a dead DNS server holding lookups
#: never starves the default executor (metrics rendering runs there)
_LOOKUPS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="upkeep-getaddrinfo")


def make_resolver(config: ResolverConfig) -> Resolver:
    if config.nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = list(config.nameservers)
        resolver.port = config.port
    else:
        resolver = dns.asyncresolver.Resolver()
    resolver.timeout = config.timeout
    resolver.lifetime = config.timeout
    return Resolver(resolver, system=not config.nameservers)


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


def _gai_reason(err: socket.gaierror) -> tuple[str, str]:
    if err.errno == socket.EAI_NONAME:
        return "dns_nxdomain", f"the name does not resolve on this host ({err.strerror})"
    if err.errno == getattr(socket, "EAI_NODATA", None):
        return "dns_no_address", f"the name has no address ({err.strerror})"
    if err.errno == socket.EAI_AGAIN:
        return "dns_servfail", ("no DNS server answered, or one answered SERVFAIL "
                                f"({err.strerror})")
    return "dns_error", f"getaddrinfo: {err.strerror}"


async def _system_addresses(host: str, timeout: float) -> list[str]:
    """Distinct addresses from the OS resolver, in its order (RFC 6724 sorted)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(max(timeout, 0.05)):
        infos = await loop.run_in_executor(
            _LOOKUPS, lambda: socket.getaddrinfo(host, None, type=socket.SOCK_STREAM))
    seen: dict[str, None] = {}
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


async def resolve(host: str, resolver: Resolver, timeout: float,
                  *, ns_aaaa: bool = False) -> DnsResult:
    """Resolve A and AAAA concurrently; never raises for DNS failures."""
    started = time.monotonic()
    if _literal(host):
        return DnsResult([(family_of(host), host)], {}, literal=True)
    if resolver.system:
        return await _resolve_system(host, resolver, timeout, ns_aaaa, started)
    result = DnsResult()
    jobs = [_query(resolver.dns, host, "A", timeout),
            _query(resolver.dns, host, "AAAA", timeout)]
    if ns_aaaa:
        jobs.append(_ns_aaaa(resolver.dns, host, timeout))
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


async def _resolve_system(host: str, resolver: Resolver, timeout: float, ns_aaaa: bool,
                          started: float) -> DnsResult:
    result = DnsResult()
    jobs: list[Any] = [_system_addresses(host, timeout)]
    if ns_aaaa:
        jobs.append(_ns_aaaa(resolver.dns, host, timeout))
    answers = await asyncio.gather(*jobs, return_exceptions=True)
    found = answers[0]
    if isinstance(found, socket.gaierror):
        result.reason, result.message = _gai_reason(found)
    elif isinstance(found, TimeoutError):
        result.reason, result.message = "dns_timeout", "the OS resolver did not answer in time"
    elif isinstance(found, OSError):
        result.reason, result.message = "dns_error", f"getaddrinfo: {found}"
    elif isinstance(found, BaseException):
        raise found
    else:
        result.addresses = [(family_of(a), a) for a in found]
        result.counts = {"A": sum(1 for f, _ in result.addresses if f == "ipv4"),
                         "AAAA": sum(1 for f, _ in result.addresses if f == "ipv6")}
        if not result.addresses:
            result.reason, result.message = "dns_no_address", f"{host} has no address"
    if ns_aaaa:
        ns = answers[1]
        if isinstance(ns, list):
            result.counts["NS_AAAA"] = len(ns)
        elif not isinstance(ns, Exception):
            raise ns  # a cancellation
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
