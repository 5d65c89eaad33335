"""Checklist evaluation from built readings: per-subject statuses, attestations, the ladder."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from upkeep.config import parse_config
from upkeep.errors import ConfigError, StoreError
from upkeep.kit.db import Database
from upkeep.kit.thai import BANGKOK
from upkeep.policies.attestations import AttestationError, AttestationLedger
from upkeep.policies.checklist import combine, evaluate, load_catalogue
from upkeep.reading import Reading

NOW = datetime(2025, 11, 20, 10, tzinfo=BANGKOK).timestamp()
DAY = 86400.0

CONFIG = parse_config("""
site: hq
websites:
  - {name: office, url: "https://www.example.go.th/"}
  - {name: legacy, url: "https://old.example.go.th/"}
""")


def good_web(**over: Any) -> dict[str, Any]:
    """A web reading's info shaped as ``upkeep.collectors.web`` documents it."""
    info: dict[str, Any] = {
        "url": "https://www.example.go.th/", "host": "www.example.go.th",
        "dns": {"literal": False, "counts": {"A": 1, "AAAA": 1}, "reason": "", "message": ""},
        "families": {"ipv4": {"up": True, "status": 200}, "ipv6": {"up": True, "status": 200}},
        "tls": {"verified": True, "problems": [], "not_after": NOW + 80 * DAY,
                "chain_earliest_expiry": NOW + 80 * DAY, "days_to_expiry": 80.0,
                "version": "TLS 1.3",
                "accepted": {"TLS 1.0": False, "TLS 1.1": False, "TLS 1.2": True,
                             "TLS 1.3": True}},
        "http": {"status": 200, "final_url": "https://www.example.go.th/",
                 "verified_https": True,
                 "redirect": {"ok": True, "http_answers": True, "location": "https://x/"},
                 "hsts": {"max_age": 31536000, "include_subdomains": False},
                 "headers_present": {"content-security-policy": True,
                                     "x-content-type-options": True, "x-frame-options": True,
                                     "referrer-policy": True,
                                     "strict-transport-security": True}},
        "ipv6_parity": {"ok": True, "status_v4": 200, "status_v6": 200, "distance": 0.0},
        "policy_pages": {"security_policy": {"ok": True, "url": "https://x/policy"},
                         "privacy_notice": {"ok": True, "url": "https://x/privacy"}},
    }
    for path, value in over.items():
        node = info
        parts = path.split("__")
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    return info


def web(name: str, **over: Any) -> Reading:
    return Reading("web", name, NOW - 30, True, info=good_web(**over))


def run(readings: list[Reading], attestations: dict | None = None, config=CONFIG,
        now: float = NOW):
    return evaluate(load_catalogue(config.policies.checklist), config, readings,
                    attestations or {}, now)


