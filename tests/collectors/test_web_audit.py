"""The website standards audit against real pages: vnu.jar in Java, axe-core in Chromium.

One HTTPS server on 127.0.0.1 (the rig's test PKI) serves pages with known defects, a clean
Thai page, and bad input (JSON, a wrong charset, a redirect loop, a huge page, a page that
drips, a page whose script loops). One audit over all of them runs once per module (one JVM
start, one browser); each test reads its page out of that result. The tools come from
scripts/install-test-deps (Debian's default-jre-headless and chromium, npm vnu-jar and
axe-core under /opt/upkeep-audit).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import IN_CI, need_binary
from tests.web_rig import Pki, Route, Server, WebRig
from upkeep.collectors.web_audit import AuditCollector, check_tools, findings
from upkeep.collectors.web_audit_parse import parse_axe, parse_vnu, thai_check
from upkeep.config import parse_config
from upkeep.config.audit import AuditToolsConfig
from upkeep.reading import Reading

pytestmark = pytest.mark.slow

BROKEN = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>ข่าวประชาสัมพันธ์</title></head>
<body>
<main>
<div id="dup"><p>ข่าวประชาสัมพันธ์</div>
<div id="dup">สองครั้ง</div>
<img src="/logo.png">
<form><input type="text" name="q"></form>
<section><span>ไม่ปิด
</main>
</body>
</html>
""".encode()

CLEAN = """<!DOCTYPE html>
<html lang="th">
<head><meta charset="utf-8"><title>สำนักงานกองทุนยุติธรรม</title></head>
<body>
<main>
<h1>ยินดีต้อนรับ</h1>
<p>บริการกองทุนยุติธรรม</p>
<form><label for="q">ค้นหา</label> <input id="q" type="text" name="q"></form>
</main>
</body>
</html>
""".encode()

HTML = ("content-type", "text/html; charset=utf-8")
LOOP = """<!DOCTYPE html><html lang="th"><head><meta charset="utf-8"><title>วน</title>
<script>while (true) {}</script></head><body><main><p>ไม่จบ</p></main></body></html>""".encode()
LATIN1 = b"""<!DOCTYPE html><html lang="th"><head><meta charset="utf-8"><title>x</title></head>
<body><main><p>caf\xe9</p></main></body></html>"""

TOOLS = AuditToolsConfig(page_timeout="8s", timeout="90s", max_page_bytes=64 * 1024)


def _raw(content_type: str, body: bytes) -> bytes:
    """An answer with exactly this Content-Type (the rig's routes always add text/html)."""
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: "
            f"{len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


def _routes() -> dict[str, Route]:
    return {
        "/broken": Route(headers=[HTML], body=BROKEN),
        "/clean": Route(headers=[HTML], body=CLEAN),
        "/data.json": Route(raw=_raw("application/json", b'{"a": 1}')),
        "/latin1": Route(raw=_raw("text/html; charset=iso-8859-1", LATIN1)),
        "/loop": Route(status=302, headers=[("location", "/loop2")], body=b""),
        "/loop2": Route(status=302, headers=[("location", "/loop")], body=b""),
        "/huge": Route(headers=[HTML], stream_bytes=10 * 1024 * 1024),
        "/drip": Route(headers=[HTML], body=CLEAN, drip=1.0),
        "/spin": Route(headers=[HTML], body=LOOP),
        "/fixable": Route(headers=[HTML], body=BROKEN),
    }


def need_tools(tools: AuditToolsConfig = TOOLS) -> None:
    need_binary("java")
    need_binary("chromium")
    missing = [n for n, t in check_tools(tools).items() if not t["ok"]]
    if missing:
        if IN_CI:
            pytest.fail(f"audit tools missing in CI: {missing} (scripts/install-test-deps)")
        pytest.skip(f"audit tools missing: {missing}")


@dataclass
class Env:
    pki: Pki
    rig: WebRig
    server: Server
    routes: dict[str, Route]

    def url(self, path: str) -> str:
        return self.server.url("127.0.0.1").rstrip("/") + path


def website(env: Env, home: str, *pages: str, **audit: Any) -> Any:
    config = parse_config(f"""
websites:
  - name: office
    url: {env.url(home)}
    timeout: 10s
    tls: {{ca_file: {env.pki.ca_file}}}
    audit: {{enabled: true, pages: {[env.url(p) for p in pages]}}}
""")
    site = config.websites[0]
    if audit:
        site = site.model_copy(update={"audit": site.audit.model_validate(
            {**site.audit.model_dump(), **audit})})
    return config, site


