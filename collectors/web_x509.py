"""Just enough X.509 for the website probe: the fields of a served certificate, from DER.

Why not ``cryptography``: importing ``cryptography.x509`` adds ~9 MiB to the agent's
resident memory (its Rust extension and the modules around it), a seventh of a whole site
agent's budget (issue 17), to read a dozen fields. The certificate was already parsed by
OpenSSL during the handshake; here we only read what we report, strictly:

- names as RFC 4514 strings, spelled as ``cryptography`` spells them (``CN``, ``L``, ``ST``,
  ``O``, ``OU``, ``C``, ``STREET``, ``DC``, ``UID``, other types as dotted OIDs; the same
  escaping), so labels and stored facts do not change with the parser;
- serial number, validity, subjectAltName (DNS names, IP addresses), basicConstraints cA,
  and the authorityInformationAccess caIssuers URIs.

Anything malformed (a length past the end, a wrong tag, a bad time) raises ``ValueError``.
Equivalence with ``cryptography`` over the system's CA store and the test PKI is a test.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

# universal tags
_BOOLEAN, _INTEGER, _BIT_STRING, _OCTET_STRING, _OID = 0x01, 0x02, 0x03, 0x04, 0x06
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
_SEQUENCE, _SET = 0x30, 0x31
# context-specific tags of the certificate and of GeneralName
_VERSION, _EXTENSIONS = 0xA0, 0xA3
_DNS_NAME, _URI, _IP_ADDRESS = 0x82, 0x86, 0x87

_SAN, _BASIC_CONSTRAINTS, _AIA = "2.5.29.17", "2.5.29.19", "1.3.6.1.5.5.7.1.1"
_CA_ISSUERS = "1.3.6.1.5.5.7.48.2"

#: the short names ``cryptography`` uses in RFC 4514 strings; others print as dotted OIDs
SHORT_NAMES = {
    "2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.6": "C", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
#: directory string types -> codec
_STRING_CODECS = {
    0x0C: "utf-8",       # UTF8String
    0x13: "ascii",       # PrintableString
    0x16: "ascii",       # IA5String
    0x12: "ascii",       # NumericString
    0x1A: "ascii",       # VisibleString
    0x14: "latin-1",     # TeletexString (T61), read as Latin-1 like most parsers
    0x1E: "utf-16-be",   # BMPString
    0x1C: "utf-32-be",   # UniversalString
}

#: a name: its RDNs in certificate order, each a tuple of (type OID, value)
Name = tuple[tuple[tuple[str, "str | bytes"], ...], ...]


@dataclass(frozen=True)
class Certificate:
    subject: Name
    issuer: Name
    serial: int
    not_before: float  # Unix seconds, UTC
    not_after: float
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    is_ca: bool
    ca_issuers: tuple[str, ...]


def _element(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start, end) of the contents of the DER element at ``pos``."""
    if pos + 2 > end:
        raise ValueError("DER element truncated")
    tag, length = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("DER: multi-byte tags are not used in certificates")
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or pos + count > end:
            raise ValueError("DER: bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > end:
        raise ValueError("DER element runs past its end")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        element = _element(data, start, end)
        out.append(element)
        start = element[2]
    return out


def _expect(element: tuple[int, int, int], tag: int, what: str) -> tuple[int, int]:
    if element[0] != tag:
        raise ValueError(f"DER: {what} has tag 0x{element[0]:02x}, expected 0x{tag:02x}")
    return element[1], element[2]


def _oid(body: bytes) -> str:
    if not body or body[-1] & 0x80:
        raise ValueError("DER: bad object identifier")
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(map(str, head + arcs[1:]))


def _time(tag: int, body: bytes) -> float:
    text = body.decode("ascii")
    if tag == _UTC_TIME and len(text) == 13 and text.endswith("Z"):
        year = int(text[:2])
        year += 1900 if year >= 50 else 2000  # RFC 5280 4.1.2.5.1
        rest = text[2:12]
    elif tag == _GENERALIZED_TIME and len(text) == 15 and text.endswith("Z"):
        year, rest = int(text[:4]), text[4:14]
    else:
        raise ValueError(f"DER: bad certificate time {text!r}")
    if not text[:-1].isdigit():
        raise ValueError(f"DER: bad certificate time {text!r}")
    month, day, hour, minute, second = (int(rest[i:i + 2]) for i in range(0, 10, 2))
    # datetime refuses 30 February and 24:00 alike (ValueError)
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC).timestamp()


def _value(data: bytes, element: tuple[int, int, int]) -> str | bytes:
    tag, start, end = element
    body = data[start:end]
    if tag == _BIT_STRING:  # x500UniqueIdentifier: printed as #hex of the bits
        return body[1:]
    codec = _STRING_CODECS.get(tag)
    if codec is None:
        raise ValueError(f"DER: name attribute of unexpected type 0x{tag:02x}")
    return body.decode(codec)


