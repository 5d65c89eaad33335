"""The shapes of ``Reading.info`` that other rooms read by key: UPS (``nut``, ``snmp``) and
website (``web``) readings.

The collectors write these keys; the agent's events and API, the policies (checklist, asset
discovery) and the UI read them. Declaring them once as ``TypedDict``s lets ``mypy --strict``
catch a consumer reading a key no collector writes. They are plain dicts at run time, so the
JSON the API returns is unchanged.

Read a reading's info through ``ups_info`` / ``web_info``. ``ups_info`` narrows by kind and
returns ``None`` where there is nothing to read (another kind, or a failed UPS poll, whose
info is empty); ``web_info`` is a plain typed view of a web reading's info (a failed poll's
may be empty: read it with ``.get`` where that can be). Keys every reading of that kind carries are required, so read them by subscript
(``info["status"]``): mypy checks a subscript's key, while ``.get`` on a ``TypedDict``
accepts any key (it answers ``object``) and is only for the ``NotRequired`` ones.
``ups_info`` fills a required key a partial info lacks (a hand-made reading, an older
agent's JSON) with the falsy value ``.get`` used to give, so reading by subscript behaves as
reading with ``.get`` did.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, cast

from upkeep.reading import Reading

#: the kinds whose readings carry ``UpsInfo``
UPS_KINDS = ("nut", "snmp")
#: the kind whose readings carry ``WebInfo``
WEB_KIND = "web"


# --- UPS ----------------------------------------------------------------------------------

class NutEndpoint(TypedDict):
    """Where a NUT reading came from."""

    host: str
    port: int
    ups: str
    tls: bool


class UpsInfo(TypedDict):
    """``collectors.ups_model.info_from_snapshot`` plus what each source adds."""

    ups: str
    source: str  # "nut" or "snmp"
    mfr: str
    model: str
    serial: str
    firmware: str
    status: list[str]  # NUT status flags, e.g. ["OB", "DISCHRG"]
    battery_charge: float | None  # ratio 0-1
    battery_runtime: float | None  # seconds
    load: float | None  # ratio
    battery_installed: float | None  # Unix time
    battery_manufactured: float | None
    ups_manufactured: float | None
    replace_needed: bool
    selftest_result: str  # one of ups_model.SELFTEST_RESULTS
    alarms: list[str]
    summary: str  # ups_model.summary: one line for `upkeep probe` and the UI
    raw: dict[str, str]
    # NUT only
    clients: NotRequired[list[str]]
    fsd: NotRequired[bool]
    nut: NotRequired[NutEndpoint]
    # SNMP only
    mib: NotRequired[str]


# --- websites -----------------------------------------------------------------------------

class DnsInfo(TypedDict):
    literal: bool
    counts: dict[str, int]  # "A", "AAAA"[, "NS_AAAA"]
    reason: str  # a Reason value, "" when every query was answered
    message: str
    duration: float


class AddressInfo(TypedDict):
    family: str  # "ipv4" | "ipv6"
    address: str
    up: bool
    reason: str  # a Reason value, "" when up
    message: str
    status: int | None
    final_url: str
    redirects: int
    verified_https: bool
    tls_version: str
    cipher: str
    phases: dict[str, float]


class FamilyInfo(TypedDict):
    up: bool
    status: int


class TlsInfo(TypedDict):
    """Certificate facts of the first address (``web_tls.CertFacts.to_info``), when one was
    read; ``accepted`` (TLS version -> accepted) always."""

    accepted: dict[str, bool]
    version: NotRequired[str]
    cipher: NotRequired[str]
    verified: NotRequired[bool]
    verify_code: NotRequired[int | None]
    verify_message: NotRequired[str]
    problems: NotRequired[list[str]]  # Reason values: expired, untrusted ...
    san_match: NotRequired[bool]
    trusted: NotRequired[bool]
    chain_complete: NotRequired[bool]
    chain_length: NotRequired[int]
    subject: NotRequired[str]
    issuer: NotRequired[str]
    serial: NotRequired[str]
    fingerprint_sha256: NotRequired[str]
    not_before: NotRequired[float]
    not_after: NotRequired[float]
    days_to_expiry: NotRequired[float]
    chain_earliest_expiry: NotRequired[float | None]
    san: NotRequired[list[str]]
    self_signed: NotRequired[bool]


class RedirectInfo(TypedDict):
    url: str
    status: int | None
    ok: bool
    http_answers: bool
    reason: str  # a Reason value, "" when ok
    location: NotRequired[str]


class HstsInfo(TypedDict):
    max_age: int | None
    include_subdomains: bool
    preload: bool
    raw: str


class HttpInfo(TypedDict):
    redirect: RedirectInfo | None
    # present when an address answered over HTTP
    status: NotRequired[int | None]
    headers_present: NotRequired[dict[str, bool]]
    header_values: NotRequired[dict[str, str]]
    hsts: NotRequired[HstsInfo | None]
    hsts_long_enough: NotRequired[bool]
    final_url: NotRequired[str]
    verified_https: NotRequired[bool]


class ParityInfo(TypedDict):
    ok: bool
    status_v4: int | None
    status_v6: int | None
    distance: float | None


class PolicyPageInfo(TypedDict):
    url: str
    ok: bool  # 2xx and the expected text found
    status: int | None
    reason: str  # a Reason value, "" when ok
    message: str
    text_found: bool | None
    fetched_at: float
    # absent when the page could not be fetched at all
    final_url: NotRequired[str]
    https: NotRequired[bool]
    tls_verified: NotRequired[bool]


class WebInfo(TypedDict):
    """``collectors.web.site_reading``; also present when the probe failed."""

    url: str
    host: str | None
    summary: str
    dns: DnsInfo
    addresses: list[AddressInfo]
    families: dict[str, FamilyInfo]  # "ipv4" | "ipv6"
    tls: TlsInfo | None
    http: HttpInfo
    ipv6_parity: ParityInfo | None  # None with a single family
    policy_pages: dict[str, PolicyPageInfo]
    checked_at: dict[str, float]  # web_probe.SLOW_CHECKS -> when last checked (Unix time)


# --- access -------------------------------------------------------------------------------

def _ups_absent() -> UpsInfo:
    """What a missing required key reads as (what ``info.get(key)`` answered before: falsy)."""
    return {
        "ups": "", "source": "", "mfr": "", "model": "", "serial": "", "firmware": "", "status": [],
        "battery_charge": None, "battery_runtime": None, "load": None, "battery_installed": None,
        "battery_manufactured": None, "ups_manufactured": None, "replace_needed": False,
        "selftest_result": "", "alarms": [], "summary": "", "raw": {},
    }


def ups_info(reading: Reading) -> UpsInfo | None:
    """The UPS facts of a NUT or SNMP reading; None for another kind or a failed poll."""
    return ups_info_of(reading.info) if reading.kind in UPS_KINDS else None


def ups_info_of(info: Mapping[str, Any]) -> UpsInfo | None:
    """``info`` read as a UPS reading's (a copy, absent required keys filled); None if empty."""
    if not info:
        return None
    return cast(UpsInfo, {**_ups_absent(), **info})


def web_info(reading: Reading) -> WebInfo:
    """A website reading's info, typed: a plain view (no copy, nothing filled in), so a key a
    failed poll's empty info lacks still raises ``KeyError`` when read by subscript."""
    return web_info_of(reading.info)


def web_info_of(info: Mapping[str, Any]) -> WebInfo:
    """``info`` (a web reading's) typed as ``WebInfo``: the same object, nothing checked."""
    return cast(WebInfo, info)
