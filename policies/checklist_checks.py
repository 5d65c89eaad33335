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

from upkeep.config import Config
from upkeep.reading import Reading

Verdict = tuple[str, str]


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

class NoReading(Exception):
    pass


def _dig(info: Mapping[str, Any], path: str) -> Any:
    node: Any = info
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def web_fact(info: Mapping[str, Any], *paths: str) -> Any:
    """The first of ``paths`` present in ``info`` (KeyError naming them when none is)."""
    for path in paths:
        try:
            return _dig(info, path)
        except KeyError:
            continue
    raise KeyError(f"the web reading has none of {', '.join(paths)}")


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
    """"TLSv1.2", "TLS 1.2", "1.2" -> "1.2"."""
    return str(value).upper().replace("TLSV", "").replace("TLS", "").strip()


@evaluator("website.tls_valid", "websites")
@_web_check
def tls_valid(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    valid = web_fact(r.info, "tls.valid", "tls_valid", "tls.verified")
    if valid:
        return "pass", "certificate verified"
    problems = web_fact(r.info, "tls.problems", "tls_problems") if _has(
        r.info, "tls.problems", "tls_problems") else []
    return "fail", "certificate does not verify" + (f": {', '.join(problems)}" if problems
                                                    else "")


def _has(info: Mapping[str, Any], *paths: str) -> bool:
    try:
        web_fact(info, *paths)
    except KeyError:
        return False
    return True


@evaluator("website.cert_days", "websites")
@_web_check
def cert_days(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    minimum = ctx.config.policies.checklist.cert_min_days
    days = web_fact(r.info, "tls.days_to_expiry", "tls.days_left", "days_to_expiry")
    if days is None:
        return "error", "the certificate's expiry is unknown"
    days = float(days)
    if days > minimum:
        return "pass", f"{days:.1f} days left (more than {minimum})"
    return "fail", f"only {days:.1f} days left (needs more than {minimum})"


def _accepted(info: Mapping[str, Any]) -> dict[str, bool | None]:
    raw = web_fact(info, "tls.accepted", "tls.versions_accepted", "tls_accepted")
    if isinstance(raw, Mapping):
        return {_tls_version_name(k): (None if v is None else bool(v)) for k, v in raw.items()}
    return {_tls_version_name(v): True for v in raw}


@evaluator("website.legacy_tls_refused", "websites")
@_web_check
def legacy_tls_refused(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    accepted = _accepted(r.info)
    legacy = [v for v in ("1.0", "1.1") if accepted.get(v)]
    if legacy:
        return "fail", "accepts TLS " + " and ".join(legacy)
    unknown = [v for v in ("1.0", "1.1") if accepted.get(v) is None and v in accepted]
    if unknown:
        return "error", "could not test TLS " + " and ".join(unknown)
    return "pass", "TLS 1.0 and 1.1 refused"


@evaluator("website.modern_tls", "websites")
@_web_check
def modern_tls(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    version = web_fact(r.info, "tls.version", "tls_version")
    if not version:
        return "fail", "no TLS connection"
    name = _tls_version_name(version)
    if name in ("1.2", "1.3"):
        return "pass", f"negotiated TLS {name}"
    return "fail", f"negotiated {version}"


@evaluator("website.redirect", "websites")
@_web_check
def redirect(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    value = web_fact(r.info, "http.redirect_https", "redirect.ok", "redirect_https",
                     "http_redirect")
    if isinstance(value, Mapping):
        value = value.get("ok")
    if value is None:
        return "not-applicable", "http redirect check disabled"
    return ("pass", "http:// redirects to https://") if value else (
        "fail", "http:// does not redirect to https:// on the same host")


@evaluator("website.hsts", "websites")
@_web_check
def hsts(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    minimum = ctx.config.policies.checklist.hsts_min_seconds
    age = web_fact(r.info, "http.hsts_max_age", "hsts.max_age", "hsts_max_age")
    if age is None:
        return "fail", "no Strict-Transport-Security header"
    if float(age) >= minimum:
        return "pass", f"HSTS max-age {int(age)} s"
    return "partial", f"HSTS max-age {int(age)} s is below {minimum} s"


@evaluator("website.headers", "websites")
@_web_check
def headers(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    present = web_fact(r.info, "http.headers", "headers", "security_headers")
    if isinstance(present, Mapping):
        have = {str(k).lower() for k, v in present.items() if v}
    else:
        have = {str(k).lower() for k in present}
    wanted = [h.lower() for h in ctx.config.policies.checklist.required_headers]
    # CSP frame-ancestors does X-Frame-Options' job (both are accepted by the web standard)
    if "x-frame-options" in wanted and "frame-ancestors" in have:
        have.add("x-frame-options")
    missing = [h for h in wanted if h not in have]
    if not missing:
        return "pass", "all security headers present"
    if len(missing) < len(wanted):
        return "partial", "missing " + ", ".join(missing)
    return "fail", "missing " + ", ".join(missing)


@evaluator("website.ipv6", "websites")
@_web_check
def ipv6(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    parity = web_fact(r.info, "ipv6.parity", "ipv6_parity", "parity")
    if isinstance(parity, Mapping):
        parity = parity.get("ok")
    aaaa = _count_aaaa(r.info)
    if aaaa == 0:
        return "fail", "no AAAA record"
    if parity is None:
        return "fail", "IPv6 not reachable"
    return ("pass", "IPv6 answers like IPv4") if parity else (
        "partial", "IPv6 answers, but unlike IPv4")


def _count_aaaa(info: Mapping[str, Any]) -> int | None:
    if _has(info, "dns.AAAA", "dns.aaaa", "dns_records.AAAA"):
        return int(web_fact(info, "dns.AAAA", "dns.aaaa", "dns_records.AAAA"))
    return None


@evaluator("website.policy_page", "websites")
@_web_check
def policy_page(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    page = str(params.get("page", ""))
    pages = web_fact(r.info, "policy_pages")
    if isinstance(pages, list):
        pages = {p.get("name"): p for p in pages if isinstance(p, Mapping)}
    entry = pages.get(page)
    if entry is None:
        return "fail", f"no {page} page configured for this website (policy_pages)"
    ok = entry.get("ok") if isinstance(entry, Mapping) else bool(entry)
    where = entry.get("url", "") if isinstance(entry, Mapping) else ""
    if ok:
        return "pass", f"{page} page {where} answers with the expected text".replace("  ", " ")
    why = entry.get("reason") or entry.get("message") or "" if isinstance(entry, Mapping) else ""
    return "fail", f"{page} page {where} is not right: {why}".strip().rstrip(":")


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
                    if kind in ("nut", "snmp") and (r.target == unit.name
                                                    or r.info.get("ups") == unit.name)]
        if not readings:
            problems.append(f"{unit.name}: no reading yet")
            continue
        for r in readings:
            if not r.ok:
                problems.append(f"{r.target}: not answering ({r.reason})")
                continue
            status = set(r.info.get("status") or ())
            if "OL" not in status:
                problems.append(f"{r.target}: not on line power ({' '.join(sorted(status))})")
            if r.info.get("replace_needed"):
                problems.append(f"{r.target}: asks for a battery replacement")
            if r.info.get("selftest_result") == "failed":
                problems.append(f"{r.target}: failed its self-test")
    if not problems:
        return "pass", f"{len(units)} UPS healthy"
    return "fail", "; ".join(problems)
