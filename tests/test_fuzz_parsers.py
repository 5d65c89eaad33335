"""Hostile input to every parser that reads something from outside the agent.

Property: whatever bytes a UPS, a website, an SNMP agent, an office spreadsheet or a config
file throws at a parser, it answers or raises the documented error type, never anything else
(an escaping ``ValueError`` or ``RecursionError`` would turn a bad target into a crashed job
or a crashed ``check-config``). Bugs this file found are fixed in the owning modules (see the
``test_found_*`` regressions at the end).
"""

from __future__ import annotations

import contextlib
import csv
import string
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upkeep.collectors import snmp_mibs, web_x509
from upkeep.collectors.nut import (
    parse_alarms,
    parse_number,
    parse_nut_date,
    parse_nut_status,
    reading_from_vars,
)
from upkeep.collectors.nut_protocol import (
    check_error,
    decode_line,
    parse_clients,
    parse_ups_list,
    parse_vars,
    quote,
    split_words,
)
from upkeep.collectors.ups_model import parse_status, parse_ups_date
from upkeep.collectors.web_http import (
    HttpResponse,
    check_headers,
    csp_has_frame_ancestors,
    decode_text,
    parse_hsts,
)
from upkeep.config import ConfigError, parse_config
from upkeep.errors import CollectorError, ProtocolError
from upkeep.policies.assets_import import (
    AssetFileError,
    ParsedRow,
    Rejection,
    parse_date,
    read_table,
    validate_row,
)

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture])

#: text with the characters that matter to the parsers: quotes, escapes, separators, digits
#: of other scripts (Thai ๑๒๓ are \d to Python's re), controls, surrogate-escaped bytes
_SPICY = st.sampled_from(list(' "\\\t\n\r\x00/-.:;=,[]{}&*!|>#@%' "๑๒๓٣" "\udcff\ufffd"))
texts = st.text(st.one_of(st.characters(), _SPICY), max_size=120)
words = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


# --- NUT ------------------------------------------------------------------------------------

@FUZZ
@given(texts)
def test_nut_line_parsers_raise_only_protocol_errors(line: str) -> None:
    for parse in (split_words, lambda x: parse_vars([x], "ups1"), lambda x: parse_ups_list([x]),
                  lambda x: parse_clients([x], "ups1")):
        with contextlib.suppress(ProtocolError):
            parse(line)
    try:
        check_error(line)
    except CollectorError as err:
        assert err.reason  # every ERR maps to a reason code
        assert line.startswith("ERR")


@FUZZ
@given(st.binary(max_size=200))
def test_nut_wire_bytes_decode_to_text(raw: bytes) -> None:
    line = decode_line(raw)
    assert isinstance(line, str) and not line.endswith(("\n", "\r"))


@FUZZ
@given(words)
def test_quote_then_split_round_trips(value: str) -> None:
    try:
        quoted = quote(value)
    except ValueError:
        assert any(c in value for c in "\n\r\0")
        return
    assert split_words(f"VAR ups1 x {quoted}") == ["VAR", "ups1", "x", value]


nut_var_names = st.sampled_from(["ups.status", "battery.charge", "battery.runtime",
                                 "ups.load", "battery.date", "battery.mfr.date", "ups.mfr.date",
                                 "input.voltage", "ups.alarm", "ups.test.result", "ups.serial",
                                 "device.serial", "ups.model", "battery.voltage",
                                 "ups.realpower.nominal", "ups.temperature", "x.y"])


@FUZZ
@given(st.dictionaries(nut_var_names, texts, max_size=12))
def test_nut_reading_from_any_variables(variables: dict[str, str]) -> None:
    """A broken driver's values: a reading (maybe with a reason), or ProtocolError."""
    try:
        reading = reading_from_vars("rack", variables)
    except ProtocolError:
        return
    assert reading.target == "rack"
    for sample in reading.samples:
        assert isinstance(sample.value, float | int)


@FUZZ
@given(texts)
def test_nut_value_parsers(text: str) -> None:
    number = parse_number(text)
    assert number is None or isinstance(number, float)
    with contextlib.suppress(ProtocolError):
        assert isinstance(parse_nut_status(text), tuple)
    assert isinstance(parse_status(text), tuple)
    assert all(isinstance(a, str) and len(a) <= 64 for a in parse_alarms(text))


