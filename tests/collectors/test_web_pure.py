"""Pure parts of the website probe: certificate verdicts, header rules, parity, config."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
import trustme
from pydantic import ValidationError

from tests.web_rig import Pki
from upkeep.collectors.web_http import HttpResponse, body_distance, check_headers, parse_hsts
from upkeep.collectors.web_tls import assess_chain, hostname_matches, parse_cert
from upkeep.config.websites import ResolverConfig, WebsiteConfig

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def chain() -> list[bytes]:
    root = trustme.CA()
    leaf = root.create_child_ca().issue_cert("good.test", "*.good.test", "127.0.0.1",
                                                not_after=NOW + dt.timedelta(days=365))
    return [ssl.PEM_cert_to_DER_cert(p.bytes().decode()) for p in leaf.cert_chain_pems]


def test_hostname_rules_follow_openssl(chain: list[bytes]) -> None:
    leaf = parse_cert(chain[0])
    assert hostname_matches("good.test", leaf)
    assert hostname_matches("GOOD.test.", leaf)
    assert hostname_matches("www.good.test", leaf)
    assert not hostname_matches("a.b.good.test", leaf)  # one label only
    assert not hostname_matches("other.test", leaf)
    assert hostname_matches("127.0.0.1", leaf)
    assert not hostname_matches("::1", leaf)


def test_verify_codes_map_to_reasons(chain: list[bytes], tmp_path: Path) -> None:
    now = NOW.timestamp()
    # leaf alone naming its issuer in AIA caIssuers: the intermediate was not sent
    pem = Path(Pki(tmp_path).leaf("no_intermediate").chain_file).read_text()
    alone = [ssl.PEM_cert_to_DER_cert(pem)]
    assert parse_cert(alone[0]).ca_issuers == ("http://127.0.0.1:9/intermediate.crt",)
    facts = assess_chain(alone, "good.test", now, verified=False, verify_code=20)
    assert facts.problems == ["incomplete_chain"] and not facts.chain_complete
    # leaf alone, nothing names its issuer: OpenSSL says the same (20), but all we know
    # is that its issuer is not one we trust
    facts = assess_chain(chain[:1], "good.test", now, verified=False, verify_code=20)
    assert facts.problems == ["untrusted"] and not facts.chain_complete
    # full chain sent, root unknown: untrusted
    facts = assess_chain(chain, "good.test", now, verified=False, verify_code=20)
    assert facts.problems == ["untrusted"] and facts.chain_complete
    # OpenSSL said hostname mismatch: trusted chain, wrong name
    facts = assess_chain(chain, "other.test", now, verified=False, verify_code=62)
    assert facts.problems == ["hostname_mismatch"] and facts.trusted
    # our own date check finds expiry regardless of the verify code
    later = (NOW + dt.timedelta(days=3650)).timestamp()
    facts = assess_chain(chain, "other.test", later, verified=False, verify_code=62)
    assert facts.problems == ["expired", "hostname_mismatch"]
    ok = assess_chain(chain, "good.test", now, verified=True)
    assert ok.problems == [] and ok.trusted and ok.san_match
    assert ok.earliest_expiry == min(parse_cert(d).not_after for d in chain)


def test_hsts_and_security_headers() -> None:
    assert parse_hsts("max-age=31536000; includeSubDomains; preload") == {
        "max_age": 31536000, "include_subdomains": True, "preload": True,
        "raw": "max-age=31536000; includeSubDomains; preload"}
    assert parse_hsts('max-age="600"')["max_age"] == 600  # type: ignore[index]
    assert parse_hsts("includeSubDomains")["max_age"] is None  # type: ignore[index]
    response = HttpResponse(200, [("content-security-policy", "frame-ancestors 'none'"),
                                  ("strict-transport-security", "includeSubDomains")], b"")
    check = check_headers(response)
    assert check.present["x-frame-options"] is True  # via CSP frame-ancestors
    assert check.present["strict-transport-security"] is False  # no max-age: invalid
    assert check.present["referrer-policy"] is False


def test_body_distance_strips_nonces() -> None:
    page = b'<script nonce="abc">x()</script><p>hello world</p>' * 20
    other = page.replace(b'nonce="abc"', b'nonce="zzzzzzzz"')
    assert body_distance(page, other) == 0.0
    assert body_distance(page, b"<p>completely different</p>") > 0.5


def test_config_rules() -> None:
    with pytest.raises(ValidationError, match=r"timeout \(10s\) must be shorter than interval \(10s\)"):
        WebsiteConfig(name="x", url="https://a.test/", interval="10s", timeout="10s")
    with pytest.raises(ValidationError, match="only http:// and https://"):
        WebsiteConfig(name="x", url="ftp://a.test/")
    with pytest.raises(ValidationError, match="no host"):
        WebsiteConfig(name="x", url="https:///path")
    with pytest.raises(ValidationError, match="not an IP address"):
        ResolverConfig(nameservers=["dns.example"])
    assert WebsiteConfig(name="x", url="https://[::1]:8443/").expect.max_redirects == 5
