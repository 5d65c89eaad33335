"""The automated checks of the checklist: one small pure function per evaluator name.

Website checks read the web collector's ``Reading.info`` (kind ``web``; keys documented in
``upkeep.collectors.web``); fleet checks read the UPS readings (kinds ``nut``/``snmp``) and
the agent's own config (SNMP versions, NUT auth/TLS, the agent's HTTP). Each returns
``(status, T(thai, english))``; a missing key raises ``KeyError`` and the caller turns it into
``error`` with the reason, so a reading of an unexpected shape never hides other results.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from upkeep.config import Config
from upkeep.kit.messages import T
from upkeep.reading import Reading
from upkeep.readings import UPS_KINDS, HttpInfo, TlsInfo, ups_info, web_info

#: (status, detail): the detail in Thai and English (the reports print the one asked for; the
#: API, the UI and the history keep the English one)
Verdict = tuple[str, T]
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


def join(parts: list[T], sep: str = "; ") -> T:
    return T(sep.join(p.th for p in parts), sep.join(p.en for p in parts))


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
        return "error", T("ยังไม่มีผลการตรวจเว็บไซต์นี้ (เอเจนต์ทำงานและตรวจเว็บไซต์นี้อยู่หรือไม่)",
                          "no reading of this website yet (is the agent running and polling it?)")
    if not reading.info:
        why = f"{reading.reason} {reading.message}".strip()
        return "error", T(f"การตรวจครั้งล่าสุดไม่สำเร็จ: {why}", f"the last probe failed: {why}")
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
        return "fail", T("เว็บไซต์ตอบโดยไม่ใช้ TLS", "the site answered without TLS")
    why = f"{r.reason} {r.message}".strip()
    return "error", T(f"ไม่พบใบรับรอง: {why}", f"no certificate seen: {why}")


@evaluator("website.tls_valid", "websites")
@_web_check
def tls_valid(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    tls = _tls(r)
    if isinstance(tls, tuple):
        return tls
    problems = list(tls.get("problems") or [])
    if tls["verified"] and not problems:
        return "pass", T("ใบรับรองผ่านการตรวจสอบ", "certificate verified")
    why = ", ".join(problems) if problems else str(tls.get("verify_message", ""))
    return "fail", T(f"ใบรับรองไม่ผ่านการตรวจสอบ: {why}", f"certificate does not verify: {why}")


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
        return "error", T("ไม่ทราบวันหมดอายุของใบรับรอง", "the certificate's expiry is unknown")
    days = (float(expiry) - ctx.now) / 86400
    if days > minimum:
        return "pass", T(f"เหลืออีก {days:.1f} วัน (มากกว่า {minimum} วัน)",
                         f"{days:.1f} days left (more than {minimum})")
    if days <= 0:
        return "fail", T("ใบรับรองหมดอายุแล้ว", "the certificate has expired")
    return "fail", T(f"เหลือเพียง {days:.1f} วัน (ต้องมากกว่า {minimum} วัน)",
                     f"only {days:.1f} days left (needs more than {minimum})")


@evaluator("website.legacy_tls_refused", "websites")
@_web_check
def legacy_tls_refused(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    tls = web_info(r).get("tls")
    accepted = {_tls_version_name(k): v for k, v in
                ((tls.get("accepted") if tls else None) or {}).items()}
    legacy = [v for v in ("1.0", "1.1") if accepted.get(v)]
    if legacy:
        return "fail", T("ยังรับ TLS " + " และ ".join(legacy), "accepts TLS " + " and ".join(legacy))
    # the collector leaves out versions whose test was inconclusive (or not run)
    untested = [v for v in ("1.0", "1.1") if v not in accepted]
    if untested:
        return "error", T("ยังไม่ได้ทดสอบ TLS " + " และ ".join(untested) + " (expect.tls_versions)",
                          "TLS " + " and ".join(untested) + " not tested (expect.tls_versions)")
    return "pass", T("ปฏิเสธ TLS 1.0 และ 1.1", "TLS 1.0 and 1.1 refused")


@evaluator("website.modern_tls", "websites")
@_web_check
def modern_tls(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    tls = _tls(r)
    if isinstance(tls, tuple):
        return tls
    version = tls.get("version")
    if not version:
        return "fail", T("ไม่มีการตกลงรุ่น TLS", "no TLS version negotiated")
    said = T(f"ใช้ {version}", f"negotiated {version}")
    return ("pass" if _tls_version_name(version) in ("1.2", "1.3") else "fail"), said


@evaluator("website.redirect", "websites")
@_web_check
def redirect(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    result = web_info(r)["http"]["redirect"]
    if result is None:
        return "not-applicable", T("ปิดการตรวจการเปลี่ยนเส้นทาง http (expect.http_redirect)",
                                   "http redirect check disabled (expect.http_redirect)")
    # only a redirect seen is evidence: a refused or silent http port redirects nobody
    # (the collector's metric counts "no plain HTTP at all" as fine, like internet.nl)
    if result.get("ok") and result.get("http_answers"):
        return "pass", T("http:// เปลี่ยนเส้นทางไป https:// บนโฮสต์เดียวกัน",
                         "http:// redirects to https:// on the same host")
    if result.get("http_answers") is False:
        where = result.get("url") or "http://"
        reason = str(result.get("reason") or "")
        why = {"connect_refused": T("ถูกปฏิเสธการเชื่อมต่อทุกครั้ง", "every connection was refused"),
               "connect_timeout": T("การเชื่อมต่อหมดเวลา", "the connection timed out"),
               "": T("ไม่มีการตอบ", "no answer")}.get(reason, T(reason, reason))
        port = _port(where)
        return "fail", T(f"ไม่พบการเปลี่ยนเส้นทาง: {where} (พอร์ต {port}) ไม่ตอบ ({why.th})",
                         f"no redirect seen: {where} (port {port}) did not answer ({why.en})")
    said = str(result.get("reason") or result.get("location") or "")
    return "fail", T(f"http:// ไม่เปลี่ยนเส้นทางไป https:// บนโฮสต์เดียวกัน {said}".strip(),
                     f"http:// does not redirect to https:// on the same host {said}".strip())


def _port(url: str) -> int:
    try:
        return urlsplit(url).port or 80
    except ValueError:
        return 80


def _answered_http(r: Reading) -> HttpInfo | Verdict:
    http = web_info(r)["http"]
    if "headers_present" not in http:
        why = f"{r.reason} {r.message}".strip()
        return "error", T(f"ไม่มีคำตอบ HTTP ให้ตรวจ: {why}", f"no HTTP answer to judge: {why}")
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
        url = http.get("final_url") or web_info(r).get("url", "")
        return "fail", T(f"HSTS ไม่มีผล: คำตอบไม่ได้มาทาง https ที่ตรวจสอบใบรับรองแล้ว ({url})",
                         f"HSTS does not count: the answer did not come over verified https ({url})")
    max_age = value.get("max_age") if value else None
    if max_age is None:
        return "fail", T("ไม่มีส่วนหัว Strict-Transport-Security ที่ถูกต้อง",
                         "no valid Strict-Transport-Security header")
    age = int(max_age)
    if age >= minimum:
        return "pass", T(f"HSTS max-age {age} วินาที", f"HSTS max-age {age} s")
    return "partial", T(f"HSTS max-age {age} วินาที น้อยกว่า {minimum} วินาที",
                        f"HSTS max-age {age} s is below {minimum} s")


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
        return "pass", T("มีส่วนหัวด้านความปลอดภัยครบ", "all security headers present")
    said = T("ขาด " + ", ".join(missing), "missing " + ", ".join(missing))
    return ("partial" if len(missing) < len(wanted) else "fail"), said


@evaluator("website.ipv6", "websites")
@_web_check
def ipv6(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    dns = web_info(r)["dns"]
    if not dns.get("literal") and int(dns["counts"].get("AAAA", 0)) == 0:
        return "fail", T("ไม่มีระเบียน AAAA", "no AAAA record")
    v6 = (web_info(r).get("families") or {}).get("ipv6")
    if v6 is None:
        return "fail", T("ไม่ได้ตรวจที่อยู่ IPv6", "no IPv6 address probed")
    if not v6.get("up"):
        return "fail", T("ที่อยู่ IPv6 ไม่ตอบ", "IPv6 address does not answer")
    parity = web_info(r).get("ipv6_parity")
    if parity is None:
        return "fail", T("มีเฉพาะ IPv6: ไม่มี IPv4 ให้เปรียบเทียบ", "IPv6 only: nothing to compare with IPv4")
    if parity.get("ok"):
        return "pass", T("IPv6 ตอบเหมือน IPv4", "IPv6 answers like IPv4")
    v4s, v6s, dist = parity.get("status_v4"), parity.get("status_v6"), parity.get("distance")
    return "partial", T(f"IPv6 ตอบไม่เหมือน IPv4 (สถานะ {v4s} กับ {v6s}, ระยะต่าง {dist})",
                        f"IPv6 answers unlike IPv4 (status {v4s} vs {v6s}, distance {dist})")


@evaluator("website.policy_page", "websites")
@_web_check
def policy_page(ctx: Context, r: Reading, params: Mapping[str, Any]) -> Verdict:
    page = str(params.get("page", ""))
    entry = (web_info(r).get("policy_pages") or {}).get(page)
    if entry is None:
        return "fail", T(f"ไม่ได้ตั้งค่าหน้า {page} ของเว็บไซต์นี้ (policy_pages)",
                         f"no {page} page configured for this website (policy_pages)")
    where = entry.get("url", "")
    if entry.get("ok"):
        return "pass", T(f"{page} {where} แสดงข้อความที่กำหนด",
                         f"{page} {where} answers with the expected text")
    why = str(entry.get("message") or entry.get("reason") or "")
    if not why and entry.get("text_found") is False:
        return "fail", T(f"{page} {where}: ไม่พบข้อความที่กำหนด",
                         f"{page} {where}: expected text not found")
    return "fail", T(f"{page} {where}: {why}".rstrip(": "), f"{page} {where}: {why}".rstrip(": "))


# --- ITA disclosure pages (policies/ita.py fetches them) -------------------------------------

def _age(seconds: float) -> T:
    return T(f"{seconds / 86400:.0f} วัน", f"{seconds / 86400:.0f} days")


@evaluator("ita.page", "site")
def ita_page(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    item = str(params["item"])
    ita = ctx.config.policies.ita
    page = ita.pages.get(item)
    if page is None:
        return MANUAL, T(f"ยังไม่ได้กำหนด URL ของ {item} (policies.ita.pages)",
                         f"no URL configured for {item} (policies.ita.pages)")
    reading = ctx.readings.get(("ita", item))
    url = page.url
    if reading is None or reading.info.get("url") != url:
        return "error", T(f"ยังไม่ได้ดึงหน้า {url} (เอเจนต์ทำงานอยู่หรือไม่)",
                          f"{url} not fetched yet (is the agent running?)")
    info = reading.info
    if info.get("status") != 200:
        why = reading.message or reading.reason or f"HTTP {info.get('status')}"
        return "fail", T(f"{url}: {why}", f"{url}: {why}")
    if info.get("text_found") is False:
        heading = page.expect_text or params.get("heading") or ""
        return "fail", T(f"{url} ตอบ 200 แต่ไม่มีหัวข้อ {heading!r}",
                         f"{url} answers 200 without the heading {heading!r}")
    updated = info.get("updated_at")
    if updated is None:
        return "error", T(f"{url}: ไม่ทราบว่าปรับปรุงเมื่อใด", f"{url}: cannot tell when it was updated")
    max_age = page.max_age or ita.max_age
    age = ctx.now - float(updated)
    source = (T("Last-Modified", "Last-Modified") if info.get("updated_source") == "last_modified"
              else T("เนื้อหาไม่เปลี่ยนตั้งแต่ตรวจพบ", "content unchanged since"))
    old, limit, ago = _age(age), _age(max_age), _age(max(age, 0))
    if age > max_age:
        return "fail", T(f"{url}: ไม่ได้ปรับปรุงมา {old.th} ({source.th}) เกิน {limit.th}",
                         f"{url}: not updated for {old.en} ({source.en}), more than {limit.en}")
    return "pass", T(f"{url}: 200 พบหัวข้อ ปรับปรุงเมื่อ {ago.th} ที่แล้ว ({source.th})",
                     f"{url}: 200, heading found, updated {ago.en} ago ({source.en})")


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
        return "not-applicable", T(f"รับการเชื่อมต่อเฉพาะภายในเครื่อง ({config.listen})",
                                   f"listens on loopback only ({config.listen})")
    tls = config.web.tls_server_config is not None
    auth = bool(config.web.basic_auth_users)
    if tls and auth:
        return "pass", T(f"{config.listen}: ใช้ TLS และมีผู้ใช้ basic-auth",
                         f"{config.listen}: TLS and basic-auth users")
    missing = [what for what, ok in ((T("TLS", "TLS"), tls),
                                     (T("การยืนยันตัวตน", "authentication"), auth)) if not ok]
    status = "partial" if (tls or auth) else "fail"
    return status, T(f"{config.listen} เข้าถึงได้จากภายนอกเครื่องโดยไม่มี"
                     f"{' และ '.join(m.th for m in missing)}",
                     f"{config.listen} is reachable beyond loopback without "
                     f"{' and '.join(m.en for m in missing)}")


@evaluator("fleet.nut_secure", "site")
def nut_secure(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    remote = [u for u in ctx.config.ups or [] if u.nut is not None and not _loopback(u.nut.host)]
    if not remote:
        return "not-applicable", T("ไม่มี upsd ระยะไกล", "no remote upsd")
    bad: list[T] = []
    half = 0
    for ups in remote:
        assert ups.nut is not None
        auth = ups.nut.username is not None
        tls = ups.nut.tls is not None and ups.nut.tls.required
        if not (auth and tls):
            missing = [w for w, ok in ((T("การยืนยันตัวตน", "auth"), auth), (T("TLS", "TLS"), tls))
                       if not ok]
            bad.append(T(f"{ups.name} ไม่มี{' และ '.join(m.th for m in missing)}",
                         f"{ups.name} without {' and '.join(m.en for m in missing)}"))
            half += auth or tls
    if not bad:
        return "pass", T(f"upsd ระยะไกล {len(remote)} เครื่องใช้การยืนยันตัวตนและ TLS",
                         f"{len(remote)} remote upsd with auth and TLS")
    status = "partial" if half or len(bad) < len(remote) else "fail"
    return status, join(bad)


@evaluator("fleet.snmp_v3", "site")
def snmp_v3(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    targets = [u for u in ctx.config.ups or [] if u.snmp is not None]
    if not targets:
        return "not-applicable", T("ไม่มีอุปกรณ์ SNMP", "no SNMP targets")
    community = [u.name for u in targets if u.snmp and u.snmp.version != "3"]
    no_priv = [u.name for u in targets if u.snmp and u.snmp.version == "3" and u.snmp.priv is None]
    if not community and not no_priv:
        return "pass", T(f"อุปกรณ์ SNMP {len(targets)} เครื่องใช้ v3 authPriv",
                         f"{len(targets)} SNMP targets on v3 authPriv")
    parts = []
    if community:
        parts.append(T("ใช้ community string: " + ", ".join(community),
                       "community strings: " + ", ".join(community)))
    if no_priv:
        parts.append(T("v3 ไม่เข้ารหัส: " + ", ".join(no_priv),
                       "v3 without privacy: " + ", ".join(no_priv)))
    status = "fail" if len(community) == len(targets) else "partial"
    return status, join(parts)


@evaluator("fleet.ups", "site")
def ups_healthy(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    config = ctx.config
    server = config.host.enabled
    units = config.ups or []
    if not units:
        if server:
            return "fail", T("มีเครื่องแม่ข่ายที่ตรวจอยู่แต่ไม่ได้ตั้งค่า UPS",
                             "a server is monitored here but no UPS is configured")
        return "not-applicable", T("ไม่มีเครื่องแม่ข่ายและ UPS ที่ตรวจที่นี่",
                                   "no server and no UPS monitored here")
    problems: list[T] = []
    # each configured unit's readings, by the target name or the UPS name a reading carries
    # (one pass over the readings: 500 units against 500 readings was 250,000 look-ups)
    by_unit: dict[str, list[Reading]] = {}
    for (kind, _), r in ctx.readings.items():
        if kind in UPS_KINDS:
            names = {r.target}
            if r.info and (name := r.info.get("ups")):
                names.add(name)
            for name in names:
                by_unit.setdefault(name, []).append(r)
    for unit in units:
        readings = by_unit.get(unit.name, [])
        if not readings:
            problems.append(T(f"{unit.name}: ยังไม่มีผลการตรวจ", f"{unit.name}: no reading yet"))
            continue
        for r in readings:
            if not r.ok:
                problems.append(T(f"{r.target}: ไม่ตอบ ({r.reason})",
                                  f"{r.target}: not answering ({r.reason})"))
                continue
            info = ups_info(r)
            status = set(info["status"] or ()) if info else set()
            if "OL" not in status:
                flags = " ".join(sorted(status))
                problems.append(T(f"{r.target}: ไม่ได้ใช้ไฟฟ้าหลัก ({flags})",
                                  f"{r.target}: not on line power ({flags})"))
            if info and info["replace_needed"]:
                problems.append(T(f"{r.target}: แจ้งให้เปลี่ยนแบตเตอรี่",
                                  f"{r.target}: asks for a battery replacement"))
            if info and info["selftest_result"] == "failed":
                problems.append(T(f"{r.target}: ทดสอบตัวเองไม่ผ่าน", f"{r.target}: failed its self-test"))
    if not problems:
        return "pass", T(f"UPS {len(units)} เครื่องปกติ", f"{len(units)} UPS healthy")
    return "fail", join(problems)


# --- the standards audit (kind ``audit``; keys in ``upkeep.collectors.web_audit``) -------

def _audit_pages(ctx: Context, name: str) -> Mapping[str, Any] | Verdict:
    """The pages of the website's latest audit, or why there is nothing to judge: a
    missing, stale or failed audit is never a pass."""
    website = next((w for w in ctx.config.websites if w.name == name), None)
    if website is not None and not website.audit.enabled:
        return "error", T("ปิดการตรวจมาตรฐานของเว็บไซต์นี้ไว้ (websites[].audit)",
                          "the standards audit is off for this website (websites[].audit)")
    reading = ctx.readings.get(("audit", name))
    if reading is None:
        return "error", T("ยังไม่มีผลตรวจมาตรฐานของเว็บไซต์นี้ (เอเจนต์เปิด audit อยู่หรือไม่)",
                          "no audit of this website yet (is the agent running with audit: on?)")
    if not reading.info:
        why = f"{reading.reason} {reading.message}".strip()
        return "error", T(f"การตรวจมาตรฐานครั้งล่าสุดไม่สำเร็จ: {why}", f"the last audit failed: {why}")
    interval = website.audit.interval if website is not None else 86400.0
    age = ctx.now - float(reading.info["audited_at"])
    if age > 2 * interval + 3600:
        return "error", T(f"ผลตรวจมาตรฐานล่าสุดเก่า {age / 86400:.1f} วัน",
                          f"the latest audit is {age / 86400:.1f} days old")
    return reading.info["pages"]  # type: ignore[no-any-return]


def _audit_verdict(ctx: Context, name: str, part: str,
                   judge: Callable[[Mapping[str, Any]], T | None]) -> Verdict:
    pages = _audit_pages(ctx, name)
    if isinstance(pages, tuple):
        return pages
    failing: list[T] = []
    unknown: list[T] = []
    for page, result in pages.items():
        if result["reason"]:
            why = f"{result['reason']}: {result['message']}"
            unknown.append(T(f"{page}: ไม่ได้ตรวจ ({why})", f"{page}: not audited ({why})"))
        elif result[part].get("reason"):
            why = f"{result[part]['reason']}: {result[part]['message']}"
            unknown.append(T(f"{page}: ไม่มีผล ({why})", f"{page}: not available ({why})"))
        elif problem := judge(result[part]):
            failing.append(T(f"{page}: {problem.th}", f"{page}: {problem.en}"))
    if failing:
        return "fail", join(failing + unknown)
    if unknown:
        return "error", join(unknown)
    return "pass", T(f"ตรวจ {len(pages)} หน้า ไม่พบปัญหา", f"{len(pages)} page(s) audited, nothing found")


@evaluator("website.html_valid", "websites")
def html_valid(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    return _audit_verdict(ctx, subject, "html", lambda h: (
        T(f"ข้อผิดพลาด HTML {h['errors']} จุด (W3C Nu Html Checker)",
          f"{h['errors']} HTML error(s) (W3C Nu Html Checker)") if h["errors"] else None))


@evaluator("website.accessible", "websites")
def accessible(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    def judge(a: Mapping[str, Any]) -> T | None:
        ids = ", ".join(v["id"] for v in a["violations"])
        return T(f"ไม่เป็นไปตาม WCAG 2.1 A/AA: {ids}", f"WCAG 2.1 A/AA violations: {ids}") \
            if a["violations"] else None

    return _audit_verdict(ctx, subject, "accessibility", judge)


@evaluator("website.thai_language", "websites")
def thai_language(ctx: Context, subject: str, params: Mapping[str, Any]) -> Verdict:
    return _audit_verdict(ctx, subject, "thai", lambda t: (
        T(", ".join(t["problems"]), ", ".join(t["problems"])) if t["problems"] else None))
