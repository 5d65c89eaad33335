"""What the UI pages show, gathered from the running agent (no HTML here).

Readings come from the state store. Events, incidents, the KPI, the checklist and the asset
register are other rooms' parts: each is loaded through ``part()``, so a part that is not
running (``upkeep.parts.PartMissing``) or whose database fails (``StoreError``) renders as a
clear "not available" state instead of breaking the page. Nothing else is caught: a bug in a
part shows as the error it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from upkeep.errors import StoreError
from upkeep.parts import PartMissing
from upkeep.reading import Reading
from upkeep.readings import UpsInfo, WebInfo, ups_info_of, web_info_of

if TYPE_CHECKING:
    from upkeep.kit.agent import AgentView as Agent

log = logging.getLogger(__name__)

UPS_KINDS = ("ups", "nut", "snmp")
WEB_KINDS = ("web", "website")
CERT_WARN_DAYS = 30


@dataclass
class Part:
    """An optional part's data, or why it is not available."""

    data: Any = None
    missing: str = ""

    @property
    def available(self) -> bool:
        return not self.missing


def part(what: str, load: Callable[[], Any]) -> Part:
    """``load()``'s data, or why it is missing: the part is not running, or its database
    failed. Any other error is a bug and propagates."""
    try:
        return Part(load())
    except (PartMissing, StoreError) as err:
        log.info("UI part %s not available: %s", what, err)
        return Part(missing=f"{what} ({err})")


@dataclass
class Row:
    """One target as the pages show it."""

    kind: str
    name: str
    ok: bool
    reason: str
    message: str
    time: float
    last_success: float | None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ups(self) -> UpsInfo | None:
        """``info`` as a UPS reading's (``upkeep.readings``); None when empty."""
        return ups_info_of(self.info)

    @property
    def web(self) -> WebInfo:
        """``info`` typed as a website reading's (a view: a failed poll's is empty, so read
        it with ``.get``; mypy still checks every key name)."""
        return web_info_of(self.info)


def rows(agent: Agent, kinds: tuple[str, ...] | None = None) -> list[Row]:
    out = []
    for state in agent.store.states():
        r: Reading = state.latest
        if kinds is not None and r.kind not in kinds:
            continue
        out.append(Row(r.kind, r.target, r.ok, r.reason, r.message, r.time, state.last_success,
                       dict(r.info)))
    return sorted(out, key=lambda row: (row.kind, row.name))


def ups_rows(agent: Agent) -> list[Row]:
    # a NUT target that expands into several UPS gives one reading per UPS, all with "status"
    return [r for r in rows(agent) if r.kind in UPS_KINDS or ("ups" in r.info
                                                               and "status" in r.info)]


def ups_flags(row: Row) -> list[str]:
    info = row.ups
    return [str(flag) for flag in (info["status"] or [] if info else [])]


def cert_days_left(row: Row, now: float | None = None) -> float | None:
    """Days until the website's certificate (or the earliest in its chain) expires."""
    tls = row.web.get("tls")
    if not isinstance(tls, dict):
        return None
    values = [tls.get("not_after"), tls.get("chain_earliest_expiry")]
    stamps = [float(v) for v in values if isinstance(v, int | float)]
    return (min(stamps) - (now or time.time())) / 86400 if stamps else None


#: TLS versions a site should no longer accept (RFC 8996 deprecates both)
LEGACY_TLS = ("TLS 1.0", "TLS 1.1")
HSTS_HEADER = "strict-transport-security"


def battery_born(info: UpsInfo | None) -> float | None:
    """When the battery's age counts from: installed, else manufactured (as the summary)."""
    if info is None:
        return None
    born = info["battery_installed"] or info["battery_manufactured"]
    return float(born) if isinstance(born, int | float) else None


