"""Website probes (kind ``web``): DNS, every address over IPv4 and IPv6, TLS, HTTP hygiene.

One target per ``websites:`` entry. Each poll resolves A and AAAA (the OS resolver, or the
DNS servers of ``resolver:``; see ``web_dns``), probes every
address (at most ``expect.max_addresses`` per family) with the URL's host as SNI and
``Host``, reads the certificate chain even when verification fails, tries TLS 1.0-1.3 one
by one, checks the http->https redirect, the security headers, IPv4/IPv6 parity and the
configured policy pages. The I/O lives in ``web_probe``; this module turns a ``SiteResult``
into samples and ``Reading.info`` (pure, ``site_reading``).

A website is up (``upkeep_website_up{family} 1``) only when every address of that family
answered over a verified TLS connection with an acceptable status (and the expected text).
The reading is ok only when every resolved address is up: AAAA records that do not answer
are a finding (reason of the failing address, e.g. ``connect_refused``), never hidden by
IPv4 working.

Aggregation (bounded cardinality): ``family`` is ``ipv4``/``ipv6`` only; the status code per
family is that of the first failing address, else the first address; phase durations are
the maximum over addresses (the slowest path is what users feel), ``dns`` is the lookup.

Reasons (``Reading.reason``, ``upkeep_poll_error{reason}`` and ``info.addresses[].reason``):
``dns_timeout``, ``dns_servfail``, ``dns_nxdomain``, ``dns_no_address``, ``dns_error``;
``connect_refused``, ``connect_timeout``, ``connect_error``; ``tls_timeout`` (e.g. a server that
accepts TCP and never speaks TLS), ``tls_error`` (no handshake even with a legacy client),
``tls_handshake`` (only a legacy client got through, e.g. TLS 1.0 only), ``tls_expired``,
``tls_not_yet_valid``, ``tls_hostname_mismatch``, ``tls_untrusted``, ``tls_incomplete_chain``,
``tls_self_signed`` (``tls_incomplete_chain`` only when the lone leaf's AIA caIssuers names
the issuer the server should have sent; a leaf from a CA the agent does not trust is
``tls_untrusted``); ``http_timeout`` (also a byte-a-second server), ``http_error``,
``http_protocol`` (malformed status line or header bytes), ``body_too_large``,
``redirect_loop``, ``too_many_redirects``, ``redirect_bad_scheme``; ``no_tls`` (answered,
but not over verified https), ``http_status``, ``text_missing``.

``Reading.info`` keys (JSON, for the API, ``upkeep probe`` and the security checklist):

- ``url``, ``host``, ``summary`` (one line for ``upkeep probe``)
- ``dns``: ``{literal, counts: {A, AAAA[, NS_AAAA]}, reason, message, duration}``
- ``addresses``: list of ``{family, address, up, reason, message, status, final_url,
  redirects, verified_https, tls_version, cipher, phases: {connect, tls, first_byte, total}}``
- ``families``: ``{ipv4|ipv6: {up, status}}``
- ``tls``: certificate facts of the first address: ``verified, verify_code,
  verify_message, problems [expired, not_yet_valid, hostname_mismatch, untrusted,
  incomplete_chain, self_signed], san_match, trusted, chain_complete, chain_length, subject,
  issuer, serial, fingerprint_sha256, not_before, not_after, days_to_expiry,
  chain_earliest_expiry, san, self_signed``; plus ``version``, ``cipher`` and
  ``accepted: {"TLS 1.0": bool, ...}`` (versions whose test was inconclusive are absent)
- ``http`` (headers of the first address that answered): ``{status, final_url,
  verified_https, headers_present: {header: bool}, header_values, hsts: {max_age,
  include_subdomains, preload, raw} | None, hsts_long_enough, redirect: {url, ok,
  http_answers, status, location, reason}}``
- ``ipv6_parity``: ``{ok, status_v4, status_v6, distance}`` or None with a single family
- ``policy_pages``: ``{name: {url, ok, status, reason, message, text_found, final_url, https,
  tls_verified, fetched_at}}`` (``ok`` = 2xx and the expected text found)
- ``checked_at``: ``{tls_versions|http_redirect|ns_aaaa|policy_pages: unix time}``, when each
  slow fact was last checked (they are re-checked every ``expect.slow_checks_interval``,
  default a day, at once when the certificate changes, and on the next poll after a check
  made while the site was down)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from upkeep.collectors import web_http
from upkeep.collectors.base import Collector, Target, register
from upkeep.collectors.web_dns import make_resolver
from upkeep.collectors.web_probe import FetchResult, Prober, SiteResult
from upkeep.collectors.web_tls import PROBLEMS, VERSIONS
from upkeep.config import Config
from upkeep.config.websites import ResolverConfig, WebsiteConfig
from upkeep.metrics import Sample, gauge, sample
from upkeep.reading import Reading

KIND = "web"
_R = "web"


def _g(name: str, help: str, labels: Sequence[str], counterpart: str) -> Any:
    return gauge(name, help, labels, room=_R, counterpart=counterpart)


UP = _g("upkeep_website_up", "1 when every address of the family answered over verified TLS "
        "with an acceptable status.", ("website", "family"), "probe_success")
STATUS = _g("upkeep_website_http_status_code", "Final HTTP status code per address family "
            "(0 when no answer).", ("website", "family"), "probe_http_status_code")
DURATION = _g("upkeep_website_http_duration_seconds", "Seconds per phase (dns, connect, tls, "
              "first_byte, total); slowest address.", ("website", "phase"),
              "probe_http_duration_seconds{phase} + probe_dns_lookup_time_seconds")
DNS_RECORDS = _g("upkeep_website_dns_records", "Addresses of the site's host by type (A = "
                 "IPv4, AAAA = IPv6): with resolver: set, the records the DNS servers "
                 "returned; unset, the distinct addresses the OS resolver returned (/etc/hosts "
                 "or DNS). NS_AAAA: AAAA records of the zone's name servers (always DNS).", ("website", "type"),
                 "probe_dns_answer_rrs (dns prober)")
PARITY = _g("upkeep_website_ipv6_parity", "1 when IPv4 and IPv6 give the same status and "
            "near-identical content.", ("website",), "none (internet.nl web_ipv46)")
NOT_AFTER = _g("upkeep_tls_cert_not_after_timestamp_seconds", "Leaf certificate NotAfter "
               "(exported even when verification fails).", ("website",),
               "probe_ssl_earliest_cert_expiry (earliest of chain, not leaf)")
NOT_BEFORE = _g("upkeep_tls_cert_not_before_timestamp_seconds", "Leaf certificate NotBefore.",
                ("website",), "none (blackbox PR #1382)")
EARLIEST = _g("upkeep_tls_chain_earliest_expiry_timestamp_seconds", "Earliest NotAfter over "
              "every certificate the server sent.", ("website",),
              "probe_ssl_earliest_cert_expiry")
CERT_VALID = _g("upkeep_tls_cert_valid", "1 when the certificate verified against the system "
                "store / configured CA for the host.", ("website",),
                "probe_success with fail_if_not_ssl (no direct metric)")
CERT_PROBLEM = _g("upkeep_tls_cert_problem", "1 for each certificate problem found (state set "
                  "over expired, not_yet_valid, hostname_mismatch, untrusted, incomplete_chain, "
                  "self_signed; incomplete_chain only when the leaf's AIA names an issuer the "
                  "server did not send, a lone leaf from an unknown CA is untrusted).", ("website", "reason"), "none")
VERSION_INFO = _g("upkeep_tls_version_info", "1 for the negotiated TLS version "
                  "(\"TLS 1.3\" ...).", ("website", "version"), "probe_tls_version_info")
CIPHER_INFO = _g("upkeep_tls_cipher_info", "1 for the negotiated cipher suite.",
                 ("website", "cipher"), "probe_tls_cipher_info")
ACCEPTED = _g("upkeep_tls_protocol_accepted", "1 when the server accepts a handshake at exactly "
              "this TLS version, 0 when it refuses.", ("website", "version"),
              "none (one blackbox module per max_version)")
HSTS = _g("upkeep_http_hsts_max_age_seconds", "HSTS max-age in seconds (0 when absent or "
          "invalid).", ("website",), "none (fail_if_header_not_matches only)")
HEADER = _g("upkeep_http_security_header_present", "1 when the header is present; "
            "x-frame-options also counts CSP frame-ancestors.", ("website", "header"),
            "none (fail_if_header_not_matches only)")
REDIRECT = _g("upkeep_http_redirect_to_https", "1 when http:// redirects to https:// on the "
              "same host first (or plain HTTP is not served at all).", ("website",),
              "probe_http_ssl (final hop only)")
CHECKED = _g("upkeep_website_check_timestamp_seconds", "Unix time a slow check of the site "
             "(tls_versions, http_redirect, ns_aaaa, policy_pages) was last made; between "
             "checks (expect.slow_checks_interval) its result is reused.",
             ("website", "check"), "none (blackbox checks everything on every probe)")
POLICY = _g("upkeep_website_policy_page_ok", "1 when the policy page answered 2xx with the "
            "expected text.", ("website", "page"), "none (body regexp per module)")
CERT_INFO = _g("upkeep_tls_cert_info", "Always 1; identity of the leaf certificate.",
               ("website", "subject", "issuer", "serial", "fingerprint_sha256"),
               "probe_ssl_last_chain_info")

PHASES = ("dns", "connect", "tls", "first_byte", "total")
_FAMILIES = ("ipv4", "ipv6")


def _first_cert(site: SiteResult) -> FetchResult | None:
    return next((a for a in site.addresses if a.cert is not None and a.cert.chain), None)


def _primary(site: SiteResult, family: str) -> tuple[FetchResult, str] | None:
    pairs = [(a, v) for a, v in zip(site.addresses, site.verdicts, strict=True)
             if a.family == family]
    if not pairs:
        return None
    return next(((a, v) for a, v in pairs if v), pairs[0])


def site_samples(site: SiteResult, info: dict[str, Any]) -> Iterator[Sample]:
    name = site.config.name
    for rdtype, count in site.dns.counts.items():
        yield sample(DNS_RECORDS, count, website=name, type=rdtype)
    families: dict[str, dict[str, Any]] = {}
    for family in _FAMILIES:
        members = [v for a, v in zip(site.addresses, site.verdicts, strict=True)
                   if a.family == family]
        if not members:
            continue
        primary = _primary(site, family)
        assert primary is not None
        up = all(v == "" for v in members)
        status = primary[0].status or 0
        families[family] = {"up": up, "status": status}
        yield sample(UP, 1 if up else 0, website=name, family=family)
        yield sample(STATUS, status, website=name, family=family)
    info["families"] = families
    if site.addresses:
        yield sample(DURATION, site.dns.duration, website=name, phase="dns")
        for phase in PHASES[1:]:
            value = max(a.phases.get(phase, 0.0) for a in site.addresses)
            if phase == "total":
                value += site.dns.duration
            yield sample(DURATION, value, website=name, phase=phase)
    info["checked_at"] = dict(site.checked_at)
    for check, when in site.checked_at.items():
        yield sample(CHECKED, when, website=name, check=check)
    yield from _tls_samples(site, info)
    yield from _http_samples(site, info)
    yield from _parity_samples(site, info)
    info["policy_pages"] = site.policy_pages
    for page, result in site.policy_pages.items():
        yield sample(POLICY, 1 if result["ok"] else 0, website=name, page=page)


def _tls_samples(site: SiteResult, info: dict[str, Any]) -> Iterator[Sample]:
    name = site.config.name
    first = _first_cert(site)
    tls: dict[str, Any] = {"accepted": dict(site.accepted)}
    for version in VERSIONS:
        if version in site.accepted:
            yield sample(ACCEPTED, 1 if site.accepted[version] else 0, website=name,
                         version=version)
    if first is None or first.cert is None or first.cert.leaf is None:
        info["tls"] = tls if site.accepted else None
        return
    facts, leaf = first.cert, first.cert.leaf
    tls.update(facts.to_info(site.now), version=first.tls_version, cipher=first.cipher)
    info["tls"] = tls
    yield sample(NOT_AFTER, leaf.not_after, website=name)
    yield sample(NOT_BEFORE, leaf.not_before, website=name)
    yield sample(EARLIEST, facts.earliest_expiry or leaf.not_after, website=name)
    valid = facts.verified and not facts.problems
    yield sample(CERT_VALID, 1 if valid else 0, website=name)
    for reason in PROBLEMS:
        yield sample(CERT_PROBLEM, 1 if reason in facts.problems else 0, website=name,
                     reason=reason)
    if first.tls_version:
        yield sample(VERSION_INFO, 1, website=name, version=first.tls_version)
    if first.cipher:
        yield sample(CIPHER_INFO, 1, website=name, cipher=first.cipher)
    yield sample(CERT_INFO, 1, website=name, subject=leaf.subject, issuer=leaf.issuer,
                 serial=leaf.serial, fingerprint_sha256=leaf.fingerprint_sha256)


def _http_samples(site: SiteResult, info: dict[str, Any]) -> Iterator[Sample]:
    name = site.config.name
    answered = next((a for a in site.addresses if a.response is not None), None)
    http: dict[str, Any] = {"redirect": site.http_redirect}
    info["http"] = http
    if site.http_redirect is not None:
        yield sample(REDIRECT, 1 if site.http_redirect["ok"] else 0, website=name)
    if answered is None or answered.response is None:
        return
    check = web_http.check_headers(answered.response)
    max_age = int(str(check.hsts["max_age"] or 0)) if check.hsts else 0
    http.update(status=answered.status, final_url=answered.final_url,
                verified_https=answered.verified_https, headers_present=check.present,
                header_values=check.values, hsts=check.hsts,
                hsts_long_enough=max_age >= site.config.expect.hsts_min_age)
    if not answered.final_url.startswith("https:"):
        return  # browsers ignore security headers' HSTS over plain HTTP; nothing to export
    yield sample(HSTS, max_age if check.present["strict-transport-security"] else 0,
                 website=name)
    for header, present in check.present.items():
        yield sample(HEADER, 1 if present else 0, website=name, header=header)


def _parity_samples(site: SiteResult, info: dict[str, Any]) -> Iterator[Sample]:
    v4, v6 = _primary(site, "ipv4"), _primary(site, "ipv6")
    if v4 is None or v6 is None:
        info["ipv6_parity"] = None
        return
    a, b = v4[0], v6[0]
    distance = None
    if a.response is not None and b.response is not None:
        distance = round(web_http.body_distance(a.response.body, b.response.body), 4)
    ok = (a.status is not None and a.status == b.status and distance is not None
          and distance <= site.config.expect.parity_max_distance)
    info["ipv6_parity"] = {"ok": ok, "status_v4": a.status, "status_v6": b.status,
                           "distance": distance}
    yield sample(PARITY, 1 if ok else 0, website=site.config.name)


def site_reading(site: SiteResult, duration: float) -> Reading:
    """Pure: the reading for one probed site."""
    config = site.config
    info: dict[str, Any] = {"url": config.url, "host": urlsplit(config.url).hostname}
    samples = list(site_samples(site, info))
    info["dns"] = {"literal": site.dns.literal, "counts": dict(site.dns.counts),
                   "reason": site.dns.reason, "message": site.dns.message,
                   "duration": round(site.dns.duration, 4)}
    info["addresses"] = [
        {"family": a.family, "address": a.address, "up": not v, "reason": v,
         "message": a.message, "status": a.status, "final_url": a.final_url,
         "redirects": a.redirects, "verified_https": a.verified_https,
         "tls_version": a.tls_version, "cipher": a.cipher,
         "phases": {k: round(x, 4) for k, x in a.phases.items()}}
        for a, v in zip(site.addresses, site.verdicts, strict=True)]
    failing = [(a, v) for a, v in zip(site.addresses, site.verdicts, strict=True) if v]
    reason, message = "", ""
    if not site.addresses:
        reason, message = site.dns.reason or "dns_no_address", site.dns.message
    elif failing:
        a, reason = failing[0]
        message = f"{a.family} {a.address}: {a.message or reason}"
    elif site.dns.reason:
        reason, message = site.dns.reason, site.dns.message
    info["summary"] = summary(info)
    if reason:  # `upkeep probe` prints the message of a failing target: keep the facts there
        message = f"{message} | {info['summary']}"
    return Reading(KIND, config.name, time.time(), not reason, duration, reason, message,
                   samples, info)


def summary(info: dict[str, Any]) -> str:
    """One line for ``upkeep probe``: addresses, TLS version, days to expiry, problems, pages."""
    parts = []
    addresses = info.get("addresses") or []
    shown = ", ".join(f"{a['address']}{'' if a['up'] else ' DOWN(' + a['reason'] + ')'}"
                      for a in addresses[:4])
    parts.append(shown or "no address")
    tls = info.get("tls") or {}
    if tls.get("version"):
        parts.append(tls["version"])
    if tls.get("days_to_expiry") is not None:
        parts.append(f"cert {tls['days_to_expiry']:.0f} d left")
    problems = list(tls.get("problems") or [])
    accepted = tls.get("accepted") or {}
    legacy = [v for v in ("TLS 1.0", "TLS 1.1") if accepted.get(v)]
    if legacy:
        problems.append("accepts " + "/".join(legacy))
    http = info.get("http") or {}
    if http.get("headers_present"):
        missing = [h for h, ok in http["headers_present"].items() if not ok]
        if missing:
            problems.append("no " + ", ".join(missing))
    parity = info.get("ipv6_parity")
    if parity is not None and not parity["ok"]:
        problems.append("v4/v6 differ")
    if problems:
        parts.append("problems: " + "; ".join(problems))
    pages = info.get("policy_pages") or {}
    if pages:
        parts.append("pages: " + ", ".join(f"{k} {'ok' if v['ok'] else v['reason']}"
                                           for k, v in pages.items()))
    return " | ".join(parts)


class WebCollector(Collector):
    kind = KIND

    def __init__(self, websites: Sequence[WebsiteConfig], resolver: ResolverConfig) -> None:
        self.websites = list(websites)
        self.resolver_config = resolver
        self._prober: Prober | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def prober(self) -> Prober:
        # built lazily: the semaphore and resolver belong to the running loop
        loop = asyncio.get_running_loop()
        if self._prober is None or self._loop is not loop:
            self._loop = loop
            self._prober = Prober(make_resolver(self.resolver_config),
                                  self.resolver_config.timeout)
        return self._prober

    def targets(self) -> Sequence[Target]:
        return [Target(KIND, w.name, w.interval, w.timeout, jitter=min(w.interval / 10, 5.0),
                       settings=w) for w in self.websites]

    async def poll(self, target: Target) -> Reading:
        config: WebsiteConfig = target.settings
        return await self.probe(config, target.timeout)

    async def probe(self, config: WebsiteConfig, timeout: float) -> Reading:
        started = time.monotonic()
        # finish before the scheduler's hard wait_for, so the reading carries our reason
        deadline = started + max(timeout * 0.9, timeout - 1.0)
        site = await self.prober.probe(config, deadline)
        return site_reading(site, time.monotonic() - started)


@register(KIND)
def _factory(config: Config) -> WebCollector | None:
    return WebCollector(config.websites, config.resolver) if config.websites else None