# --- dates -------------------------------------------------------------------------------

date_like = st.one_of(
    texts,
    st.builds(lambda a, s1, b, s2, c: f"{a}{s1}{b}{s2}{c}",
              st.integers(-5, 10000).map(str), st.sampled_from("-/. "),
              st.integers(-5, 99).map(str), st.sampled_from("-/. "),
              st.integers(-5, 10000).map(str)),
    st.builds(lambda d, m, y: f"{d}{m}{y}", st.integers(0, 99),
              st.sampled_from(["JAN", "feb", "Oct", "XYZ", "DEC"]), st.integers(0, 9999)),
)


@FUZZ
@given(date_like, st.one_of(st.none(), st.dates()))
def test_ups_dates_parse_or_are_unknown(text: str, not_before: date | None) -> None:
    for parse in (parse_ups_date, parse_nut_date):
        value = parse(text, not_before=not_before)
        assert value is None or (isinstance(value, date) and value.year >= 1980)
        if value is not None and not_before is not None:
            assert value >= not_before


# --- SNMP ----------------------------------------------------------------------------------

snmp_values = st.one_of(st.none(), st.integers(-(2**64), 2**64), st.binary(max_size=300),
                        st.from_regex(r"\A1(\.[0-9]{1,6}){0,12}\Z").map(snmp_mibs.Oid),
                        st.booleans())


@FUZZ
@given(st.sampled_from(sorted(snmp_mibs.PROFILES)), st.data())
def test_snmp_decoders_raise_only_protocol_errors(profile_name: str, data: st.DataObject) -> None:
    profile = snmp_mibs.PROFILES[profile_name]
    keys = [f.key for f in profile.fields]
    values = data.draw(st.dictionaries(st.sampled_from(keys), snmp_values, max_size=len(keys)))
    alarms = data.draw(st.lists(st.from_regex(r"\A1(\.[0-9]{1,8}){0,14}\Z")
                                .map(snmp_mibs.Oid), max_size=8))
    try:
        snap = profile.decode("ups1", values, alarms, 1.7e9)
    except ProtocolError:
        return
    assert snap is not None


@FUZZ
@given(st.dictionaries(st.sampled_from(list(snmp_mibs.DETECT_OIDS)), snmp_values))
def test_snmp_profile_choice_never_raises(values: dict[str, snmp_mibs.Value]) -> None:
    chosen = snmp_mibs.choose_profile(values)
    assert chosen is None or chosen.name in snmp_mibs.PROFILES


def _pysnmp_values() -> st.SearchStrategy[object]:
    from pysnmp.proto import rfc1902, rfc1905

    return st.one_of(
        st.integers(-(2**31), 2**31 - 1).map(rfc1902.Integer32),
        st.integers(0, 2**32 - 1).map(rfc1902.Counter32),
        st.integers(0, 2**64 - 1).map(rfc1902.Counter64),
        st.integers(0, 2**32 - 1).map(rfc1902.Gauge32),
        st.integers(0, 2**32 - 1).map(rfc1902.TimeTicks),
        st.binary(max_size=300).map(rfc1902.OctetString),
        st.binary(min_size=4, max_size=4).map(rfc1902.IpAddress),
        st.binary(max_size=40).map(rfc1902.Opaque),
        st.binary(max_size=8).map(rfc1902.Bits),
        st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=20).map(
            lambda parts: rfc1902.ObjectIdentifier([1, 3, *parts])),
        st.sampled_from([rfc1905.NoSuchObject(""), rfc1905.NoSuchInstance(""),
                         rfc1905.EndOfMibView(""), rfc1902.Null("")]),
    )


@FUZZ
@given(st.data())
def test_snmp_wire_values_become_plain_values(data: st.DataObject) -> None:
    """What pysnmp hands over, any type an agent may send, becomes int/bytes/Oid/None or a
    ProtocolError, and the plain value goes through every MIB decoder the same way."""
    from upkeep.collectors.snmp_pysnmp import _plain

    raw = data.draw(_pysnmp_values())
    try:
        value = _plain(raw)
    except ProtocolError:
        return
    assert value is None or isinstance(value, int | bytes | snmp_mibs.Oid)
    profile = snmp_mibs.PROFILES[data.draw(st.sampled_from(sorted(snmp_mibs.PROFILES)))]
    key = data.draw(st.sampled_from([f.key for f in profile.fields]))
    with contextlib.suppress(ProtocolError):
        profile.decode("ups1", {key: value}, [], 1.7e9)


