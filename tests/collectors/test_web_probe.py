"""Website probes against real loopback servers (127.0.0.1 and [::1]) and a real dnsmasq."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    IN_CI,
    AgentProcess,
    metric,
    need_binary,
    parse_metrics,
    run_cli,
    wait_for,
)
from tests.web_rig import GOOD_HEADERS, Dnsmasq, Pki, Route, Server, WebRig
from upkeep.collectors.web import WebCollector
from upkeep.config import parse_config
from upkeep.config.websites import ResolverConfig, WebsiteConfig
from upkeep.errors import ConfigError
from upkeep.reading import Reading

THAI_POLICY = "นโยบายการรักษาความมั่นคงปลอดภัยเว็บไซต์"


@dataclass
class Env:
    pki: Pki
    rig: WebRig
    dns: Dnsmasq
    servers: dict[str, Server]

    @property
    def resolver(self) -> ResolverConfig:
        return ResolverConfig(**self.dns.resolver("1s"))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    need_binary("dnsmasq")
    try:
        with socket.socket(socket.AF_INET6) as probe_v6:
            probe_v6.bind(("::1", 0))
    except OSError:  # blackbox_exporter's CI had to skip IPv6 too (CHANGELOG 0.26.0)
        if IN_CI:
            pytest.fail("IPv6 loopback (::1) is required in CI")
        pytest.skip("no IPv6 loopback")
    tmp = tmp_path_factory.mktemp("web")
    pki = Pki(tmp / "pki")
    with WebRig() as rig:
        s: dict[str, Server] = {}
        s["good"] = rig.https(pki.leaf("valid"), {
            "/": Route(headers=GOOD_HEADERS, body=b"<html>welcome</html>"),
            "/security": Route(body=f"<h1>{THAI_POLICY}</h1>".encode()),
        })
        s["plain"] = rig.https(pki.leaf("valid"))
        for kind in ("expired", "soon", "wrong_host", "self_signed", "no_intermediate",
                     "not_yet_valid", "foreign_ca"):
            s[kind] = rig.https(pki.leaf(kind))
        s["tls10"] = rig.https(pki.leaf("valid"), tls=("TLSv1", "TLSv1"))
        s["redirect"] = rig.http({"*": Route(301, [("Location", s["good"].url())])})
        s["no_redirect"] = rig.http({"*": Route(200)})
        s["mismatch"] = rig.https(pki.leaf("valid"), {"/": Route(body=b"v4 " * 400)},
                                  routes_v6={"/": Route(body=b"<p>something else on six</p>")})
        s["v4only_server"] = rig.https(pki.leaf("valid"), families=("ipv4",))
        s["tarpit"] = rig.tarpit()
        s["drip"] = rig.https(pki.leaf("valid"), {"/": Route(drip=1.0)})  # a byte a second
        s["huge"] = rig.https(pki.leaf("valid"), {"/": Route(stream_bytes=50 * 1024 * 1024)})
        s["badheader"] = rig.https(pki.leaf("valid"), {
            "/": Route(raw=b"HTTP/1.1 200 OK\r\nX-Bad\x01Name: y\r\nContent-Length: 2\r\n\r\nok")})
        s["chain"] = rig.https(pki.leaf("valid"), {f"/{i}": Route(302, [("Location", f"/{i + 1}")])
                                                   for i in range(5)})
        s["loop"] = rig.https(pki.leaf("valid"), {"/": Route(302, [("Location", "/a")]),
                                                  "/a": Route(302, [("Location", "/")])})
        records = {"good.test": ["127.0.0.1", "::1"], "dead6.test": ["127.0.0.1", "::1"],
                   "v4only.test": ["127.0.0.1"], "ns1.good.test": ["127.0.0.1", "::1"],
                   "ns2.good.test": ["127.0.0.1"]}
        ns = {"good.test": ["ns1.good.test", "ns2.good.test"]}
        with Dnsmasq(tmp / "dns", records, ns) as dns:
            yield Env(pki, rig, dns, s)


def site(env: Env, server: str, *, host: str = "good.test", path: str = "/",
         ca: bool = True, **extra: Any) -> WebsiteConfig:
    expect = {"http_port": env.servers["redirect"].port, **extra.pop("expect", {})}
    return WebsiteConfig(name=server, url=env.servers[server].url(host, path), expect=expect,
                         tls={"ca_file": env.pki.ca_file if ca else None}, **extra)


def probe(env: Env, *configs: WebsiteConfig) -> list[Reading]:
    collector = WebCollector(list(configs), env.resolver)

    async def run() -> list[Reading]:
        return list(await asyncio.gather(*(collector.probe(c, c.timeout) for c in configs)))

    readings = asyncio.run(run())
    for reading in readings:
        json.dumps(reading.to_json())  # info must stay plain JSON for the API and checklist
    return readings


def val(reading: Reading, name: str, **labels: str) -> float | None:
    labels.setdefault("website", reading.target)
    found = [s.value for s in reading.samples if s.metric == name and dict(s.labels) == labels]
    return found[0] if found else None


def series(reading: Reading, name: str) -> dict[str, float]:
    return {",".join(v for k, v in s.labels.items() if k != "website"): s.value
            for s in reading.samples if s.metric == name}


# --- healthy site, both families ------------------------------------------------------------

def test_valid_dual_stack_site_passes_every_check(env: Env) -> None:
    config = site(env, "good", policy_pages=[
        {"name": "security_policy", "url": env.servers["good"].url(path="/security"),
         "expect_text": THAI_POLICY},
        {"name": "privacy_notice", "url": env.servers["good"].url(path="/privacy"),
         "expect_text": "PDPA"}])
    (r,) = probe(env, config)
    assert r.ok, (r.reason, r.message)
    assert series(r, "upkeep_website_up") == {"ipv4": 1, "ipv6": 1}
    assert series(r, "upkeep_website_http_status_code") == {"ipv4": 200, "ipv6": 200}
    assert series(r, "upkeep_website_dns_records") == {"A": 1, "AAAA": 1}
    assert [a["address"] for a in r.info["addresses"]] == ["127.0.0.1", "::1"]
    assert val(r, "upkeep_tls_cert_valid") == 1
    assert set(series(r, "upkeep_tls_cert_problem").values()) == {0}
    assert len(series(r, "upkeep_tls_cert_problem")) == 6
    assert series(r, "upkeep_tls_version_info") == {"TLS 1.3": 1}
    assert series(r, "upkeep_tls_protocol_accepted") == {
        "TLS 1.0": 0, "TLS 1.1": 0, "TLS 1.2": 1, "TLS 1.3": 1}
    assert val(r, "upkeep_http_hsts_max_age_seconds") == 31536000
    assert set(series(r, "upkeep_http_security_header_present").values()) == {1}
    assert val(r, "upkeep_http_redirect_to_https") == 1
    assert val(r, "upkeep_website_ipv6_parity") == 1
    phases = series(r, "upkeep_website_http_duration_seconds")
    assert set(phases) == {"dns", "connect", "tls", "first_byte", "total"}
    assert 0 < phases["tls"] < phases["total"] and phases["dns"] > 0
    not_after = val(r, "upkeep_tls_cert_not_after_timestamp_seconds")
    assert not_after is not None and 360 < (not_after - time.time()) / 86400 < 366
    info = [s for s in r.samples if s.metric == "upkeep_tls_cert_info"]
    assert len(info) == 1 and len(info[0].labels["fingerprint_sha256"]) == 64
    assert series(r, "upkeep_website_policy_page_ok") == {"security_policy": 1,
                                                          "privacy_notice": 0}
    pages = r.info["policy_pages"]
    assert pages["security_policy"]["text_found"] is True
    assert pages["privacy_notice"]["status"] == 404
    assert pages["privacy_notice"]["reason"] == "http_status"
    summary = r.info["summary"]
    assert "127.0.0.1" in summary and "::1" in summary and "TLS 1.3" in summary
    assert "privacy_notice http_status" in summary and "cert 365 d left" in summary


def test_ip_literal_urls_skip_dns(env: Env) -> None:
    v4 = site(env, "good", host="127.0.0.1")
    v6 = WebsiteConfig(name="good6", url=env.servers["good"].url("::1"),
                       tls={"ca_file": env.pki.ca_file}, expect={"http_redirect": False})
    r4, r6 = probe(env, v4, v6)
    assert r4.ok and r6.ok, (r4.message, r6.message)
    assert series(r4, "upkeep_website_up") == {"ipv4": 1}
    assert series(r6, "upkeep_website_up") == {"ipv6": 1}
    assert series(r4, "upkeep_website_dns_records") == {}
    assert r6.info["dns"]["literal"] is True


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_ip_literal_url_needs_the_address_in_the_certificate(env: Env, address: str) -> None:
    """A URL by address is verified against the certificate's IP SANs (no SNI is sent): the
    wrong_host leaf names only other.test, so neither address may pass."""
    config = WebsiteConfig(name="bare", url=env.servers["wrong_host"].url(address),
                           tls={"ca_file": env.pki.ca_file}, expect={"http_redirect": False})
    (r,) = probe(env, config)
    assert not r.ok
    assert r.reason == "tls_hostname_mismatch", r.message
    assert r.info["tls"]["verified"] is False
    assert val(r, "upkeep_tls_cert_valid") == 0


# --- certificate problems, facts exported anyway --------------------------------------------

@pytest.mark.parametrize(("server", "ca", "problem"), [
    ("expired", True, "expired"),
    ("wrong_host", True, "hostname_mismatch"),
    ("self_signed", True, "self_signed"),
    ("no_intermediate", True, "incomplete_chain"),
    ("plain", False, "untrusted"),
    # a leaf alone from a CA the agent does not trust: nothing is missing, trust is
    ("foreign_ca", True, "untrusted"),
    ("not_yet_valid", True, "not_yet_valid"),
])
def test_certificate_problem_is_named_and_facts_still_exported(
        env: Env, server: str, ca: bool, problem: str) -> None:
    (r,) = probe(env, site(env, server, ca=ca))
    assert not r.ok
    assert r.reason == f"tls_{problem}", r.message
    assert series(r, "upkeep_website_up") == {"ipv4": 0, "ipv6": 0}
    assert val(r, "upkeep_tls_cert_valid") == 0
    problems = series(r, "upkeep_tls_cert_problem")
    assert {k for k, v in problems.items() if v} == {problem}
    assert val(r, "upkeep_tls_cert_not_after_timestamp_seconds") is not None
    assert val(r, "upkeep_tls_chain_earliest_expiry_timestamp_seconds") is not None
    # the HTTP answer over the unverified connection is still reported
    assert series(r, "upkeep_website_http_status_code") == {"ipv4": 200, "ipv6": 200}
    if problem == "expired":
        assert val(r, "upkeep_tls_cert_not_after_timestamp_seconds") < time.time()
        assert r.info["tls"]["days_to_expiry"] < 0
    if problem == "incomplete_chain":
        assert r.info["tls"]["chain_length"] == 1 and r.info["tls"]["chain_complete"] is False


def test_expiring_in_five_days_is_valid_with_its_date(env: Env) -> None:
    (r,) = probe(env, site(env, "soon"))
    assert r.ok, r.message
    days = (val(r, "upkeep_tls_cert_not_after_timestamp_seconds") - time.time()) / 86400
    assert 4.9 < days < 5.1
    assert "cert 5 d left" in r.info["summary"]


def test_self_signed_passes_when_configured_as_trusted(env: Env) -> None:
    config = WebsiteConfig(name="ss", url=env.servers["self_signed"].url(),
                           tls={"ca_file": env.pki.leaf("self_signed").chain_file},
                           expect={"http_redirect": False})
    (r,) = probe(env, config)
    assert r.ok, r.message
    assert val(r, "upkeep_tls_cert_valid") == 1


def test_tls10_only_server_is_detected_and_not_up(env: Env) -> None:
    (r,) = probe(env, site(env, "tls10", host="127.0.0.1"))
    assert not r.ok and r.reason == "tls_handshake"
    assert series(r, "upkeep_tls_protocol_accepted") == {
        "TLS 1.0": 1, "TLS 1.1": 0, "TLS 1.2": 0, "TLS 1.3": 0}
    # facts come from the legacy handshake
    assert series(r, "upkeep_tls_version_info") == {"TLS 1.0": 1}
    assert val(r, "upkeep_tls_cert_not_after_timestamp_seconds") is not None
    assert "accepts TLS 1.0" in r.info["summary"]


# --- HTTP hygiene ----------------------------------------------------------------------------

def test_missing_headers_and_no_redirect(env: Env) -> None:
    config = site(env, "plain", expect={"http_port": env.servers["no_redirect"].port})
    (r,) = probe(env, config)
    assert r.ok  # hygiene findings do not make the site down
    assert val(r, "upkeep_http_hsts_max_age_seconds") == 0
    assert set(series(r, "upkeep_http_security_header_present").values()) == {0}
    assert val(r, "upkeep_http_redirect_to_https") == 0
    assert r.info["http"]["redirect"]["reason"] == "no_redirect"


def test_versions_tried_separately_agree_with_the_inference(env: Env) -> None:
    inferred, separate = probe(env, site(env, "good"),
                               site(env, "good", expect={"tls_versions_separately": True}))
    assert series(separate, "upkeep_tls_protocol_accepted") == \
        series(inferred, "upkeep_tls_protocol_accepted") == {
            "TLS 1.0": 0, "TLS 1.1": 0, "TLS 1.2": 1, "TLS 1.3": 1}


def test_status_text_and_redirect_expectations(env: Env) -> None:
    readings = probe(
        env,
        site(env, "good", expect={"text": "welcome"}),
        site(env, "good", expect={"text": "not on the page"}),
        site(env, "good", expect={"status": [204]}),
        site(env, "chain", path="/0", expect={"status": [404]}),
        site(env, "chain", path="/0", expect={"max_redirects": 2}),
        site(env, "chain", path="/0", expect={"follow_redirects": False, "status": [302]}),
    )
    assert [(r.ok, r.reason) for r in readings] == [
        (True, ""), (False, "text_missing"), (False, "http_status"), (True, ""),
        (False, "too_many_redirects"), (True, "")]
    assert readings[3].info["addresses"][0]["redirects"] == 5


def test_plain_http_is_never_up_but_a_redirect_to_https_is(env: Env) -> None:
    plain = WebsiteConfig(name="plain-http", url=env.servers["no_redirect"].url(),
                          expect={"http_port": env.servers["no_redirect"].port})
    upgraded = WebsiteConfig(name="upgraded", url=env.servers["redirect"].url(),
                             tls={"ca_file": env.pki.ca_file},
                             expect={"http_port": env.servers["redirect"].port})
    r_plain, r_up = probe(env, plain, upgraded)
    assert not r_plain.ok and r_plain.reason == "no_tls"
    assert series(r_plain, "upkeep_website_up") == {"ipv4": 0, "ipv6": 0}
    assert series(r_plain, "upkeep_website_http_status_code") == {"ipv4": 200, "ipv6": 200}
    assert val(r_plain, "upkeep_http_redirect_to_https") == 0
    assert r_up.ok, r_up.message
    assert series(r_up, "upkeep_website_up") == {"ipv4": 1, "ipv6": 1}
    assert val(r_up, "upkeep_tls_cert_valid") == 1
    assert val(r_up, "upkeep_http_redirect_to_https") == 1


def test_ipv4_ipv6_content_mismatch(env: Env) -> None:
    (r,) = probe(env, site(env, "mismatch"))
    assert series(r, "upkeep_website_up") == {"ipv4": 1, "ipv6": 1}
    assert val(r, "upkeep_website_ipv6_parity") == 0
    assert r.info["ipv6_parity"]["distance"] > 0.1
    assert "v4/v6 differ" in r.info["summary"]


# --- DNS -------------------------------------------------------------------------------------

def test_aaaa_that_does_not_answer_is_a_finding(env: Env) -> None:
    (r,) = probe(env, site(env, "v4only_server", host="dead6.test"))
    assert series(r, "upkeep_website_dns_records") == {"A": 1, "AAAA": 1}
    assert series(r, "upkeep_website_up") == {"ipv4": 1, "ipv6": 0}, [(a["reason"], a["status"], a["message"]) for a in r.info["addresses"]]
    assert not r.ok and r.reason == "connect_refused"
    assert "ipv6 ::1" in r.message
    assert val(r, "upkeep_website_ipv6_parity") == 0


def test_name_servers_aaaa_counted_when_asked(env: Env) -> None:
    (r,) = probe(env, site(env, "good", expect={"ns_aaaa": True}))
    assert r.ok, r.message
    # ns1 has AAAA, ns2 has not
    assert series(r, "upkeep_website_dns_records") == {"A": 1, "AAAA": 1, "NS_AAAA": 1}


def test_name_without_aaaa_is_nodata_not_an_error(env: Env) -> None:
    (r,) = probe(env, site(env, "good", host="v4only.test"))
    assert r.ok, r.message
    assert series(r, "upkeep_website_dns_records") == {"A": 1, "AAAA": 0}
    assert series(r, "upkeep_website_up") == {"ipv4": 1}
    assert r.info["ipv6_parity"] is None


# --- bad input: bounded, each with its reason, nothing else stalled --------------------------

def test_bad_inputs_are_bounded_with_reasons(env: Env) -> None:
    bad = {
        "tarpit": (site(env, "tarpit", timeout="2s"), "tls_timeout"),
        "drip": (site(env, "drip", timeout="2s"), "http_timeout"),
        "huge": (site(env, "huge", timeout="5s"), "body_too_large"),
        "badheader": (site(env, "badheader", timeout="2s"), "http_protocol"),
        "loop": (site(env, "loop", timeout="2s"), "redirect_loop"),
        "slowdns": (site(env, "good", host="www.slow.test", timeout="2s"), "dns_timeout"),
        "servfail": (site(env, "good", host="www.servfail.test", timeout="2s"), "dns_servfail"),
        "nxdomain": (site(env, "good", host="nothing.test", timeout="2s"), "dns_nxdomain"),
    }
    good = site(env, "good", timeout="5s")
    started = time.monotonic()
    readings = probe(env, good, *(c for c, _ in bad.values()))
    elapsed = time.monotonic() - started
    # the good site finished well inside its own deadline although every bad one hung
    assert readings[0].ok and readings[0].duration < 3.0, readings[0].duration
    for (name, (_, reason)), reading in zip(bad.items(), readings[1:], strict=True):
        assert not reading.ok, name
        assert reading.reason == reason, (name, reading.reason, reading.message)
        assert reading.message, name
        assert reading.duration < 6.0, (name, reading.duration)
    assert elapsed < 8.0


def test_non_http_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("websites:\n  - {name: x, url: 'file:///etc/passwd'}\n")
    assert "only http:// and https://" in str(caught.value)
    with pytest.raises(ConfigError):
        parse_config("websites:\n  - {name: x, url: 'https://a.test/',"
                     " policy_pages: [{name: p, url: 'gopher://a.test/'}]}\n")


def test_upkeep_probe_cli_table(env: Env, tmp_path: Path) -> None:
    config = tmp_path / "upkeep.yml"
    config.write_text(
        f"host: {{enabled: false}}\nups: []\n"
        f"resolver: {{nameservers: [127.0.0.1], port: {env.dns.port}, timeout: 1s}}\n"
        f"websites:\n"
        f"  - {{name: office, url: '{env.servers['good'].url()}', tls: {{ca_file: '{env.pki.ca_file}'}},"
        f" expect: {{http_port: {env.servers['redirect'].port}}},"
        f" policy_pages: [{{name: privacy_notice, url: '{env.servers['good'].url(path='/p')}'}}]}}\n"
        f"  - {{name: old, url: '{env.servers['expired'].url()}', tls: {{ca_file: '{env.pki.ca_file}'}}}}\n",
        encoding="utf-8")
    result = run_cli("probe", "-c", str(config), timeout=60)
    assert result.returncode == 1, result.stderr  # one site is down
    lines = {line.split()[1]: line for line in result.stdout.splitlines()[1:]}
    assert "127.0.0.1, ::1 | TLS 1.3 | cert 365 d left" in lines["office"]
    assert "pages: privacy_notice http_status" in lines["office"]
    assert "DOWN (tls_expired)" in lines["old"] and "problems: expired" in lines["old"]


# --- through a running agent ------------------------------------------------------------------

def test_agent_exports_websites_and_serves_probe(env: Env, tmp_path: Path) -> None:
    good = env.servers["good"]
    config = {
        "host": {"enabled": False},
        "ups": [],  # works around collectors/snmp.py failing on ups: None (reported)
        "resolver": env.dns.resolver("1s"),
        "websites": [{"name": "office", "url": good.url(), "interval": "5s", "timeout": "4s",
                      "tls": {"ca_file": env.pki.ca_file},
                      "expect": {"http_port": env.servers["redirect"].port}}],
    }
    # the "system store" of the agent is our test root: SSL_CERT_FILE must be honoured
    agent = AgentProcess(tmp_path, config, env={"SSL_CERT_FILE": env.pki.ca_file})
    agent.start(wait=False)
    try:
        # generous: the shared CI machine can be slow to start a Python process
        wait_for(lambda: agent.get("/healthz").status_code == 200, timeout=60,
                 message=f"agent on {agent.url} (log: {agent.log_text()[-1000:]})")
        def exported() -> dict[Any, float] | None:
            m = parse_metrics(agent.metrics())
            return m if metric(m, "upkeep_website_up", website="office", family="ipv6") else None

        m = wait_for(exported, timeout=40, message="website metrics")
        assert metric(m, "upkeep_website_up", website="office", family="ipv4") == 1
        assert metric(m, "upkeep_tls_cert_valid", website="office") == 1
        assert metric(m, "upkeep_up", kind="web", target="office") == 1

        target = good.url("127.0.0.1")
        response = agent.get("/probe", params={"target": target, "module": "https_full"})
        assert response.status_code == 200, response.text
        p = parse_metrics(response.text)
        assert metric(p, "upkeep_website_up", website=target, family="ipv4") == 1
        assert metric(p, "upkeep_tls_protocol_accepted", website=target, version="TLS 1.3") == 1
        assert metric(p, "upkeep_up", kind="web", target=target) == 1
        assert not [k for k in p if k[0] == "upkeep_poll_error"]

        # module = a configured website: its CA file and expectations
        expired = env.servers["expired"].url()
        p = parse_metrics(agent.get("/probe", params={"target": expired, "module": "office"}).text)
        assert metric(p, "upkeep_tls_cert_problem", website=expired, reason="expired") == 1
        assert metric(p, "upkeep_up", kind="web", target=expired) == 0
        # the failure reason, as /metrics gives it for polled targets (blackbox users read
        # it from the debug log); only the reason of this probe
        assert metric(p, "upkeep_poll_error", kind="web", target=expired,
                      reason="tls_expired") == 1
        assert sum(1 for (name, _), _v in p.items() if name == "upkeep_poll_error") == 1

        for params in ({"target": "file:///etc/passwd"}, {"target": "gopher://127.0.0.1/"},
                       {"target": target, "module": "nope"}, {}):
            assert agent.get("/probe", params=params).status_code == 400, params
    finally:
        agent.stop()
