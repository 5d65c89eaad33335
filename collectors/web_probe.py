"""One website probe: DNS, every address, TLS verdict and facts, HTTP, redirects, matrix.

Everything here is I/O orchestration; the verdicts come from the pure helpers in
``web_tls`` (certificates) and ``web_http`` (headers, parity). Nothing raises for a network
problem: each step ends in a result with a ``reason``. All steps share one deadline.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from upkeep.collectors import web_dns, web_http, web_tls
from upkeep.collectors.web_http import HttpResponse, ProbeFailure
from upkeep.collectors.web_tls import CertFacts
from upkeep.config.websites import ExpectConfig, PolicyPageConfig, WebsiteConfig

_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class FetchResult:
    url: str
    family: str
    address: str
    reason: str = ""
    message: str = ""
    response: HttpResponse | None = None
    final_url: str = ""
    redirects: int = 0
    #: every https hop verified and the final hop was https
    verified_https: bool = False
    tls_version: str = ""
    cipher: str = ""
    cert: CertFacts | None = None
    #: the verifying (modern) handshake failed for another reason than the certificate
    tls_handshake_failed: bool = False
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> int | None:
        return self.response.status if self.response is not None else None


#: the facts that keep a slow schedule, by the name ``checked_at`` and the metric give them
SLOW_CHECKS = ("tls_versions", "http_redirect", "ns_aaaa", "policy_pages")


@dataclass
class SlowFacts:
    """What a site's slow checks found, when, and for which certificate and config."""

    config: WebsiteConfig
    fingerprint: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    #: wall-clock time of each check (exported); monotonic time it is due again
    checked_at: dict[str, float] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)

    def is_due(self, check: str, now: float) -> bool:
        return check not in self.values or now >= self.due.get(check, 0.0)

    def keep(self, check: str, value: Any, now: float) -> None:
        self.values[check] = value
        self.checked_at[check] = time.time()
        self.due[check] = now + self.config.expect.slow_checks_interval


@dataclass
class SiteResult:
    config: WebsiteConfig
    dns: web_dns.DnsResult
    addresses: list[FetchResult] = field(default_factory=list)
    #: per-address verdict: "" = up, else the reason
    verdicts: list[str] = field(default_factory=list)
    accepted: dict[str, bool] = field(default_factory=dict)
    http_redirect: dict[str, Any] | None = None
    policy_pages: dict[str, dict[str, Any]] = field(default_factory=dict)
    now: float = 0.0
    #: wall-clock time each slow check was last made (SLOW_CHECKS)
    checked_at: dict[str, float] = field(default_factory=dict)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _target(parts: Any) -> str:
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _host_header(parts: Any) -> str:
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return host if parts.port in (None, _default_port(parts.scheme)) else f"{host}:{parts.port}"