@FUZZ
@given(st.data())
def test_gufo_wire_values_become_plain_values(data: st.DataObject) -> None:
    """What gufo-snmp hands over (None, int, bytes, str for OIDs and IP addresses, float for
    Opaque floats) becomes int/bytes/Oid/None or a ProtocolError, and goes through every MIB
    decoder the same way."""
    from upkeep.collectors.snmp import _fast_plain

    raw = data.draw(st.one_of(st.none(), st.integers(-2**64, 2**64), st.binary(max_size=300),
                              st.text(max_size=60), st.floats(allow_nan=True)))
    try:
        value = _fast_plain(raw)
    except ProtocolError:
        assert isinstance(raw, float)
        return
    assert value is None or isinstance(value, int | bytes | snmp_mibs.Oid)
    profile = snmp_mibs.PROFILES[data.draw(st.sampled_from(sorted(snmp_mibs.PROFILES)))]
    key = data.draw(st.sampled_from([f.key for f in profile.fields]))
    with contextlib.suppress(ProtocolError):
        profile.decode("ups1", {key: value}, [], 1.7e9)


# --- config --------------------------------------------------------------------------------

yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                         words, st.sampled_from(["15s", "-1s", "1e400", "${UPKEEP_FUZZ_UNSET}",
                                                 "0.0.0.0:0", "[::1]:99999", "nut", "snmp"]))
config_keys = st.sampled_from(["site", "listen", "data_dir", "ups", "websites", "systems",
                               "web", "notify", "policies", "resolver", "host", "name", "url",
                               "nut", "snmp", "interval", "timeout", "api_token", "password",
                               "port", "x"])
yaml_trees = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(config_keys, inner, max_size=5)),
    max_leaves=25)


def _only_config_errors(text: str) -> None:
    try:
        parse_config(text)
    except ConfigError as err:
        assert err.problems, "a ConfigError names at least one problem"


@FUZZ
@given(texts)
def test_config_from_arbitrary_text(text: str) -> None:
    _only_config_errors(text)


@FUZZ
@given(st.dictionaries(config_keys, yaml_trees, max_size=6))
def test_config_from_arbitrary_yaml_trees(tree: dict[str, object]) -> None:
    import yaml

    _only_config_errors(yaml.safe_dump(tree, allow_unicode=True))


@pytest.mark.parametrize("text", [
    "site: &x [*x]",                       # a recursive alias
    "a: " + "[" * 3000 + "]" * 3000,       # nesting deeper than the recursion limit
    "ups: &u [{name: a, nut: *u}]",
    "\ufeffsite: x\x00",
    "site: !!python/object:os.system x",  # unsafe tags refused by safe_load
])
def test_config_hostile_documents_give_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(text)


# --- asset import --------------------------------------------------------------------------

cells = st.one_of(st.none(), texts, st.integers(-(10**12), 10**12), st.floats(allow_nan=True),
                  st.datetimes(min_value=datetime(1, 1, 1)), st.dates(),
                  st.sampled_from(["ups", "UPS Battery", "server", "in use", "2559-11-15",
                                   "31/02/2016", "nan", "inf", "1,000", "2001-09-25",
                                   "๑๕/๑๑/๒๕๕๙"]))
asset_columns = st.sampled_from(["asset_tag", "class", "site", "manufacturer", "model",
                                 "serial", "parent_serial", "purchase_date", "in_service",
                                 "price_thb", "warranty_end", "life_years", "vendor_eos",
                                 "status", "notes"])


@FUZZ
@given(st.dictionaries(asset_columns, cells, max_size=15))
def test_asset_rows_are_accepted_or_rejected(raw: dict[str, object]) -> None:
    result = validate_row(2, raw)
    assert isinstance(result, ParsedRow | Rejection)
    if isinstance(result, ParsedRow):
        for key in ("price_thb", "life_years"):
            if result.values.get(key):
                number = float(result.values[key])
                assert number == number and number not in (float("inf"), float("-inf"))
        for key in ("purchase_date", "in_service", "warranty_end", "vendor_eos"):
            if result.values.get(key):
                date.fromisoformat(result.values[key])