def run(collector: AuditCollector, site: Any, *, force: bool = True) -> Reading:
    return asyncio.run(collector.run(site, TOOLS.timeout, force=force))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    pki = Pki(tmp_path_factory.mktemp("pki"))
    routes = _routes()
    with WebRig() as rig:
        server = rig.https(pki.leaf("valid"), routes=routes, families=("ipv4",))
        yield Env(pki, rig, server, routes)


@pytest.fixture(scope="module")
def audited(env: Env) -> Reading:
    """One audit of every page: one JVM, one browser."""
    need_tools()
    config, site = website(env, "/broken", "/clean", "/data.json", "/latin1", "/loop",
                           "/huge", "/drip", "/spin")
    return run(AuditCollector(config.websites, config.resolver, TOOLS), site)


def page(reading: Reading, name: str) -> dict[str, Any]:
    return reading.info["pages"][name]  # type: ignore[no-any-return]


# page names: home=/broken, page2=/clean, page3=/data.json, page4=/latin1, page5=/loop,
# page6=/huge, page7=/drip, page8=/spin

def test_vnu_reports_the_known_defects_with_lines(audited: Reading) -> None:
    html = page(audited, "home")["html"]
    errors = {(m["line"], m["message"]) for m in html["messages"] if m["type"] == "error"}
    assert (7, "Duplicate ID “dup”.") in errors
    assert (8, "An “img” element must have an “alt” attribute, except under certain "
               "conditions. For details, consult guidance on providing text alternatives for "
               "images.") in errors
    assert (11, "End tag “main” seen, but there were open elements.") in errors
    assert (10, "Unclosed element “span”.") in errors
    assert any(m == "Unclosed element “section”." for _, m in errors), errors
    assert html["errors"] == len(errors) and html["errors"] >= 4
    warnings = [m["message"] for m in html["messages"] if m["type"] == "warning"]
    assert any("lang" in w for w in warnings), warnings


def test_axe_reports_the_known_violations(audited: Reading) -> None:
    axe = page(audited, "home")["accessibility"]
    ids = {v["id"] for v in axe["violations"]}
    assert {"image-alt", "label", "html-has-lang"} <= ids, ids
    image = next(v for v in axe["violations"] if v["id"] == "image-alt")
    assert image["impact"] == "critical" and image["nodes"][0]["target"] == "img"
    assert axe["impacts"]["critical"] >= 2 and axe["impacts"]["serious"] >= 1
    assert page(audited, "home")["thai"]["problems"] == ["lang_missing"]


def test_clean_thai_page_has_nothing(audited: Reading) -> None:
    clean = page(audited, "page2")
    assert clean["reason"] == ""
    assert clean["html"]["errors"] == 0, clean["html"]["messages"]
    assert clean["accessibility"]["violations"] == []
    assert clean["thai"] == {"ok": True, "problems": [], "lang": "th",
                             "charset": {"header": "utf-8", "meta": "utf-8"}, "thai_text": True}


def test_bad_input_gets_a_reason_per_page_and_others_are_audited(audited: Reading) -> None:
    assert page(audited, "page3")["reason"] == "not_html"
    assert "application/json" in page(audited, "page3")["message"]
    assert page(audited, "page5")["reason"] == "redirect_loop"
    assert page(audited, "page6")["reason"] == "body_too_large"
    assert page(audited, "page7")["reason"] == "http_timeout"
    latin = page(audited, "page4")
    assert latin["thai"]["problems"] == ["charset_not_utf8", "charset_mismatch", "not_utf8"]
    assert latin["html"]["reason"] == ""  # still checked by vnu
    assert audited.ok  # pages failing is a finding on them, not a dead audit


def test_script_loop_is_cut_off_and_the_pages_after_it_still_run(audited: Reading) -> None:
    spin = page(audited, "page8")
    assert spin["accessibility"]["reason"] == "audit_timeout"
    assert spin["html"]["reason"] == "" and spin["html"]["errors"] == 0
    assert audited.duration < TOOLS.timeout


def test_metrics(audited: Reading) -> None:
    got = {(s.metric, tuple(sorted(s.labels.items()))): s.value for s in audited.samples}
    assert got[("upkeep_website_html_errors", (("page", "home"), ("website", "office")))] >= 4
    assert got[("upkeep_website_html_errors", (("page", "page2"), ("website", "office")))] == 0
    assert got[("upkeep_website_accessibility_violations",
                (("impact", "critical"), ("page", "page2"), ("website", "office")))] == 0
    assert ("upkeep_website_audit_last_run_timestamp_seconds",
            (("website", "office"),)) in got
    # a page whose axe run was cut off exports no accessibility count (never a clean 0)
    assert not any(k[0] == "upkeep_website_accessibility_violations"
                   and ("page", "page8") in k[1] for k in got)
    assert audited.info["summary"]["th"].startswith("8 หน้า")


