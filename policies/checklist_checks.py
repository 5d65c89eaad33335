"""The automated checks of the checklist: one small pure function per evaluator name.

Website checks read the web collector's ``Reading.info`` (kind ``web``; keys documented in
``upkeep.collectors.web``); fleet checks read the UPS readings (kinds ``nut``/``snmp``) and
the agent's own config (SNMP versions, NUT auth/TLS, the agent's HTTP). Each returns
``(status, detail)``; a missing key raises ``KeyError`` and the caller turns it into
``error`` with the reason, so a reading of an unexpected shape never hides other results.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from upkeep.config import Config
from upkeep.reading import Reading
from upkeep.readings import UPS_KINDS, HttpInfo, TlsInfo, ups_info, web_info

Verdict = tuple[str, str]
#: an ``auto-or-manual`` control's evaluator has nothing configured to judge: attestation decides
MANUAL = "manual"


@dataclass(frozen=True)
class Context:
    config: Config
    now: float
    readings: Mapping[tuple[str, str], Reading]


@dataclass(frozen=True)
class Evaluator:
    func: Callable[[Context, str, Mapping[str, Any]], Verdict]
    subjects: str


EVALUATORS: dict[str, Evaluator] = {}


def evaluator(name: str, subjects: str) -> Callable[[Callable[..., Verdict]],
                                                      Callable[..., Verdict]]:
    def wrap(func: Callable[..., Verdict]) -> Callable[..., Verdict]:
        if name in EVALUATORS:
            raise ValueError(f"evaluator {name} defined twice")
        EVALUATORS[name] = Evaluator(func, subjects)
        return func
    return wrap


# --- website readings --------------------------------------------------------------------

def _website(ctx: Context, name: str) -> Reading | Verdict:
    reading = ctx.readings.get(("web", name))
    if reading is None:
        return "error", "no reading of this website yet (is the agent running and polling it?)"
    if not reading.info:
        return "error", f"the last probe failed: {reading.reason} {reading.message}".strip()
    return reading


def _web_check(func: Callable[[Context, Reading, Mapping[str, Any]], Verdict]
               ) -> Callable[[Context, str, Mapping[str, Any]], Verdict]:
    def run(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
        found = _website(ctx, subject)
        if not isinstance(found, Reading):
            return found
        return func(ctx, found, params)
    run.__name__ = func.__name__
    return run


def _tls_version_name(value: str) -> str:
    """"TLS 1.2", "TLSv1.2", "1.2" -> "1.2"."""
    return str(value).upper().replace("TLSV", "").replace("TLS", "").strip()


def _tls(r: Reading) -> TlsInfo | Verdict:
    """The reading's TLS facts, or the verdict when none were seen."""
    tls = web_info(r).get("tls")
    if tls and "verified" in tls:
        return tls
    if r.ok:
        return "fail", "the site answered without TLS"
    return "error", f"no certificate seen: {r.reason} {r.message}".strip()