@pytest.mark.parametrize(("control", "over", "status", "detail"), [
    ("TLS-01", {}, "pass", "verified"),
    ("TLS-01", {"tls__verified": False, "tls__problems": ["expired"]}, "fail", "expired"),
    ("TLS-01", {"tls": None}, "fail", "without TLS"),
    ("TLS-02", {"tls__chain_earliest_expiry": NOW + 30 * DAY}, "fail", "30.0 days"),
    ("TLS-02", {"tls__chain_earliest_expiry": NOW + 30.5 * DAY}, "pass", "30.5 days"),
    ("TLS-02", {"tls__chain_earliest_expiry": NOW - DAY}, "fail", "expired"),
    ("TLS-03", {"tls__accepted__TLS 1.0": True}, "fail", "accepts TLS 1.0"),
    ("TLS-03", {"tls__accepted": {"TLS 1.2": True}}, "error", "not tested"),
    ("TLS-04", {"tls__version": "TLS 1.1"}, "fail", "TLS 1.1"),
    ("TLS-05", {"http__redirect": {"ok": False, "reason": "no_redirect"}}, "fail",
     "does not redirect"),
    ("TLS-05", {"http__redirect": None}, "not-applicable", "disabled"),
    # the collector's ok for "plain HTTP not served at all" is no evidence of a redirect
    ("TLS-05", {"http__redirect": {"ok": True, "http_answers": False, "reason":
                                   "connect_refused", "url": "http://www.example.go.th/"}},
     "fail", "(port 80) did not answer (every connection was refused)"),
    ("TLS-06", {"http__verified_https": False}, "fail", "did not come over verified https"),
    ("TLS-06", {"http__hsts__max_age": 15552000}, "partial", "below"),
    ("TLS-06", {"http__hsts": None}, "fail", "no valid Strict-Transport-Security"),
    ("WEB-HDR-01", {"http__headers_present": {"x-frame-options": True}}, "partial", "missing"),
    ("WEB-HDR-01", {"http__headers_present": {}}, "fail", "content-security-policy"),
    ("WEB-HDR-01", {"http": {"redirect": None}}, "error", "no HTTP answer"),
    ("WEB-IPV6-01", {"dns__counts__AAAA": 0}, "fail", "no AAAA"),
    ("WEB-IPV6-01", {"families__ipv6__up": False}, "fail", "does not answer"),
    ("WEB-IPV6-01", {"ipv6_parity__ok": False}, "partial", "unlike IPv4"),
    ("TLS-01", {"tls": {"accepted": {}}}, "fail", "without TLS"),
])
def test_website_controls_per_subject(control: str, over: dict[str, Any], status: str,
                                      detail: str) -> None:
    result = run([web("office", **over), web("legacy")])
    row = next(r for r in result.controls if r.control.id == control)
    subjects = {s.subject: s for s in row.subjects}
    assert subjects["office"].status == status
    assert detail in subjects["office"].detail
    assert subjects["legacy"].status == "pass"
    # one website failing while the other passes makes the control partly met
    assert row.status == ("pass" if status in ("pass", "not-applicable") else "partial")


def test_missing_reading_is_an_error_not_a_pass() -> None:
    result = run([web("office")])
    tls = next(r for r in result.controls if r.control.id == "TLS-01")
    assert {s.subject: s.status for s in tls.subjects} == {"office": "pass", "legacy": "error"}


def test_exempt_website_is_not_applicable() -> None:
    config = parse_config("""
site: hq
websites: [{name: office, url: "https://a.example/"}, {name: intra, url: "https://b.example/"}]
policies: {checklist: {exempt_websites: {intra: "intranet only, no IPv6"}}}
""")
    result = run([web("office")], config=config)
    assert result.status_of("WEB-IPV6-01") == "pass"
    row = next(r for r in result.controls if r.control.id == "WEB-IPV6-01")
    assert {s.subject: s.status for s in row.subjects}["intra"] == "not-applicable"


def test_combine() -> None:
    assert combine(["pass", "not-applicable"]) == "pass"
    assert combine(["not-applicable"]) == "not-applicable"
    assert combine(["pass", "fail"]) == "partial"
    assert combine(["fail", "error"]) == "fail"
    assert combine(["manual-pending", "expired"]) == "expired"


# --- fleet checks from config and UPS readings ---------------------------------------------

def test_fleet_controls_from_config() -> None:
    config = parse_config("""
site: branch-cm
listen: 0.0.0.0:10316
ups:
  - {name: a, snmp: {host: 127.0.0.1, version: "2c", community: public}}
  - {name: b, snmp: {host: 127.0.0.2, version: "3", user: u, auth: {password: secretsecret}}}
  - {name: c, nut: {host: 10.1.1.1, username: mon, password: pw}}
  - {name: d, nut: {host: 127.0.0.1}}
""")
    result = run([], config=config)
    by_id = {r.control.id: r for r in result.controls}
    assert by_id["SYS-TLS-01"].status == "fail"
    assert "without TLS and authentication" in by_id["SYS-TLS-01"].subjects[0].detail
    assert by_id["SYS-SNMP-01"].status == "partial"
    assert "community strings: a" in by_id["SYS-SNMP-01"].subjects[0].detail
    assert "v3 without privacy: b" in by_id["SYS-SNMP-01"].subjects[0].detail
    assert by_id["SYS-TLS-02"].status == "partial"  # c has auth but no TLS; d is local
    assert by_id["SYS-TLS-02"].subjects[0].detail == "c without TLS"
    assert by_id["PWR-UPS-01"].status == "fail"  # no readings yet