def test_missing_tools_are_not_available_never_clean(env: Env, tmp_path: Path) -> None:
    tools = TOOLS.model_copy(update={"java": str(tmp_path / "no-java"),
                                     "chromium": str(tmp_path / "no-chromium")})
    config, site = website(env, "/clean")
    reading = asyncio.run(AuditCollector(config.websites, config.resolver, tools)
                          .run(site, 30, force=True))
    home = page(reading, "home")
    assert home["html"]["reason"] == "tool_missing"
    assert "java" in home["html"]["message"]
    assert home["accessibility"]["reason"] == "tool_missing"
    assert not reading.ok and reading.reason == "tool_missing"
    assert not any(s.metric == "upkeep_website_html_errors" for s in reading.samples)
    assert any("not available" in f or "tool_missing" in f for f in findings(reading))
    assert check_tools(tools)["java"]["install"] == "apt-get install -y default-jre-headless"


def test_content_change_triggers_a_new_audit_and_the_control_flips(env: Env) -> None:
    from upkeep.policies.checklist import evaluate, load_catalogue

    need_tools()
    config, site = website(env, "/fixable", interval="1d", check_interval="1h")
    collector = AuditCollector(config.websites, config.resolver, TOOLS)
    catalogue = load_catalogue()

    async def twice() -> tuple[Reading, Reading, Reading]:
        first = await collector.run(site, TOOLS.timeout, force=False)
        same = await collector.run(site, TOOLS.timeout, force=False)  # unchanged: no audit
        env.routes["/fixable"] = Route(headers=[HTML], body=CLEAN)
        fixed = await collector.run(site, TOOLS.timeout, force=False)
        return first, same, fixed

    try:
        first, same, fixed = asyncio.run(twice())
    finally:
        env.routes["/fixable"] = Route(headers=[HTML], body=BROKEN)
    assert same.info["audited_at"] == first.info["audited_at"]
    assert fixed.info["audited_at"] > first.info["audited_at"]

    def statuses(reading: Reading) -> dict[str, str]:
        result = evaluate(catalogue, config, [reading], {}, reading.time)
        return {c: result.status_of(c) for c in ("WEB-W3C-01", "WEB-A11Y-01", "WEB-TH-01")}

    assert statuses(first) == {"WEB-W3C-01": "fail", "WEB-A11Y-01": "fail", "WEB-TH-01": "fail"}
    assert statuses(fixed) == {"WEB-W3C-01": "pass", "WEB-A11Y-01": "pass", "WEB-TH-01": "pass"}


# --- pure parsing ---------------------------------------------------------------------------

def test_parse_vnu_counts_errors_and_warnings_by_file() -> None:
    raw = ('{"messages": [{"type": "error", "url": "file:/tmp/x/page0.html", "lastLine": 3, '
           '"firstColumn": 1, "message": "Stray end tag “p”."}, {"type": "info", "subType": '
           '"warning", "url": "file:/tmp/x/page0.html", "lastLine": 1, "message": "w"}, '
           '{"type": "info", "url": "file:/tmp/x/page0.html", "message": "just info"}, '
           '{"type": "non-document-error", "url": "file:/tmp/x/page1.html", "message": "IO"}]}')
    got = parse_vnu(raw, {"page0.html": "home", "page1.html": "policy"})
    assert (got["home"].errors, got["home"].warnings) == (1, 1)
    assert got["home"].messages[0]["line"] == 3
    assert got["policy"].failure == "IO"
    with pytest.raises(ValueError):
        parse_vnu("Exception in thread main", {})


def test_parse_axe_and_thai_check() -> None:
    got = parse_axe({"violations": [{"id": "label", "impact": "critical", "help": "h",
                                     "helpUrl": "u", "tags": ["cat.forms", "wcag2a"],
                                     "nodes": [{"target": ["form", "input"], "html": "<input>"}]}]})
    assert got[0]["nodes"][0]["target"] == "form input" and got[0]["tags"] == ["wcag2a"]
    with pytest.raises(ValueError):
        parse_axe({"nope": 1})
    assert thai_check(b'<html lang="en"><p>\xe0\xb8\x81</p>', "text/html; charset=UTF-8",
                      thai=False)["problems"] == ["lang_not_th"]
    assert thai_check(b'<html lang="th-TH"><meta charset=utf8>', None,
                      thai=True)["problems"] == []
    assert thai_check(b"<html lang=th>", "text/html", thai=True)["problems"] == [
        "charset_missing"]
    assert os.path.basename(TOOLS.vnu_jar) == "vnu.jar"