@evaluator("website.tls_valid", "websites")
@_web_check
def tls_valid(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    tls = _tls(r)
    if isinstance(tls, tuple):
        return tls
    problems = list(tls.get("problems") or [])
    if tls["verified"] and not problems:
        return "pass", "certificate verified"
    return "fail", "certificate does not verify" + (f": {', '.join(problems)}" if problems
                                                    else f": {tls.get('verify_message', '')}")


@evaluator("website.cert_days", "websites")
@_web_check
def cert_days(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    tls = _tls(r)
    if isinstance(tls, tuple):
        return tls
    minimum = ctx.config.policies.checklist.cert_min_days
    # the earliest expiry in the served chain, against the evaluation clock (not the probe's)
    expiry = tls.get("chain_earliest_expiry") or tls.get("not_after")
    if expiry is None:
        return "error", "the certificate's expiry is unknown"
    days = (float(expiry) - ctx.now) / 86400
    if days > minimum:
        return "pass", f"{days:.1f} days left (more than {minimum})"
    if days <= 0:
        return "fail", "the certificate has expired"
    return "fail", f"only {days:.1f} days left (needs more than {minimum})"


@evaluator("website.legacy_tls_refused", "websites")
@_web_check
def legacy_tls_refused(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    tls = web_info(r).get("tls")
    accepted = {_tls_version_name(k): v for k, v in
                ((tls.get("accepted") if tls else None) or {}).items()}
    legacy = [v for v in ("1.0", "1.1") if accepted.get(v)]
    if legacy:
        return "fail", "accepts TLS " + " and ".join(legacy)
    # the collector leaves out versions whose test was inconclusive (or not run)
    untested = [v for v in ("1.0", "1.1") if v not in accepted]
    if untested:
        return "error", "TLS " + " and ".join(untested) + " not tested (expect.tls_versions)"
    return "pass", "TLS 1.0 and 1.1 refused"


@evaluator("website.modern_tls", "websites")
@_web_check
def modern_tls(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    tls = _tls(r)
    if isinstance(tls, tuple):
        return tls
    version = tls.get("version")
    if not version:
        return "fail", "no TLS version negotiated"
    if _tls_version_name(version) in ("1.2", "1.3"):
        return "pass", f"negotiated {version}"
    return "fail", f"negotiated {version}"


@evaluator("website.redirect", "websites")
@_web_check
def redirect(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    result = web_info(r)["http"]["redirect"]
    if result is None:
        return "not-applicable", "http redirect check disabled (expect.http_redirect)"
    # only a redirect seen is evidence: a refused or silent http port redirects nobody
    # (the collector's metric counts "no plain HTTP at all" as fine, like internet.nl)
    if result.get("ok") and result.get("http_answers"):
        return "pass", "http:// redirects to https:// on the same host"
    if result.get("http_answers") is False:
        where = result.get("url") or "http://"
        why = {"connect_refused": "every connection was refused",
               "connect_timeout": "the connection timed out"}.get(
            str(result.get("reason")), str(result.get("reason") or "no answer"))
        return "fail", (f"no redirect seen: {where} (port {_port(where)}) did not answer "
                        f"({why})")
    why = result.get("reason") or result.get("location") or ""
    return "fail", f"http:// does not redirect to https:// on the same host {why}".strip()


def _port(url: str) -> int:
    try:
        return urlsplit(url).port or 80
    except ValueError:
        return 80


def _answered_http(r: Reading) -> HttpInfo | Verdict:
    http = web_info(r)["http"]
    if "headers_present" not in http:
        return "error", f"no HTTP answer to judge: {r.reason} {r.message}".strip()
    return http


@evaluator("website.hsts", "websites")
@_web_check
def hsts(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    http = _answered_http(r)
    if isinstance(http, tuple):
        return http
    minimum = ctx.config.policies.checklist.hsts_min_seconds
    value = http.get("hsts")
    if not http["verified_https"]:
        # RFC 6797 s. 8.1: a browser ignores HSTS over plain HTTP or TLS with errors
        return "fail", ("HSTS does not count: the answer did not come over verified https "
                        f"({http.get('final_url') or web_info(r).get('url', '')})")
    max_age = value.get("max_age") if value else None
    if max_age is None:
        return "fail", "no valid Strict-Transport-Security header"
    age = int(max_age)
    if age >= minimum:
        return "pass", f"HSTS max-age {age} s"
    return "partial", f"HSTS max-age {age} s is below {minimum} s"


@evaluator("website.headers", "websites")
@_web_check
def headers(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    http = _answered_http(r)
    if isinstance(http, tuple):
        return http
    # x-frame-options counts CSP frame-ancestors too (the collector does that)
    have = {str(k).lower() for k, v in http["headers_present"].items() if v}
    wanted = [h.lower() for h in ctx.config.policies.checklist.required_headers]
    missing = [h for h in wanted if h not in have]
    if not missing:
        return "pass", "all security headers present"
    if len(missing) < len(wanted):
        return "partial", "missing " + ", ".join(missing)
    return "fail", "missing " + ", ".join(missing)


@evaluator("website.ipv6", "websites")
@_web_check
def ipv6(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    dns = web_info(r)["dns"]
    if not dns.get("literal") and int(dns["counts"].get("AAAA", 0)) == 0:
        return "fail", "no AAAA record"
    v6 = (web_info(r).get("families") or {}).get("ipv6")
    if v6 is None:
        return "fail", "no IPv6 address probed"
    if not v6.get("up"):
        return "fail", "IPv6 address does not answer"
    parity = web_info(r).get("ipv6_parity")
    if parity is None:
        return "fail", "IPv6 only: nothing to compare with IPv4"
    if parity.get("ok"):
        return "pass", "IPv6 answers like IPv4"
    return "partial", (f"IPv6 answers unlike IPv4 (status {parity.get('status_v4')} vs "
                       f"{parity.get('status_v6')}, distance {parity.get('distance')})")


@evaluator("website.policy_page", "websites")
@_web_check
def policy_page(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    page = str(params.get("page", ""))
    entry = (web_info(r).get("policy_pages") or {}).get(page)
    if entry is None:
        return "fail", f"no {page} page configured for this website (policy_pages)"
    where = entry.get("url", "")
    if entry.get("ok"):
        return "pass", f"{page} {where} answers with the expected text"
    why = entry.get("message") or entry.get("reason") or (
        "expected text not found" if entry.get("text_found") is False else "")
    return "fail", f"{page} {where}: {why}".rstrip(": ")


# --- ITA disclosure pages (policies/ita.py fetches them) -------------------------------------

def _age(seconds: float) -> str:
    return f"{seconds / 86400:.0f} days"


@evaluator("ita.page", "site")
def ita_page(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    item = str(params["item"])
    ita = ctx.config.policies.ita
    page = ita.pages.get(item)
    if page is None:
        return MANUAL, f"no URL configured for {item} (policies.ita.pages)"
    reading = ctx.readings.get(("ita", item))
    if reading is None or reading.info.get("url") != page.url:
        return "error", f"{page.url} not fetched yet (is the agent running?)"
    info = reading.info
    if info.get("status") != 200:
        why = reading.message or reading.reason or f"HTTP {info.get('status')}"
        return "fail", f"{page.url}: {why}"
    if info.get("text_found") is False:
        heading = page.expect_text or params.get("heading") or ""
        return "fail", f"{page.url} answers 200 without the heading {heading!r}"
    updated = info.get("updated_at")
    if updated is None:
        return "error", f"{page.url}: cannot tell when it was updated"
    max_age = page.max_age or ita.max_age
    age = ctx.now - float(updated)
    source = ("Last-Modified" if info.get("updated_source") == "last_modified"
              else "content unchanged since")
    if age > max_age:
        return "fail", (f"{page.url}: not updated for {_age(age)} ({source}), more than "
                        f"{_age(max_age)}")
    return "pass", f"{page.url}: 200, heading found, updated {_age(max(age, 0))} ago ({source})"


# --- fleet (config and UPS readings) ---------------------------------------------------------

def _loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@evaluator("fleet.agent_http", "site")
def agent_http(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    config = ctx.config
    if _loopback(config.listen_host):
        return "not-applicable", f"listens on loopback only ({config.listen})"
    tls = config.web.tls_server_config is not None
    auth = bool(config.web.basic_auth_users)
    if tls and auth:
        return "pass", f"{config.listen}: TLS and basic-auth users"
    missing = [what for what, ok in (("TLS", tls), ("authentication", auth)) if not ok]
    status = "partial" if (tls or auth) else "fail"
    return status, f"{config.listen} is reachable beyond loopback without {' and '.join(missing)}"


@evaluator("fleet.nut_secure", "site")
def nut_secure(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    remote = [u for u in ctx.config.ups or [] if u.nut is not None and not _loopback(u.nut.host)]
    if not remote:
        return "not-applicable", "no remote upsd"
    bad: list[str] = []
    half = 0
    for ups in remote:
        assert ups.nut is not None
        auth = ups.nut.username is not None
        tls = ups.nut.tls is not None and ups.nut.tls.required
        if not (auth and tls):
            missing = [w for w, ok in (("auth", auth), ("TLS", tls)) if not ok]
            bad.append(f"{ups.name} without {' and '.join(missing)}")
            half += auth or tls
    if not bad:
        return "pass", f"{len(remote)} remote upsd with auth and TLS"
    status = "partial" if half or len(bad) < len(remote) else "fail"
    return status, "; ".join(bad)


@evaluator("fleet.snmp_v3", "site")
def snmp_v3(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    targets = [u for u in ctx.config.ups or [] if u.snmp is not None]
    if not targets:
        return "not-applicable", "no SNMP targets"
    community = [u.name for u in targets if u.snmp and u.snmp.version != "3"]
    no_priv = [u.name for u in targets if u.snmp and u.snmp.version == "3" and u.snmp.priv is None]
    if not community and not no_priv:
        return "pass", f"{len(targets)} SNMP targets on v3 authPriv"
    parts = []
    if community:
        parts.append("community strings: " + ", ".join(community))
    if no_priv:
        parts.append("v3 without privacy: " + ", ".join(no_priv))
    status = "fail" if len(community) == len(targets) else "partial"
    return status, "; ".join(parts)


@evaluator("fleet.ups", "site")
def ups_healthy(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    config = ctx.config
    server = config.host.enabled
    units = config.ups or []
    if not units:
        if server:
            return "fail", "a server is monitored here but no UPS is configured"
        return "not-applicable", "no server and no UPS monitored here"
    problems: list[str] = []
    for unit in units:
        readings = [r for (kind, _), r in ctx.readings.items()
                    if kind in UPS_KINDS and (r.target == unit.name or (
                        (info := ups_info(r)) is not None and info["ups"] == unit.name))]
        if not readings:
            problems.append(f"{unit.name}: no reading yet")
            continue
        for r in readings:
            if not r.ok:
                problems.append(f"{r.target}: not answering ({r.reason})")
                continue
            info = ups_info(r)
            status = set(info["status"] or ()) if info else set()
            if "OL" not in status:
                problems.append(f"{r.target}: not on line power ({' '.join(sorted(status))})")
            if info and info["replace_needed"]:
                problems.append(f"{r.target}: asks for a battery replacement")
            if info and info["selftest_result"] == "failed":
                problems.append(f"{r.target}: failed its self-test")
    if not problems:
        return "pass", f"{len(units)} UPS healthy"
    return "fail", "; ".join(problems)


# --- the standards audit (kind ``audit``; keys in ``upkeep.collectors.web_audit``) -------

def _audit_pages(ctx: Context, name: str) -> Mapping[str, Any] | Verdict:
    """The pages of the website's latest audit, or why there is nothing to judge: a
    missing, stale or failed audit is never a pass."""
    website = next((w for w in ctx.config.websites if w.name == name), None)
    if website is not None and not website.audit.enabled:
        return "error", "the standards audit is off for this website (websites[].audit)"
    reading = ctx.readings.get(("audit", name))
    if reading is None:
        return "error", "no audit of this website yet (is the agent running with audit: on?)"
    if not reading.info:
        return "error", f"the last audit failed: {reading.reason} {reading.message}".strip()
    interval = website.audit.interval if website is not None else 86400.0
    age = ctx.now - float(reading.info["audited_at"])
    if age > 2 * interval + 3600:
        return "error", f"the latest audit is {age / 86400:.1f} days old"
    return reading.info["pages"]  # type: ignore[no-any-return]


def _audit_verdict(ctx: Context, name: str, part: str,
                   judge: Callable[[Mapping[str, Any]], str]) -> Verdict:
    pages = _audit_pages(ctx, name)
    if isinstance(pages, tuple):
        return pages
    failing, unknown = [], []
    for page, result in pages.items():
        if result["reason"]:
            unknown.append(f"{page}: not audited ({result['reason']}: {result['message']})")
        elif result[part].get("reason"):
            unknown.append(f"{page}: not available ({result[part]['reason']}: "
                           f"{result[part]['message']})")
        elif problem := judge(result[part]):
            failing.append(f"{page}: {problem}")
    if failing:
        return "fail", "; ".join(failing + unknown)
    if unknown:
        return "error", "; ".join(unknown)
    return "pass", f"{len(pages)} page(s) audited, nothing found"


@evaluator("website.html_valid", "websites")
def html_valid(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    return _audit_verdict(ctx, subject, "html", lambda h: (
        f"{h['errors']} HTML error(s) (W3C Nu Html Checker)" if h["errors"] else ""))


@evaluator("website.accessible", "websites")
def accessible(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    return _audit_verdict(ctx, subject, "accessibility", lambda a: (
        "WCAG 2.1 A/AA violations: " + ", ".join(v["id"] for v in a["violations"])
        if a["violations"] else ""))


@evaluator("website.thai_language", "websites")
def thai_language(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    return _audit_verdict(ctx, subject, "thai", lambda t: ", ".join(t["problems"]))