@FUZZ
@given(cells)
def test_asset_dates_raise_only_value_errors(value: object) -> None:
    with contextlib.suppress(ValueError):
        assert isinstance(parse_date(value), date)


@FUZZ
@given(st.lists(st.lists(texts, max_size=6), max_size=6), st.binary(max_size=64))
def test_asset_files_raise_only_asset_file_errors(tmp_path_factory: pytest.TempPathFactory,
                                                 rows: list[list[str]], junk: bytes) -> None:
    directory = tmp_path_factory.mktemp("assets")
    good = directory / "a.csv"
    with good.open("w", newline="", encoding="utf-8", errors="surrogatepass") as handle:
        csv.writer(handle).writerows([["class", "serial", "purchase_date"], *rows])
    bad = directory / "b.xlsx"
    bad.write_bytes(b"PK\x03\x04" + junk)
    raw = directory / "c.csv"
    raw.write_bytes(junk)
    for path in (good, bad, raw):
        try:
            for number, row in read_table(Path(path)):
                validate_row(number, row)
        except AssetFileError:
            pass


# --- HTTP headers --------------------------------------------------------------------------

header_values = st.one_of(
    texts,
    st.builds(lambda a, n, b: f"{a}max-age={n}{b}", texts, st.one_of(
        st.integers(0, 10**30).map(str), st.text(string.digits + "๑", min_size=1,
                                                   max_size=6000)), texts))
charsets = st.one_of(words, st.sampled_from(["utf-8", "idna", "punycode", "undefined",
                                             "rot13", "base64", "utf-16", "tis-620",
                                             "unicode_escape", "zlib", "uu"]))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["strict-transport-security",
                                           "content-security-policy", "x-frame-options",
                                           "content-type", "x-content-type-options"]),
                          header_values), max_size=6),
       charsets, st.binary(max_size=200))
def test_header_parsers_never_raise(headers: list[tuple[str, str]], charset: str,
                                    body: bytes) -> None:
    response = HttpResponse(200, [*headers, ("content-type", f"text/html; charset={charset}")],
                            body)
    check = check_headers(response)
    assert set(check.present) >= {"strict-transport-security", "x-frame-options"}
    for _, value in headers:
        hsts = parse_hsts(value)
        assert hsts is not None and (hsts["max_age"] is None or hsts["max_age"] >= 0)
    csp_has_frame_ancestors([v for _, v in headers])
    assert isinstance(decode_text(body, response), str)


# --- certificates the website probe reads -------------------------------------------------

def _a_certificate() -> bytes:
    import ssl

    import trustme

    pem = trustme.CA().issue_cert("good.test", "127.0.0.1").cert_chain_pems[0].bytes()
    return ssl.PEM_cert_to_DER_cert(pem.decode())


_CERT = _a_certificate()


@FUZZ
@given(st.one_of(st.binary(max_size=300),
                 st.tuples(st.integers(0, len(_CERT) - 1), st.binary(min_size=1, max_size=4),
                           st.integers(0, len(_CERT))).map(
                     lambda m: (_CERT[:m[0]] + m[1] + _CERT[m[0] + len(m[1]):])[:m[2] or None])))
def test_certificate_reader_raises_only_value_error(der: bytes) -> None:
    """A server sends any bytes as its certificate: facts, or ``ValueError``."""
    try:
        cert = web_x509.parse(der)
    except ValueError:
        return
    assert isinstance(web_x509.rfc4514(cert.subject), str)


# --- regressions for bugs this file found ---------------------------------------------------

def test_found_hsts_max_age_longer_than_int_limit() -> None:
    """Python refuses int() of > 4300 digits; a hostile site sent that as max-age."""
    hsts = parse_hsts("max-age=" + "9" * 5000)
    assert hsts is not None and isinstance(hsts["max_age"], int) and hsts["max_age"] > 10**17


@pytest.mark.parametrize("charset", ["idna", "punycode", "undefined"])
def test_found_codecs_that_cannot_replace(charset: str) -> None:
    response = HttpResponse(200, [("content-type", f"text/html; charset={charset}")], b"")
    assert decode_text(b"\xff\xfe\x80ok", response).endswith("ok")


def test_found_nan_price_rejected() -> None:
    result = validate_row(5, {"class": "ups", "serial": "S1", "price_thb": "nan"})
    assert isinstance(result, Rejection) and "price_thb" in result.reason
