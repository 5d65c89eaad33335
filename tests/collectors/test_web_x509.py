"""The probe's own X.509 reader against ``cryptography`` (the reference, a test dependency).

Every certificate in the system's CA store (a few hundred real names: PrintableString,
UTF8String, BMPString, multi-valued and escaped attributes, old UTCTime and far GeneralizedTime
dates) and every kind the test PKI makes (intermediates, IP SANs, wildcards, AIA, self-signed)
must read to exactly the facts the agent exported when it parsed with ``cryptography``."""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
import warnings
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import AuthorityInformationAccessOID

from tests.support import IN_CI
from tests.web_rig import Pki
from upkeep.collectors import web_x509
from upkeep.collectors.web_tls import CertSummary, parse_cert

SYSTEM_STORE = Path("/etc/ssl/certs/ca-certificates.crt")


def reference(der: bytes) -> CertSummary:
    """What ``parse_cert`` returned while it was built on ``cryptography``."""
    with warnings.catch_warnings():  # a store may hold an old root with a negative serial
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return _reference(der)


def _reference(der: bytes) -> CertSummary:
    cert = x509.load_der_x509_certificate(der)
    dns_names: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName))
        ips = tuple(str(a) for a in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        pass
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ca_issuers = tuple(str(d.access_location.value) for d in aia
                           if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS)
    except x509.ExtensionNotFound:
        ca_issuers = ()
    serial = cert.serial_number
    return CertSummary(
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
        serial=format(serial, "x"), fingerprint_sha256=hashlib.sha256(der).hexdigest(),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        dns_names=dns_names, ip_addresses=ips, is_ca=is_ca,
        self_issued=cert.subject == cert.issuer, ca_issuers=ca_issuers)


def pem_blocks(text: str) -> list[bytes]:
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    return [ssl.PEM_cert_to_DER_cert(begin + block.split(begin, 1)[1] + end)
            for block in text.split(end) if begin in block]


def test_the_system_ca_store_reads_as_cryptography_reads_it() -> None:
    if not SYSTEM_STORE.exists():
        if IN_CI:
            pytest.fail(f"{SYSTEM_STORE} is missing: install ca-certificates")
        pytest.skip("no system CA store")
    certs = pem_blocks(SYSTEM_STORE.read_text())
    assert len(certs) >= 100
    for der in certs:
        assert parse_cert.__wrapped__(der) == reference(der)


def test_the_test_pki_reads_as_cryptography_reads_it(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    certs: list[bytes] = []
    for kind in ("valid", "expired", "soon", "not_yet_valid", "wrong_host", "no_intermediate",
                 "foreign_ca", "self_signed"):
        certs += pem_blocks(Path(pki.leaf(kind).chain_file).read_text())
    root = trustme.CA(organization_name="Justice Fund Office, กองทุนยุติธรรม + IT; <ops>")
    leaf = root.issue_cert("good.test", "*.good.test", "WWW.Good.Test.", "127.0.0.1", "::1",
                           common_name="#1 office ",
                           not_after=dt.datetime(2077, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    odd = pem_blocks(leaf.cert_chain_pems[0].bytes().decode())[0]
    for der in [*certs, odd, pem_blocks(root.cert_pem.bytes().decode())[0]]:
        assert parse_cert.__wrapped__(der) == reference(der)
    mine = parse_cert.__wrapped__(odd)
    assert mine.dns_names == ("good.test", "*.good.test", "www.good.test")
    assert mine.ip_addresses == ("127.0.0.1", "::1")
    assert mine.subject.startswith("CN=\\#1 office\\ ,")
    assert mine.not_after == dt.datetime(2077, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp()


def test_malformed_certificates_raise_value_error(tmp_path: Path) -> None:
    der = pem_blocks(Path(Pki(tmp_path).leaf("valid").chain_file).read_text())[0]
    for bad in (b"", b"\x30", der[:-1], der + b"\x00", b"\x30\x84\xff\xff\xff\xff",
                b"\x04" + der[1:], der[:40], b"\x30\x03\x02\x01\x01"):
        with pytest.raises(ValueError):
            web_x509.parse(bad)