def _name(data: bytes, start: int, end: int) -> Name:
    rdns = []
    for rdn in _children(data, start, end):
        attributes = []
        for atv in _children(data, *_expect(rdn, _SET, "a relative distinguished name")):
            parts = _children(data, *_expect(atv, _SEQUENCE, "a name attribute"))
            if len(parts) != 2:
                raise ValueError("DER: a name attribute is not (type, value)")
            oid = _oid(data[slice(*_expect(parts[0], _OID, "an attribute type"))])
            attributes.append((oid, _value(data, parts[1])))
        if not attributes:
            raise ValueError("DER: an empty relative distinguished name")
        rdns.append(tuple(attributes))
    return tuple(rdns)


def _escape(value: str | bytes) -> str:
    """RFC 4514 section 2.4, exactly as ``cryptography``'s ``_escape_dn_value``."""
    if not value:
        return ""
    if isinstance(value, bytes):
        return "#" + value.hex()
    for char in ("\\", '"', "+", ",", ";", "<", ">"):
        value = value.replace(char, "\\" + char)
    value = value.replace("\0", "\\00")
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    return value


def rfc4514(name: Name) -> str:
    """``CN=www.example.org,O=Example,C=TH``: the RDNs in reverse order (RFC 4514 2.1)."""
    return ",".join("+".join(f"{SHORT_NAMES.get(oid, oid)}={_escape(value)}"
                             for oid, value in rdn) for rdn in reversed(name))


def _sequence(body: bytes, what: str) -> list[tuple[int, int, int]]:
    """The elements of an extension value that is one SEQUENCE."""
    return _children(body, *_expect(_element(body, 0, len(body)), _SEQUENCE, what))


def parse(der: bytes) -> Certificate:
    """The fields of one DER certificate; ``ValueError`` if it is malformed."""
    cert = _element(der, 0, len(der))
    if cert[2] != len(der):
        raise ValueError("DER: bytes after the certificate")
    top = _children(der, *_expect(cert, _SEQUENCE, "the certificate"))
    if len(top) != 3:
        raise ValueError("DER: a certificate is (to-be-signed, algorithm, signature)")
    fields = _children(der, *_expect(top[0], _SEQUENCE, "tbsCertificate"))
    if fields and fields[0][0] == _VERSION:
        fields = fields[1:]
    if len(fields) < 6:
        raise ValueError("DER: tbsCertificate is too short")
    serial = int.from_bytes(der[slice(*_expect(fields[0], _INTEGER, "the serial number"))],
                            "big", signed=True)
    issuer = _name(der, *_expect(fields[2], _SEQUENCE, "the issuer"))
    validity = _children(der, *_expect(fields[3], _SEQUENCE, "the validity"))
    if len(validity) != 2:
        raise ValueError("DER: validity is (notBefore, notAfter)")
    not_before, not_after = (_time(tag, der[s:e]) for tag, s, e in validity)
    subject = _name(der, *_expect(fields[4], _SEQUENCE, "the subject"))
    extensions: dict[str, bytes] = {}
    for tag, start, end in fields[6:]:
        if tag != _EXTENSIONS:
            continue  # issuerUniqueID / subjectUniqueID
        (inner,) = _children(der, start, end)
        for extension in _children(der, *_expect(inner, _SEQUENCE, "the extensions")):
            parts = _children(der, *_expect(extension, _SEQUENCE, "an extension"))
            if not 2 <= len(parts) <= 3:
                raise ValueError("DER: an extension is (id, critical, value)")
            oid = _oid(der[slice(*_expect(parts[0], _OID, "an extension id"))])
            body = der[slice(*_expect(parts[-1], _OCTET_STRING, "an extension value"))]
            if oid in extensions:
                raise ValueError(f"DER: extension {oid} appears twice")
            extensions[oid] = body
    dns_names: list[str] = []
    ips: list[str] = []
    if _SAN in extensions:
        body = extensions[_SAN]
        for tag, start, end in _sequence(body, "subjectAltName"):
            if tag == _DNS_NAME:
                dns_names.append(body[start:end].decode("ascii"))
            elif tag == _IP_ADDRESS:
                if end - start not in (4, 16):
                    raise ValueError("DER: an IP address SAN is neither 4 nor 16 bytes")
                ips.append(str(ipaddress.ip_address(body[start:end])))
    is_ca = False
    if _BASIC_CONSTRAINTS in extensions:
        body = extensions[_BASIC_CONSTRAINTS]
        constraints = _sequence(body, "basicConstraints")
        if constraints and constraints[0][0] == _BOOLEAN:
            is_ca = body[constraints[0][1]:constraints[0][2]] != b"\x00"
    ca_issuers: list[str] = []
    if _AIA in extensions:
        body = extensions[_AIA]
        for access in _sequence(body, "authorityInformationAccess"):
            method, location = _children(body, *_expect(access, _SEQUENCE, "an access"))
            if (_oid(body[slice(*_expect(method, _OID, "an access method"))]) == _CA_ISSUERS
                    and location[0] == _URI):
                ca_issuers.append(body[location[1]:location[2]].decode("ascii"))
    return Certificate(subject=subject, issuer=issuer, serial=serial, not_before=not_before,
                       not_after=not_after, dns_names=tuple(dns_names),
                       ip_addresses=tuple(ips), is_ca=is_ca, ca_issuers=tuple(ca_issuers))