class Prober:
    """Shared by every website of one collector: resolver, connection limit."""

    def __init__(self, resolver: web_dns.Resolver, dns_timeout: float,
                 max_connections: int = 128) -> None:
        self.resolver = resolver
        self.dns_timeout = dns_timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._slow: dict[str, SlowFacts] = {}

    # --- one URL over one address (following redirects) ----------------------------------
    async def fetch(self, url: str, family: str, address: str, deadline: float,
                    expect: ExpectConfig, ca_file: str | None, *, follow: bool = True
                    ) -> FetchResult:
        result = FetchResult(url, family, address)
        phases = {"connect": 0.0, "tls": 0.0, "first_byte": 0.0}
        started = time.monotonic()
        seen: set[str] = set()
        host = urlsplit(url).hostname
        all_verified = True
        try:
            while True:
                seen.add(url)
                parts = urlsplit(url)
                if parts.hostname != host:  # redirected elsewhere: resolve in the same family
                    host = parts.hostname
                    address = await self._address_for(host or "", family, deadline)
                response, hop_verified = await self._hop(parts, address, deadline, expect.max_body_bytes,
                                                         ca_file, result, phases)
                if parts.scheme == "https":
                    all_verified = all_verified and hop_verified
                    if not hop_verified and not result.message:
                        result.message = f"TLS to {parts.hostname} did not verify"
                result.response, result.final_url = response, url
                location = response.header("location")
                if not (follow and expect.follow_redirects and response.status in _REDIRECTS
                        and location):
                    break
                url = urljoin(url, location.strip())
                if urlsplit(url).scheme not in ("http", "https"):
                    raise ProbeFailure("redirect_bad_scheme", f"redirect to {url[:200]!r}")
                if url in seen:
                    raise ProbeFailure("redirect_loop", f"redirect loop back to {url[:200]}")
                result.redirects += 1
                if result.redirects > expect.max_redirects:
                    raise ProbeFailure("too_many_redirects",
                                       f"more than {expect.max_redirects} redirects")
            result.verified_https = all_verified and urlsplit(result.final_url).scheme == "https"
        except ProbeFailure as failure:
            result.reason, result.message = failure.reason, str(failure)
        phases["total"] = time.monotonic() - started
        result.phases = phases
        return result

    async def _address_for(self, host: str, family: str, deadline: float) -> str:
        timeout = min(self.dns_timeout, web_http.remaining(deadline, "dns"))
        answer = await web_dns.resolve(host, self.resolver, timeout)
        same = [a for f, a in answer.addresses if f == family] or [a for _, a in answer.addresses]
        if not same:
            raise ProbeFailure(answer.reason or "dns_no_address", answer.message or host)
        return str(same[0])

    async def _hop(self, parts: Any, address: str, deadline: float, max_body: int,
                   ca_file: str | None, result: FetchResult, phases: dict[str, float]
                   ) -> tuple[HttpResponse, bool]:
        port = parts.port or _default_port(parts.scheme)
        https = parts.scheme == "https"
        # an address is no SNI (ssl sends none), but the certificate must name it all the same
        server_name = parts.hostname
        verified = False

        def exchange_with(context: ssl.SSLContext | None) -> web_http.Exchange:
            return web_http.Exchange(deadline, context=context, server_name=server_name,
                                     host=_host_header(parts),
                                     target=_target(parts), max_body=max_body)

        async with self._slots:
            t0 = time.monotonic()
            exchange = exchange_with(web_tls.verifying_context(ca_file) if https else None)
            try:
                await exchange.connect(address, port)
                phases["connect"] += exchange.connected_at - t0
                if https:
                    code: int | None = None
                    message = ""
                    try:
                        await exchange.handshake()
                        verified = True
                    except (ssl.SSLError, ProbeFailure) as err:
                        if isinstance(err, ProbeFailure) and err.reason != "tls_error":
                            raise  # a timeout: a second try would only time out again
                        # read the facts anyway: reconnect with a client that accepts anything
                        code, message = (web_tls.verify_error(err) if isinstance(err, ssl.SSLError)
                                         else (None, str(err)))
                        t0 = time.monotonic()
                        phases["tls"] += t0 - exchange.connected_at
                        exchange.close()
                        exchange = exchange_with(web_tls.legacy_context())
                        await exchange.connect(address, port)
                        phases["connect"] += exchange.connected_at - t0
                        try:
                            await exchange.handshake()
                        except ssl.SSLError as err2:
                            raise ProbeFailure("tls_error", f"TLS handshake failed: {err}; "
                                               f"also with a legacy client: {err2}") from None
                    phases["tls"] += exchange.secured_at - exchange.connected_at
                    if result.cert is None:
                        self._read_certificate(exchange, parts.hostname, result, verified,
                                               code, message)
                response = await exchange.response()
                phases["first_byte"] += response.first_byte
            finally:
                exchange.close()
        return response, verified

    @staticmethod
    def _read_certificate(exchange: web_http.Exchange, host: str, result: FetchResult,
                          verified: bool, code: int | None, message: str) -> None:
        """The first https hop's certificate and TLS facts, while its response is on the way."""
        sslobj = exchange.tls
        chain = web_tls.peer_chain_der(sslobj)
        try:
            result.cert = web_tls.assess_chain(chain, host, web_tls.utcnow(), verified=verified,
                                               verify_code=code, verify_message=message)
        except ValueError as err:  # OpenSSL took it, we cannot read it
            raise ProbeFailure("tls_error", "the server's certificate cannot "
                               f"be read: {err}") from None
        assert sslobj is not None
        result.tls_version = web_tls.VERSION_LABEL.get(sslobj.version() or "", "")
        result.cipher = (sslobj.cipher() or ("",))[0]
        if not verified:
            result.message = (f"certificate verification failed: {message}"
                              if code is not None else
                              f"handshake with a modern client failed: {message}")
            result.tls_handshake_failed = code is None

    # --- the protocol-version matrix ------------------------------------------------------
    async def accepts(self, address: str, port: int, server_name: str, version: str,
                      deadline: float) -> bool | None:
        """True/False when the server accepted/refused ``version``; None when unknown."""
        async with self._slots:
            exchange = web_http.Exchange(deadline, context=web_tls.legacy_context(version),
                                         server_name=server_name, request=False)
            try:
                await exchange.connect(address, port)
                await exchange.handshake()
                return True
            except ssl.SSLError:
                return False  # an alert: refused
            except ProbeFailure as failure:  # closed during the handshake: refused
                return False if failure.reason == "tls_error" else None  # else unknown
            finally:
                exchange.close()

    # --- the whole site -------------------------------------------------------------------
    async def probe(self, config: WebsiteConfig, deadline: float) -> SiteResult:
        """One poll. Slow facts come from the last time they were checked unless they are
        due, the certificate changed, or the previous check was made while the site was down."""
        parts = urlsplit(config.url)
        host = parts.hostname or ""
        expect = config.expect
        slow = self._slow.get(config.name)
        if slow is None or slow.config is not config:  # new site, or a reloaded config
            slow = self._slow[config.name] = SlowFacts(config)
        now = time.monotonic()
        ask_ns = expect.ns_aaaa and slow.is_due("ns_aaaa", now)
        dns_budget = min(self.dns_timeout, max(deadline - time.monotonic(), 0.05))
        answer = await web_dns.resolve(host, self.resolver, dns_budget, ns_aaaa=ask_ns)
        site = SiteResult(config, answer, now=web_tls.utcnow())
        chosen: list[tuple[str, str]] = []
        for family in ("ipv4", "ipv6"):
            chosen += [fa for fa in answer.addresses if fa[0] == family][: expect.max_addresses]
        jobs: list[Any] = [asyncio.ensure_future(
            self.fetch(config.url, f, a, deadline, expect, config.tls.ca_file))
            for f, a in chosen]
        # the first address's certificate decides whether the slow facts still hold
        fingerprint = ""
        if jobs:
            first: FetchResult = await jobs[0]
            leaf = first.cert.leaf if first.cert is not None else None
            fingerprint = leaf.fingerprint_sha256 if leaf is not None else ""
            if fingerprint and slow.fingerprint and fingerprint != slow.fingerprint:
                slow.due.clear()  # a new certificate: check everything again at once
            if fingerprint:
                slow.fingerprint = fingerprint
        extra: list[Any] = []
        if chosen and parts.scheme == "https" and expect.tls_versions:
            if slow.is_due("tls_versions", now):
                port = parts.port or 443
                extra += [self._matrix(chosen[0][1], port, host, deadline,
                                       None if expect.tls_versions_separately else jobs[0])]
            else:
                site.accepted = dict(slow.values["tls_versions"])
        if chosen and expect.http_redirect:
            if slow.is_due("http_redirect", now):
                extra.append(self._http_redirect(config, chosen[0], deadline))
            else:
                site.http_redirect = dict(slow.values["http_redirect"])
        if config.policy_pages:
            if slow.is_due("policy_pages", now):
                extra.append(self._policy_pages(config, chosen, deadline))
            else:
                site.policy_pages = {k: dict(v) for k, v in slow.values["policy_pages"].items()}
        done = await asyncio.gather(*jobs, *extra)
        site.addresses = list(done[: len(jobs)])
        fresh: dict[str, Any] = {}
        for item in done[len(jobs):]:
            if isinstance(item, tuple) and item[0] == "matrix":
                site.accepted = fresh["tls_versions"] = item[1]
            elif isinstance(item, tuple) and item[0] == "redirect":
                site.http_redirect = fresh["http_redirect"] = item[1]
            elif isinstance(item, tuple) and item[0] == "policy":
                site.policy_pages = fresh["policy_pages"] = item[1]
        if ask_ns and "NS_AAAA" in answer.counts:
            fresh["ns_aaaa"] = answer.counts["NS_AAAA"]
        elif expect.ns_aaaa and not ask_ns:
            answer.counts["NS_AAAA"] = slow.values["ns_aaaa"]
        site.verdicts = [self.verdict(r, expect) for r in site.addresses]
        # what was checked while the site answered holds until due; else ask again next poll
        if site.verdicts and not any(site.verdicts):
            for check, value in fresh.items():
                slow.keep(check, value, now)
        else:
            for check, value in fresh.items():
                slow.values[check] = value
                slow.checked_at[check] = time.time()
                slow.due[check] = now
        site.checked_at = {c: slow.checked_at[c] for c in SLOW_CHECKS if c in slow.checked_at}
        return site

    async def _matrix(self, address: str, port: int, server_name: str, deadline: float,
                      first: asyncio.Future[FetchResult] | None
                      ) -> tuple[str, dict[str, bool]]:
        """Accepted versions. The first address's handshake offered every version up to 1.3,
        so what it negotiated is accepted and everything above it refused; only the versions
        below it need a handshake of their own (one full handshake fewer per site)."""
        names = list(web_tls.VERSIONS)
        known: dict[str, bool] = {}
        negotiated = (await first).tls_version if first is not None else ""
        if negotiated in names:
            cut = names.index(negotiated)
            known = {v: i >= cut and i == cut for i, v in enumerate(names) if i >= cut}
            names = names[:cut]
        results = await asyncio.gather(*(self.accepts(address, port, server_name, v, deadline)
                                         for v in names))
        known.update({v: r for v, r in zip(names, results, strict=True) if r is not None})
        return "matrix", {v: known[v] for v in web_tls.VERSIONS if v in known}

    async def _http_redirect(self, config: WebsiteConfig, chosen: tuple[str, str],
                             deadline: float) -> tuple[str, dict[str, Any]]:
        parts = urlsplit(config.url)
        host = parts.hostname or ""
        if parts.scheme == "http":
            url = config.url
        else:
            shown = f"[{host}]" if ":" in host else host
            port = config.expect.http_port
            url = f"http://{shown}/" if port == 80 else f"http://{shown}:{port}/"
        fetched = await self.fetch(url, chosen[0], chosen[1], deadline, config.expect, None,
                                   follow=False)
        out: dict[str, Any] = {"url": url, "status": fetched.status}
        if fetched.response is None:
            # no plain HTTP at all also passes (internet.nl forced_http_check)
            out.update(ok=fetched.reason in ("connect_refused",), http_answers=False,
                       reason=fetched.reason or "no_http")
            return "redirect", out
        location = urljoin(url, (fetched.response.header("location") or "").strip())
        target = urlsplit(location)
        same_host = (target.hostname or "").lower() == host.lower()
        ok = fetched.status in _REDIRECTS and target.scheme == "https" and same_host
        reason = "" if ok else ("no_redirect" if fetched.status not in _REDIRECTS else
                                "redirect_not_https" if target.scheme != "https" else
                                "redirect_other_host")
        out.update(ok=ok, http_answers=True, location=location[:300], reason=reason)
        return "redirect", out

    async def _policy_pages(self, config: WebsiteConfig, chosen: list[tuple[str, str]],
                            deadline: float) -> tuple[str, dict[str, dict[str, Any]]]:
        pages = await asyncio.gather(*(self._policy_page(config, page, chosen, deadline)
                                       for page in config.policy_pages))
        return "policy", {page.name: result for page, result in
                          zip(config.policy_pages, pages, strict=True)}

    async def _policy_page(self, config: WebsiteConfig, page: PolicyPageConfig,
                           chosen: list[tuple[str, str]], deadline: float) -> dict[str, Any]:
        host = urlsplit(page.url).hostname or ""
        try:
            if host == urlsplit(config.url).hostname and chosen:
                family, address = chosen[0]
            else:
                answer = await web_dns.resolve(
                    host, self.resolver, min(self.dns_timeout, web_http.remaining(deadline, "dns")))
                if not answer.addresses:
                    raise ProbeFailure(answer.reason or "dns_no_address", answer.message)
                family, address = answer.addresses[0]
        except ProbeFailure as failure:
            return {"url": page.url, "ok": False, "status": None, "reason": failure.reason,
                    "message": str(failure), "text_found": None, "fetched_at": time.time()}
        fetched = await self.fetch(page.url, family, address, deadline, config.expect,
                                   config.tls.ca_file)
        found: bool | None = None
        if fetched.response is not None and page.expect_text is not None:
            found = page.expect_text in web_http.decode_text(fetched.response.body,
                                                              fetched.response)
        status = fetched.status
        reason = fetched.reason
        if not reason and status is not None and not 200 <= status < 300:
            reason = "http_status"
        if not reason and found is False:
            reason = "text_missing"
        return {"url": page.url, "ok": not reason, "status": status, "reason": reason,
                "message": fetched.message, "text_found": found, "final_url": fetched.final_url,
                "https": urlsplit(fetched.final_url or page.url).scheme == "https",
                "tls_verified": fetched.verified_https, "fetched_at": time.time()}

    @staticmethod
    def verdict(result: FetchResult, expect: ExpectConfig) -> str:
        """"" when this address is up: verified TLS, acceptable status, expected text."""
        if result.reason:
            return result.reason
        if result.tls_handshake_failed:
            return "tls_handshake"
        if result.cert is not None and result.cert.problems and not result.verified_https:
            return f"tls_{result.cert.problems[0]}"
        if not result.verified_https:
            return "no_tls"
        status = result.status or 0
        if not (status in expect.status if expect.status else 200 <= status < 300):
            return "http_status"
        if expect.text is not None and result.response is not None and \
                expect.text not in web_http.decode_text(result.response.body, result.response):
            return "text_missing"
        return ""