def web_findings(row: Row) -> list[tuple[str, str]]:
    """What makes a website that answers weaker than healthy, as (message key, value):
    legacy TLS accepted, HSTS absent or too short, security headers missing, IPv4/IPv6 that
    answer differently. The same facts ``upkeep probe`` lists under "problems"."""
    found: list[tuple[str, str]] = []
    info = row.web
    tls = info.get("tls")
    accepted = tls.get("accepted") if isinstance(tls, dict) else None
    if isinstance(accepted, dict):
        legacy = [v for v in LEGACY_TLS if accepted.get(v)]
        if legacy:
            found.append(("finding.legacy_tls", ", ".join(legacy)))
    http = info.get("http")
    present = http.get("headers_present") if isinstance(http, dict) else None
    if isinstance(http, dict) and isinstance(present, dict) and present:
        if not present.get(HSTS_HEADER, False):
            found.append(("finding.no_hsts", ""))
        elif http.get("hsts_long_enough") is False:
            found.append(("finding.short_hsts", ""))
        missing = [h for h, ok in present.items() if not ok and h != HSTS_HEADER]
        if missing:
            found.append(("finding.missing_headers", ", ".join(missing)))
    parity = info.get("ipv6_parity")
    if isinstance(parity, dict) and parity.get("ok") is False:
        found.append(("finding.v6_differs", ""))
    return found


@dataclass
class Problem:
    what: str  # an i18n key: on_battery, target_down, cert_expiring ...
    subject: str
    detail: str = ""
    href: str = "/"
    #: (message key, value) pairs the page words in its language (web_warning)
    findings: list[tuple[str, str]] = field(default_factory=list)
    #: the UPS facts behind a power problem, for the page to word in its language
    ups: UpsInfo | None = None


#: most urgent first: power, then what is down, then what will go wrong, then compliance
URGENCY = ("on_battery", "low_battery", "system_down", "target_down", "service_down",
           "cert_expired", "replace_battery", "cert_expiring", "web_warning",
           "control_failing")


def problems(agent: Agent, parts: dict[str, Part]) -> list[Problem]:
    """What is wrong now, most urgent first (``URGENCY``; stable within a kind)."""
    found: list[Problem] = []
    for row in ups_rows(agent):
        flags = ups_flags(row)
        info = row.ups
        if "OB" in flags:
            found.append(Problem("on_battery", row.name, info["summary"] if info else "",
                                 "/ui/ups", ups=info))
        if "LB" in flags:
            found.append(Problem("low_battery", row.name, "", "/ui/ups"))
        if info and info["replace_needed"]:
            found.append(Problem("replace_battery", row.name, "", "/ui/ups"))
    for row in rows(agent):
        if not row.ok:
            found.append(Problem("target_down", f"{row.kind} {row.name}",
                                 f"{row.reason}: {row.message}".strip(": "), _page_of(row.kind)))
    for row in rows(agent, ("host",)):
        services = row.info.get("services")
        if isinstance(services, dict):
            for name, ok in sorted(services.items()):
                if not ok:
                    found.append(Problem("service_down", f"{row.name}: {name}", "", "/ui/hosts"))
    systems = parts.get("systems")
    if systems is not None and systems.available:
        for system in systems.data:
            if system.get("up") is False:
                found.append(Problem("system_down", str(system.get("name")), "", "/ui/incidents"))
    for row in rows(agent, WEB_KINDS):
        days = cert_days_left(row)
        if days is not None and days < 0:
            found.append(Problem("cert_expired", row.name, f"{-days:.0f}", "/ui/websites"))
        elif days is not None and days < CERT_WARN_DAYS:
            found.append(Problem("cert_expiring", row.name, f"{days:.0f}", "/ui/websites"))
        findings = web_findings(row) if row.ok else []
        if findings:
            found.append(Problem("web_warning", row.name, "", "/ui/websites", findings))
    controls = parts.get("checklist")
    if controls is not None and controls.available:
        for control in controls.data:
            if control.get("status") in ("fail", "expired", "error"):
                found.append(Problem("control_failing", str(control.get("id")),
                                     str(control.get("status")), "/ui/checklist"))
    return sorted(found, key=lambda p: URGENCY.index(p.what))


def _page_of(kind: str) -> str:
    if kind in UPS_KINDS:
        return "/ui/ups"
    if kind in WEB_KINDS:
        return "/ui/websites"
    return "/ui/hosts" if kind == "host" else "/"