def test_ups_health() -> None:
    config = parse_config("site: hq\nups: [{name: ups1, nut: {host: 127.0.0.1}}]\n")

    def ups(ok: bool = True, **info: Any) -> Reading:
        base = {"ups": "ups1", "status": ["OL"], "replace_needed": False,
                "selftest_result": "passed"}
        return Reading("nut", "ups1", NOW, ok, reason="" if ok else "unreachable",
                       info={**base, **info} if ok else {})

    assert run([ups()], config=config).status_of("PWR-UPS-01") == "pass"
    for reading, words in ((ups(status=["OB", "DISCHRG"]), "not on line power"),
                           (ups(replace_needed=True), "battery replacement"),
                           (ups(selftest_result="failed"), "self-test"),
                           (ups(ok=False), "not answering")):
        result = run([reading], config=config)
        row = next(r for r in result.controls if r.control.id == "PWR-UPS-01")
        assert row.status == "fail" and words in row.subjects[0].detail


def test_agent_http_protected() -> None:
    config = parse_config("""
listen: "[::]:10316"
web:
  tls_server_config: {cert_file: /x.pem, key_file: /x.key}
  basic_auth_users: {admin: "$2b$10$abcdefghijklmnopqrstuuVn0wS3W1J8yYb3V4pX4lFJ6i6iVb5O."}
""")
    assert run([], config=config).status_of("SYS-TLS-01") == "pass"


# --- attestations ----------------------------------------------------------------------------

@pytest.fixture
def ledger(tmp_path: Path) -> AttestationLedger:
    db = Database(tmp_path / "upkeep.db")
    yield AttestationLedger(db, tmp_path / "evidence")
    db.close()


def test_attestation_evidence_is_copied_with_its_digest(ledger: AttestationLedger,
                                                        tmp_path: Path) -> None:
    doc = tmp_path / "นโยบาย.pdf"
    doc.write_bytes(b"%PDF-1.4 signed policy")
    item = ledger.attest("P11-WEB-02", by="สมชาย", valid_until=date(2026, 9, 30),
                         evidence=str(doc), note="ประกาศ ที่ 12/2568")
    import hashlib

    digest = hashlib.sha256(b"%PDF-1.4 signed policy").hexdigest()
    assert item.sha256 == digest
    stored = ledger.evidence_path(item)
    assert stored is not None and stored.read_bytes() == b"%PDF-1.4 signed policy"
    assert digest in stored.name
    url = ledger.attest("P11-WEB-03", by="x", valid_until=date(2026, 1, 1),
                        evidence="https://www.example.go.th/policy")
    assert (url.evidence_kind, url.sha256) == ("url", None)
    with pytest.raises(AttestationError, match="neither a readable file"):
        ledger.attest("P11-WEB-02", by="x", valid_until=date(2026, 1, 1),
                      evidence=str(tmp_path / "missing.pdf"))


def test_history_is_append_only(ledger: AttestationLedger) -> None:
    ledger.attest("P11-LAW-01", by="a", valid_until=date(2026, 1, 1), evidence="https://a/")
    with pytest.raises((StoreError, sqlite3.Error), match="append-only"), \
            ledger.db.transaction() as conn:
        conn.execute("UPDATE checklist_attestation SET valid_until = '2099-01-01'")
    with pytest.raises((StoreError, sqlite3.Error), match="append-only"), \
            ledger.db.transaction() as conn:
        conn.execute("DELETE FROM checklist_attestation")
    assert len(ledger.history()) == 1


