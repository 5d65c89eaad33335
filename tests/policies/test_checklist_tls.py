"""Automated checklist controls flip when a real local TLS site changes its certificate.

A real HTTPS server (tests/web_rig.py: test PKI, 127.0.0.1) probed by the real web collector;
the checklist is judged from those readings, in process and inside a running agent
(``upkeep_checklist_control_status`` on /metrics, attestations through the API).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port, metric, parse_metrics, run_cli, running_agent, wait_for
from tests.web_rig import GOOD_HEADERS, Leaf, Pki, Route, Server, WebRig
from upkeep.agents.runtime import poll_target
from upkeep.collectors.base import build_collectors
from upkeep.config import Config, parse_config
from upkeep.policies.checklist import ChecklistResult, evaluate, load_catalogue
from upkeep.reading import Reading

TOKEN = "checklist-test-token-0123456789"
POLICY_TEXT = "นโยบายการรักษาความมั่นคงปลอดภัยเว็บไซต์"


class Site:
    def __init__(self, rig: WebRig, pki: Pki) -> None:
        self.rig, self.pki = rig, pki
        pages = {"/": Route(headers=GOOD_HEADERS),
                 "/policy": Route(headers=GOOD_HEADERS,
                                  body=f"<html><body>{POLICY_TEXT}</body></html>".encode()),
                 "/privacy": Route(headers=GOOD_HEADERS, body=b"<html>nothing yet</html>")}
        self.https: Server = rig.https(pki.leaf("valid"), routes=pages, families=("ipv4",))
        self.http: Server = rig.http({"*": Route(to_https_port=self.https.port)},
                                     families=("ipv4",))
        self.legacy: Server = rig.https(pki.leaf("valid"), routes={"/": Route()},
                                        families=("ipv4",), tls=("TLSv1", "TLSv1"))

    def use(self, kind: str) -> None:
        """Serve another certificate on the same port: new handshakes get it."""
        leaf: Leaf = self.pki.leaf(kind)
        for server in self.https.servers:
            # asyncio keeps the server's SSLContext; loading a chain into it affects every
            # later handshake (the rig has no public swap; see the report)
            server._ssl_context.load_cert_chain(leaf.chain_file, leaf.key_file)  # type: ignore[attr-defined]

    def websites(self) -> list[dict[str, Any]]:
        base = f"https://127.0.0.1:{self.https.port}"
        return [
            {"name": "office", "url": f"{base}/", "tls": {"ca_file": self.pki.ca_file},
             "interval": "2s", "timeout": "1500ms",
             "expect": {"http_port": self.http.port},
             "policy_pages": [
                 {"name": "security_policy", "url": f"{base}/policy", "expect_text": POLICY_TEXT},
                 {"name": "privacy_notice", "url": f"{base}/privacy",
                  "expect_text": "ข้อมูลส่วนบุคคล"}]},
            {"name": "legacy", "url": f"https://127.0.0.1:{self.legacy.port}/",
             "tls": {"ca_file": self.pki.ca_file}, "interval": "2s", "timeout": "1500ms",
             "expect": {"http_redirect": False}},
        ]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    pki = Pki(tmp_path_factory.mktemp("pki"))
    with WebRig() as rig:
        yield Site(rig, pki)


def _config(site: Site, **extra: Any) -> Config:
    import yaml

    return parse_config(yaml.safe_dump({"site": "hq", "host": {"enabled": False}, "ups": [],
                                        "websites": site.websites(), **extra}))


def _judge(config: Config) -> ChecklistResult:
    async def poll() -> list[Reading]:
        collectors = [c for c in build_collectors(config) if c.kind == "web"]
        try:
            out: list[Reading] = []
            for collector in collectors:
                for target in collector.targets():
                    out.extend(await poll_target(collector, target))
            return out
        finally:
            for collector in collectors:
                await collector.aclose()

    readings = asyncio.run(poll())
    return evaluate(load_catalogue(), config, readings, {}, time.time())


def _subject(result: ChecklistResult, control: str, subject: str) -> tuple[str, str]:
    row = next(r for r in result.controls if r.control.id == control)
    found = next(s for s in row.subjects if s.subject == subject)
    return found.status, found.detail


def test_controls_follow_the_certificate(site: Site) -> None:
    config = _config(site)
    site.use("valid")
    result = _judge(config)
    for control in ("TLS-01", "TLS-02", "TLS-03", "TLS-04", "TLS-05", "TLS-06", "WEB-HDR-01"):
        assert _subject(result, control, "office")[0] == "pass", (control, _subject(
            result, control, "office"))
    assert _subject(result, "P11-WEB-03", "office")[0] == "manual-pending"  # page ok, no attest
    status, detail = _subject(result, "P11-PRIV-03", "office")
    assert status == "fail" and "privacy_notice" in detail
    # the TLS 1.0-only server: the old protocol is accepted and nothing modern is used
    assert _subject(result, "TLS-03", "legacy") == ("fail", "accepts TLS 1.0")
    assert _subject(result, "TLS-04", "legacy")[0] == "fail"
    assert _subject(result, "TLS-05", "legacy")[0] == "not-applicable"

    site.use("soon")
    result = _judge(config)
    assert _subject(result, "TLS-01", "office")[0] == "pass"
    status, detail = _subject(result, "TLS-02", "office")
    assert status == "fail" and ("only 4." in detail or "only 5." in detail), detail

    site.use("expired")
    result = _judge(config)
    status, detail = _subject(result, "TLS-01", "office")
    assert status == "fail" and "expired" in detail
    assert _subject(result, "TLS-02", "office") == ("fail", "the certificate has expired")

    site.use("wrong_host")
    status, detail = _subject(_judge(config), "TLS-01", "office")
    assert status == "fail" and "hostname_mismatch" in detail

    site.use("valid")
    result = _judge(config)
    assert _subject(result, "TLS-01", "office")[0] == "pass"
    assert _subject(result, "TLS-02", "office")[0] == "pass"


def test_controls_pass_only_on_positive_evidence(site: Site) -> None:
    """Port 80 refusing every connection is no redirect; HSTS over TLS that does not verify
    is ignored by browsers (RFC 6797 s. 8.1), so neither may pass."""
    site.use("valid")
    websites = site.websites()[:1]
    closed = free_port()  # nothing listens there: every connection is refused
    websites[0]["expect"] = {"http_port": closed}
    untrusted = {**site.websites()[0], "name": "untrusted", "tls": {"ca_file": None},
                 "policy_pages": []}
    config = _config(site, websites=[*websites, untrusted])
    result = _judge(config)
    status, detail = _subject(result, "TLS-05", "office")
    assert status == "fail", detail
    assert f"port {closed}" in detail and "refused" in detail, detail
    assert _subject(result, "TLS-06", "office")[0] == "pass"  # HSTS over verified https
    status, detail = _subject(result, "TLS-06", "untrusted")
    assert status == "fail" and "verified" in detail, detail
    # the redirect itself is there on the untrusted site (its http port answers 301)
    assert _subject(result, "TLS-05", "untrusted")[0] == "pass"


def test_agent_exports_and_attests(site: Site, tmp_path: Path) -> None:

    site.use("valid")
    config = {"site": "hq", "host": {"enabled": False}, "ups": [], "websites": site.websites(),
              "web": {"api_token": TOKEN}}
    with running_agent(tmp_path, config) as agent:
        def status_of(control: str, status: str) -> float | None:
            return metric(parse_metrics(agent.metrics()), "upkeep_checklist_control_status",
                          control=control, status=status)

        wait_for(lambda: status_of("TLS-02", "pass") == 1, timeout=20,
                 message="TLS-02 pass on /metrics")
        assert status_of("TLS-02", "fail") == 0
        assert metric(parse_metrics(agent.metrics()), "upkeep_checklist_level") == 0
        site.use("soon")
        # one website of two fails: the control is partly met
        wait_for(lambda: status_of("TLS-02", "partial") == 1, timeout=20,
                 message="TLS-02 partial after the certificate changed")
        assert status_of("TLS-02", "pass") == 0
        # the API shows the same, per subject
        body = agent.get("/api/v1/checklist").json()
        tls02 = next(c for c in body["controls"] if c["id"] == "TLS-02")
        assert {s["subject"]: s["status"] for s in tls02["subjects"]} == {
            "office": "fail", "legacy": "pass"}
        site.use("valid")
        wait_for(lambda: status_of("TLS-02", "pass") == 1, timeout=20,
                 message="TLS-02 pass again")
        changes = agent.get("/api/v1/checklist/history", params={"control": "TLS-02"}).json()
        assert [a["status"] for a in changes["assessments"] if a["subject"] == "office"] == [
            "pass", "fail", "pass"]

        # attesting needs the token: none -> 401, a wrong one -> 403
        payload = {"control": "P11-LAW-01", "by": "สมชาย ใจดี", "valid_until": "2099-09-30",
                   "evidence_base64": base64.b64encode(b"%PDF memo").decode(),
                   "evidence_name": "memo.pdf", "note": "บันทึกข้อความ ที่ 1/2569"}
        url = f"{agent.url}/api/v1/checklist/attest"
        assert httpx.post(url, json=payload, timeout=10).status_code == 401
        assert httpx.post(url, json=payload, timeout=10,
                          headers={"Authorization": "Bearer wrong-token-000000000"}
                          ).status_code == 403
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for bad in ({"valid_until": "2020-01-01"}, {"subject": "nosuchsite"},
                    {"control": "NOPE"}, {"evidence_url": "https://x/"}):
            refused = httpx.post(url, json={**payload, **bad}, headers=auth, timeout=10)
            assert refused.status_code in (404, 422), (bad, refused.text)
        # an automated control's status comes from readings: attesting it is refused
        refused = httpx.post(url, json={**payload, "control": "TLS-02"}, headers=auth,
                             timeout=10)
        assert refused.status_code == 422, refused.text
        assert "TLS-02 is an automated control" in refused.json()["detail"]
        ok = httpx.post(url, json=payload, timeout=10,
                        headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 201, ok.text
        import hashlib

        assert ok.json()["sha256"] == hashlib.sha256(b"%PDF memo").hexdigest()
        wait_for(lambda: metric(parse_metrics(agent.metrics()), "upkeep_checklist_level") == 1,
                 timeout=10, message="level 1 after attesting the laws")
        # valid through 30 Sep 2099 in Bangkok: it stops counting at 1 Oct 00:00 ICT
        assert metric(parse_metrics(agent.metrics()),
                      "upkeep_checklist_attestation_valid_until_timestamp_seconds",
                      control="P11-LAW-01", subject="") == 4094470800.0
        history = agent.get("/api/v1/checklist/attestations").json()["attestations"]
        assert [(a["control"], a["by"], a["evidence_name"]) for a in history] == [
            ("P11-LAW-01", "สมชาย ใจดี", "memo.pdf")]
        # `upkeep checklist` judges from the running agent's readings (no probing of its own)
        shown = run_cli("checklist", "-c", str(agent.config_path), "--json")
        body = json.loads(shown.stdout)
        assert body["readings_problem"] is None, shown.stderr
        tls01 = next(c for c in body["controls"] if c["id"] == "TLS-01")
        subjects = {s["subject"]: (s["status"], s["detail"]) for s in tls01["subjects"]}
        assert subjects["office"] == ("pass", "certificate verified")
        assert subjects["legacy"][0] == "fail", subjects
        assert body["project11_level"] == 1
        assert TOKEN not in agent.metrics() and TOKEN not in agent.log_text()
        assert TOKEN not in shown.stdout + shown.stderr
