"""Slow facts keep a slow schedule: one connection per address family in steady state.

A real HTTPS server on 127.0.0.1 and [::1] (its certificate swappable in place), a real
plain-HTTP server redirecting to it, and a real dnsmasq naming both addresses. The first
poll checks everything (TLS version matrix, http:// redirect, NS AAAA, policy page); the
next polls reuse those facts and open exactly one connection per family; a new certificate
on the same port makes the very next poll check them again; a tiny ``slow_checks_interval`` keeps
the old check-everything-every-poll behaviour.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import gc
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import IN_CI, need_binary
from tests.web_rig import GOOD_HEADERS, Dnsmasq, Pki, Route, Server, WebRig, server_context
from upkeep.collectors import web_http
from upkeep.collectors.web import WebCollector
from upkeep.config.websites import ResolverConfig, WebsiteConfig
from upkeep.reading import Reading

POLICY_TEXT = "นโยบายการคุ้มครองข้อมูลส่วนบุคคล"


@dataclass
class Env:
    pki: Pki
    rig: WebRig
    dns: Dnsmasq
    https: Server
    http: Server
    context: Any


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    need_binary("dnsmasq")
    try:
        with socket.socket(socket.AF_INET6) as probe_v6:
            probe_v6.bind(("::1", 0))
    except OSError:
        if IN_CI:
            pytest.fail("IPv6 loopback (::1) is required in CI")
        pytest.skip("no IPv6 loopback")
    pki = Pki(tmp_path / "pki")
    context = server_context(pki.leaf("valid"))
    with WebRig() as rig:
        https = rig.https(pki.leaf("valid"), {
            "/": Route(headers=GOOD_HEADERS, body=b"<html>welcome</html>"),
            "/privacy": Route(body=f"<h1>{POLICY_TEXT}</h1>".encode()),
        }, context=context)
        http = rig.http({"*": Route(to_https_port=https.port)})
        records = {"good.test": ["127.0.0.1", "::1"], "ns1.good.test": ["127.0.0.1", "::1"]}
        with Dnsmasq(tmp_path / "dns", records, {"good.test": ["ns1.good.test"]}) as dns:
            yield Env(pki, rig, dns, https, http, context)


def site(env: Env, **expect: Any) -> WebsiteConfig:
    return WebsiteConfig(
        name="office", url=env.https.url("good.test"), tls={"ca_file": env.pki.ca_file},
        expect={"http_port": env.http.port, "ns_aaaa": True, **expect},
        policy_pages=[{"name": "privacy_notice", "url": env.https.url("good.test", "/privacy"),
                       "expect_text": POLICY_TEXT}])


def polls(env: Env, config: WebsiteConfig, count: int,
          between: Any = None) -> list[tuple[Reading, int, int]]:
    """``count`` polls by one collector; after each, the connections both servers saw."""
    collector = WebCollector([config], ResolverConfig(**env.dns.resolver("1s")))

    async def run() -> list[tuple[Reading, int, int]]:
        out = []
        for i in range(count):
            if between is not None and i:
                between(i)
            reading = await collector.probe(config, 10.0)
            out.append((reading, env.https.requests, env.http.requests))
        return out

    return asyncio.run(run())


def checked(reading: Reading) -> dict[str, float]:
    return dict(reading.info["checked_at"])


def test_steady_state_is_one_connection_per_family_and_reuses_slow_facts(env: Env) -> None:
    (first, https1, http1), (second, https2, http2), (third, https3, http3) = polls(
        env, site(env), 3)
    for reading in (first, second, third):
        assert reading.ok, reading.message
        assert reading.info["tls"]["accepted"] == {"TLS 1.0": False, "TLS 1.1": False,
                                                   "TLS 1.2": True, "TLS 1.3": True}
        assert reading.info["http"]["redirect"]["ok"] is True
        assert reading.info["policy_pages"]["privacy_notice"]["ok"] is True
        assert reading.info["dns"]["counts"]["NS_AAAA"] == 1
    assert set(checked(first)) == {"tls_versions", "http_redirect", "ns_aaaa", "policy_pages"}
    assert checked(second) == checked(first) == checked(third)
    # the first poll: both families, the policy page, the redirect check on plain HTTP
    assert https1 >= 3 and http1 == 1
    # then one connection per family, nothing else
    assert (https2 - https1, http2 - http1) == (2, 0)
    assert (https3 - https2, http3 - http2) == (2, 0)
    samples = {(s.metric, tuple(sorted(s.labels.items()))): s.value for s in second.samples}
    assert samples[("upkeep_website_check_timestamp_seconds",
                    (("check", "tls_versions"), ("website", "office")))] == \
        checked(first)["tls_versions"]


def test_a_new_certificate_rechecks_the_slow_facts_at_once(env: Env) -> None:
    def swap(i: int) -> None:
        if i == 2:  # same port, same names, another key and certificate
            leaf = env.pki.leaf("soon")
            env.context.load_cert_chain(leaf.chain_file, leaf.key_file)

    (first, _, _), (second, https2, http2), (third, https3, http3) = polls(
        env, site(env), 3, between=swap)
    assert checked(second) == checked(first)
    assert third.info["tls"]["fingerprint_sha256"] != second.info["tls"]["fingerprint_sha256"]
    for check in ("tls_versions", "http_redirect", "policy_pages"):
        assert checked(third)[check] > checked(second)[check], check
    assert https3 - https2 >= 3 and http3 - http2 == 1


def test_a_tiny_interval_checks_everything_on_every_poll(env: Env) -> None:
    (first, https1, http1), (second, https2, http2) = polls(
        env, site(env, slow_checks_interval="1ms"), 2)
    assert checked(second)["tls_versions"] > checked(first)["tls_versions"]
    assert https2 - https1 >= 3 and http2 - http1 == 1


def test_facts_checked_while_the_site_was_down_are_checked_again(env: Env) -> None:
    # a wrong expected status: the site is down, so nothing it showed is kept for a day
    (first, _, _), (second, _, _) = polls(env, site(env, status=[418]), 2)
    assert not first.ok and first.reason == "http_status"
    assert checked(second)["tls_versions"] > checked(first)["tls_versions"]


@pytest.mark.parametrize("certificate", ["valid", "expired"])
def test_failed_handshakes_leave_no_tls_buffers_for_the_garbage_collector(
        env: Env, certificate: str) -> None:
    """A failed handshake must free its connection at once, not at the next full collection:
    the matrix is refused TLS 1.0 and 1.1 at every site, and a certificate that does not
    verify fails the first handshake of every poll of that site. (With asyncio's TLS
    protocol, a 256 KiB buffer each, that was ~17 MiB of a 34-site agent after one cycle.)"""
    if certificate != "valid":
        leaf = env.pki.leaf(certificate)
        env.context.load_cert_chain(leaf.chain_file, leaf.key_file)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        readings = polls(env, site(env), 2)
        gc.collect()
        left = [o for o in gc.garbage
                if isinstance(o, web_http.Exchange)
                or isinstance(o, ssl.SSLObject) and not o.server_side
                or isinstance(o, asyncio.sslproto.SSLProtocol) and not o._server_side]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    for reading, _, _ in readings:
        assert reading.info["tls"]["accepted"]["TLS 1.1"] is False
        if certificate == "valid":
            assert reading.ok, reading.message
        else:
            assert reading.reason == "tls_expired", reading.message
    assert left == []