def test_attestation_expires(ledger: AttestationLedger) -> None:
    ledger.attest("P11-LAW-01", by="a", valid_until=date(2025, 11, 30), evidence="https://a/",
                  at=NOW - DAY)
    latest = ledger.latest()
    assert run([], latest).status_of("P11-LAW-01") == "pass"
    # valid through 30 Nov (Bangkok) inclusive; expired on 1 Dec
    last_day = datetime(2025, 11, 30, 23, 59, tzinfo=BANGKOK).timestamp()
    assert run([], latest, now=last_day).status_of("P11-LAW-01") == "pass"
    first_after = datetime(2025, 12, 1, 0, 1, tzinfo=BANGKOK).timestamp()
    result = run([], latest, now=first_after)
    assert result.status_of("P11-LAW-01") == "expired"
    assert result.level == 0
    # a newer attestation supersedes; the old one stays in the history
    ledger.attest("P11-LAW-01", by="b", valid_until=date(2026, 11, 30), evidence="https://b/")
    assert run([], ledger.latest(), now=first_after).status_of("P11-LAW-01") == "pass"
    assert [a.by for a in ledger.history("P11-LAW-01")] == ["a", "b"]


def _attest_all(ledger: AttestationLedger, ids: list[str]) -> None:
    for cid in ids:
        ledger.attest(cid, by="it", valid_until=date(2026, 9, 30), evidence="https://e/")


def test_project11_ladder(ledger: AttestationLedger) -> None:
    config = parse_config("site: hq\nhost: {enabled: false}\n"
                          "websites: [{name: office, url: 'https://www.example.go.th/'}]\n")
    readings = [web("office")]
    assert run(readings, ledger.latest(), config).level == 0
    _attest_all(ledger, ["P11-LAW-01"])
    assert run(readings, ledger.latest(), config).level == 1
    _attest_all(ledger, ["P11-WEB-01", "P11-PRIV-01", "P11-WEB-02", "P11-PRIV-02"])
    assert run(readings, ledger.latest(), config).level == 3
    _attest_all(ledger, ["P11-WEB-03", "P11-PRIV-03", "P11-FUP-01"])
    result = run(readings, ledger.latest(), config)
    # the privacy notice still lacks its six PDPA s. 23 sub-checks: partly met, level stays 3
    assert result.status_of("P11-PRIV-03") == "partial"
    assert result.level == 3
    _attest_all(ledger, [f"P11-PRIV-03.{i}" for i in range(1, 7)])
    result = run(readings, ledger.latest(), config)
    assert result.status_of("P11-PRIV-03") == "pass"
    assert result.level == 5
    # a certificate near expiry drops step 5 only
    worse = run([web("office", tls__chain_earliest_expiry=NOW + 5 * DAY)], ledger.latest(),
                config)
    assert (worse.level, worse.levels[5]) == (4, "partial")
    assert worse.status_of("TLS-02") == "fail"


def test_hybrid_needs_both_parts(ledger: AttestationLedger) -> None:
    readings = [web("office", policy_pages={}), web("legacy")]
    wrong = run([web("office", policy_pages__security_policy={
        "ok": False, "url": "https://x/policy", "text_found": False})], {})
    row = next(r for r in wrong.controls if r.control.id == "P11-WEB-03")
    assert row.subjects[0].status == "fail"
    assert row.subjects[0].detail.startswith("security_policy https://x/policy: expected text")
    result = run(readings, {})
    row = next(r for r in result.controls if r.control.id == "P11-WEB-03")
    subjects = {s.subject: s for s in row.subjects}
    assert subjects["office"].status == "fail" and "no security_policy page" in \
        subjects["office"].detail
    assert subjects["legacy"].status == "manual-pending"
    _attest_all(ledger, ["P11-WEB-03"])
    result = run(readings, ledger.latest())
    row = next(r for r in result.controls if r.control.id == "P11-WEB-03")
    assert {s.subject: s.status for s in row.subjects} == {"office": "fail", "legacy": "pass"}


def test_catalogue_override(tmp_path: Path) -> None:
    office = tmp_path / "office.yml"
    office.write_text("""
version: jfo-1
controls:
  - id: JFO-ITA-01
    title: {th: เปิดเผยข้อมูล ITA, en: ITA disclosure items published}
    requirement: {en: O1-O33 published}
    source: {document: ITA, item: O1-O33, version: "2568"}
    check: manual
    review_days: 180
  - id: TLS-02
    title: {en: Certificate valid for more than 30 days}
    requirement: {en: stricter wording}
    source: {document: office, item: x, version: "1"}
    check: automated
    evaluator: website.cert_days
    subjects: websites
""", encoding="utf-8")
    config = parse_config(f"policies: {{checklist: {{catalogue: {office}, disable: [WEB-IPV6-01]}}}}")
    catalogue = load_catalogue(config.policies.checklist)
    ids = [c.id for c in catalogue.controls]
    assert "JFO-ITA-01" in ids and "WEB-IPV6-01" not in ids
    assert catalogue.get("TLS-02").requirement["en"] == "stricter wording"  # type: ignore[union-attr]
    assert catalogue.version == "2569.1+jfo-1"
    office.write_text("controls: [{id: X, title: {en: x}, requirement: {en: y}, check: magic}]")
    with pytest.raises(ConfigError, match="check must be one of"):
        load_catalogue(config.policies.checklist)
    office.write_text("controls: [{id: X, title: {en: SNMP v3, not community}, "
                      "requirement: {en: y}, check: manual}]")
    with pytest.raises(ConfigError, match="unexpected key.*not community.*quote"):
        load_catalogue(config.policies.checklist)


def test_shipped_catalogue_has_the_pdpa_items() -> None:
    catalogue = load_catalogue()
    kids = catalogue.children("P11-PRIV-03")
    assert [k.source["item"] for k in kids] == [f"มาตรา 23 ({i})" for i in range(1, 7)]
    assert all(k.check == "manual" for k in kids)
    for control in catalogue.controls:
        assert control.title["th"] and control.title["en"], control.id
    snmp = catalogue.get("SYS-SNMP-01")
    assert snmp is not None and snmp.title["en"] == "SNMP on version 3, not community strings"


def test_assessment_history_records_changes_only(tmp_path: Path) -> None:
    from upkeep.policies.checklist_history import AssessmentLedger

    db = Database(tmp_path / "upkeep.db")
    try:
        ledger = AssessmentLedger(db)
        first = run([web("office"), web("legacy")])
        assert ledger.record(first) > 0
        assert ledger.record(run([web("office"), web("legacy")], now=NOW + 60)) == 0
        worse = run([web("office", tls__chain_earliest_expiry=NOW + 5 * DAY), web("legacy")],
                    now=NOW + 120)
        assert ledger.record(worse) == 1  # only TLS-02 on office changed
        # a restarted agent continues from what is stored
        again = AssessmentLedger(db)
        assert again.record(worse) == 0
        rows = [(a.subject, a.status) for a in again.history("TLS-02")]
        assert rows == [("office", "pass"), ("legacy", "pass"), ("office", "fail")]
        with pytest.raises((StoreError, sqlite3.Error), match="append-only"), \
                db.transaction() as conn:
            conn.execute("DELETE FROM checklist_assessment")
        # nothing polled yet is not a finding
        assert not [a for a in again.history() if a.detail.startswith("no reading")]
        assert AssessmentLedger(db).record(run([])) >= 0
        assert not [a for a in AssessmentLedger(db).history() if "no reading" in a.detail]
    finally:
        db.close()
