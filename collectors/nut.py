"""UPS units behind NUT's ``upsd``, mapped into the one UPS metric model (``ups_model``).

Targets: every ``ups:`` entry with ``nut:``. When the ``ups`` key is omitted altogether,
whatever ``LIST UPS`` returns on 127.0.0.1:3493 is monitored under its NUT name; a host
without NUT then simply has no UPS readings (one debug line), never a false "down".

Per poll and UPS: ``LIST VAR`` and ``LIST CLIENT`` on a persistent connection per upsd
(``nut_client``). ``snapshot_from_vars`` is the pure mapping, tested on the 28 real dumps
of the NUT devices library; ``VARIABLES`` is its declarative table.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from upkeep.collectors.base import Collector, Target, register
from upkeep.collectors.nut_client import NutClient, TlsSettings
from upkeep.collectors.nut_protocol import NutError
from upkeep.collectors.ups_model import (
    UpsSnapshot,
    date_timestamp,
    info_from_snapshot,
    parse_status,
    parse_ups_date,
    selftest_from_text,
    ups_samples,
)
from upkeep.config import Config
from upkeep.config.ups import NutConfig, UpsConfig
from upkeep.errors import CollectorError, PollTimeout, ProtocolError, TargetUnreachable
from upkeep.metrics import gauge, sample
from upkeep.reading import Reading

log = logging.getLogger(__name__)

KIND = "nut"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 3493

UPS_CLIENTS = gauge("upkeep_ups_clients", "upsmon clients logged into the UPS through upsd "
                    "(NUT only: the machines it will shut down).", ("ups",), room="ups")

#: NUT variable -> (UpsSnapshot field, scale to base units)
VARIABLES: dict[str, tuple[str, float]] = {
    "battery.charge": ("battery_charge", 0.01),
    "battery.runtime": ("battery_runtime", 1.0),
    "battery.runtime.low": ("battery_runtime_low", 1.0),
    "ups.load": ("load", 0.01),
    "input.voltage": ("input_voltage", 1.0),
    "output.voltage": ("output_voltage", 1.0),
    "input.frequency": ("input_frequency", 1.0),
    "battery.voltage": ("battery_voltage", 1.0),
    "ups.realpower": ("realpower", 1.0),
    # what SNMP cards call it; only a fallback when ups.realpower is absent
    "output.realpower": ("realpower", 1.0),
}
#: NUT variable -> upkeep_ups_temperature_celsius{sensor}
TEMPERATURES = {"ups.temperature": "ups", "battery.temperature": "battery",
                "ambient.temperature": "ambient"}
#: identity: first variable present wins
IDENTITY = {"mfr": ("ups.mfr", "device.mfr"), "model": ("ups.model", "device.model"),
            "serial": ("ups.serial", "device.serial"), "firmware": ("ups.firmware",)}
#: serial numbers that mean "none" (dumps show all of these)
_NO_SERIAL = re.compile(r"^(?:[0*]+|\[?unknown\]?|n/?a|none|<redacted>)$", re.IGNORECASE)
#: variables that may look numeric but are identifiers ("000000000000", "0002", "5.100")
_IDENTIFIERS = (".serial", ".productid", ".vendorid", ".firmware", ".firmware.aux", ".mfr",
                ".model", ".date", ".macaddr", ".id", ".type", ".version", ".description")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_STATUS_TOKEN = re.compile(r"^[A-Za-z0-9_.:+-]{1,32}$")
_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
_DAY_MON_YEAR = re.compile(r"^(\d{1,2})([A-Za-z]{3})(\d{2}|\d{4})$")


# --- pure parsing -------------------------------------------------------------------------

def parse_number(text: str | None) -> float | None:
    """A NUT numeric value ("100", "020.0", "  0.0", "01715"); None when not a plain number."""
    if text is None:
        return None
    value = text.strip()
    return float(value) if _NUMBER.match(value) else None


def parse_nut_date(text: str | None, *, not_before: date | None = None) -> date | None:
    """``parse_ups_date`` plus the ``12OCT04`` form some serial drivers report."""
    if text and (m := _DAY_MON_YEAR.match(text.strip())) and m[2].upper() in _MONTHS:
        year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
        return parse_ups_date(f"{year:04d}-{_MONTHS[m[2].upper()]:02d}-{int(m[1]):02d}",
                              not_before=not_before)
    return parse_ups_date(text, not_before=not_before)


def parse_nut_status(text: str) -> tuple[str, ...]:
    """``ups.status`` into flags; an absurd value (binary junk, dozens of tokens, huge
    tokens) raises ``ProtocolError``: flags from a broken driver must not fire events."""
    tokens = text.split()
    if len(tokens) > 32 or not all(_STATUS_TOKEN.match(t) for t in tokens):
        raise ProtocolError(f"absurd ups.status {text[:80]!r}: not a list of status flags")
    return parse_status(text)


def parse_alarms(text: str | None) -> tuple[str, ...]:
    """``ups.alarm`` ("Replace battery!", "[Overload] [Fan failure]") into snake_case names."""
    if not text or not text.strip():
        return ()
    parts = re.findall(r"\[([^\]]+)\]", text) or [text]
    names = []
    for part in parts:
        name = re.sub(r"[^0-9a-z]+", "_", part.strip().lower()).strip("_")[:64]
        if name:
            names.append(name)
    return tuple(dict.fromkeys(names))


def _text(value: str | None) -> str:
    return " ".join(value.split()) if value else ""


def snapshot_from_vars(name: str, variables: Mapping[str, str]) -> UpsSnapshot:
    """What ``LIST VAR`` returned, in the one UPS model (base units)."""
    snap = UpsSnapshot(name=name, source=KIND, raw=dict(variables))
    for field, keys in IDENTITY.items():
        value = next((_text(variables[k]) for k in keys if _text(variables.get(k))), "")
        if field == "serial" and _NO_SERIAL.match(value):
            value = ""
        setattr(snap, field, value)
    snap.status = parse_nut_status(variables.get("ups.status", ""))
    for var, (field, scale) in VARIABLES.items():
        number = parse_number(variables.get(var))
        if number is not None and getattr(snap, field) is None:
            setattr(snap, field, number * scale)
    for var, sensor in TEMPERATURES.items():
        number = parse_number(variables.get(var))
        if number is not None:
            snap.temperatures[sensor] = number
    ups_made = parse_nut_date(variables.get("ups.mfr.date"))
    snap.ups_manufactured = date_timestamp(ups_made)
    # a battery cannot be older than the unit it came in (APC's 2001/09/25 placeholder)
    snap.battery_installed = date_timestamp(
        parse_nut_date(variables.get("battery.date"), not_before=ups_made))
    snap.battery_manufactured = date_timestamp(parse_nut_date(variables.get("battery.mfr.date")))
    if "ups.test.result" in variables:
        snap.selftest_result = selftest_from_text(variables["ups.test.result"])
    snap.selftest_time = date_timestamp(parse_nut_date(variables.get("ups.test.date")))
    snap.alarms = parse_alarms(variables.get("ups.alarm"))
    snap.replace_needed = "RB" in snap.status or any("replace" in a for a in snap.alarms)
    mapped = set(VARIABLES) | set(TEMPERATURES)
    for var, value in variables.items():
        if var in mapped or var.startswith("driver.") or var.endswith(_IDENTIFIERS):
            continue  # mapped above, the driver's own settings, or a name that is no quantity
        number = parse_number(value)
        if number is not None:
            snap.variables[var] = number
    return snap


def summary(snap: UpsSnapshot, now: float | None = None) -> str:
    """One line for ``upkeep probe``: state, charge, runtime, load, battery age."""
    flags = set(snap.status)
    if "FSD" in flags:
        state = "forced shutdown"
    elif "OB" in flags:
        state = "ON BATTERY" + (", LOW" if "LB" in flags else "")
    elif "OL" in flags:
        state = "on line"
    else:
        state = "state unknown"
    parts = [f"{state} ({' '.join(snap.status) or '-'})"]
    if snap.battery_charge is not None:
        parts.append(f"charge {snap.battery_charge:.0%}")
    if snap.battery_runtime is not None:
        parts.append(f"runtime {snap.battery_runtime / 60:.0f} min")
    if snap.load is not None:
        parts.append(f"load {snap.load:.0%}")
    now = time.time() if now is None else now
    born = snap.battery_installed or snap.battery_manufactured
    if born is not None:
        parts.append(f"battery {(now - born) / (365.25 * 86400):.1f} y old")
    else:
        parts.append("battery age unknown")
    if snap.replace_needed:
        parts.append("REPLACE BATTERY")
    return ", ".join(parts)


def reading_from_vars(name: str, variables: Mapping[str, str], *, clients: Sequence[str] = (),
                      when: float | None = None, extra: Mapping[str, Any] | None = None
                      ) -> Reading:
    snap = snapshot_from_vars(name, variables)
    samples = [*ups_samples(snap), sample(UPS_CLIENTS, len(clients), ups=name)]
    info = dict(info_from_snapshot(snap))
    info.update(summary=summary(snap), clients=list(clients), fsd="FSD" in snap.status,
                **(extra or {}))
    return Reading(KIND, name, time.time() if when is None else when, True,
                   samples=tuple(samples), info=info)


# --- I/O ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Discovery:
    """The target standing for "every UPS on the local upsd" (``ups:`` omitted)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT


class NutCollector(Collector):
    kind = KIND

    def __init__(self, entries: Sequence[UpsConfig], discover: bool = False) -> None:
        self.entries = list(entries)
        self.discover = discover
        self._clients: dict[tuple[Any, ...], NutClient] = {}
        self._discovered: set[str] = set()

    def targets(self) -> list[Target]:
        if self.discover:
            defaults = NutConfig()
            return [Target(KIND, f"nut@{DEFAULT_HOST}:{DEFAULT_PORT}", defaults.interval,
                           defaults.timeout, jitter=min(1.0, defaults.interval / 10),
                           settings=_Discovery())]
        out = []
        for entry in self.entries:
            assert entry.nut is not None
            out.append(Target(KIND, entry.name, entry.nut.interval, entry.nut.timeout,
                              jitter=min(1.0, entry.nut.interval / 10), settings=entry))
        return out

    def client(self, nut: NutConfig) -> NutClient:
        """The shared connection for this upsd and these credentials."""
        tls = None if nut.tls is None else TlsSettings(nut.tls.ca_file, nut.tls.cert_fingerprint,
                                                       nut.tls.required)
        password = nut.password.get_secret_value() if nut.password is not None else None
        key = (nut.host, nut.port, nut.username, password, tls)
        client = self._clients.get(key)
        if client is None:
            # a little under the poll timeout: our message beats the scheduler's hard stop
            client = NutClient(nut.host, nut.port, username=nut.username, password=password,
                               tls=tls, timeout=nut.timeout * 0.8)
            self._clients[key] = client
        return client

    async def poll(self, target: Target) -> Reading | Sequence[Reading]:
        if isinstance(target.settings, _Discovery):
            return await self._poll_discovery(target)
        entry: UpsConfig = target.settings
        assert entry.nut is not None
        client = self.client(entry.nut)
        try:
            async with asyncio.timeout(target.timeout * 0.9):
                return await self._read_ups(client, entry.nut.ups or entry.name, entry.name)
        except TimeoutError as err:
            raise PollTimeout(f"upsd {client.address} did not answer within "
                              f"{target.timeout * 0.9:g}s") from err

    async def _read_ups(self, client: NutClient, ups: str, name: str) -> Reading:
        await client.verify_login(ups)
        variables = await client.list_var(ups)
        try:
            clients = await client.list_client(ups)
        except NutError as err:  # older upsd without LIST CLIENT: not worth failing for
            log.debug("LIST CLIENT %s on %s: %s", ups, client.address, err)
            clients = []
        return reading_from_vars(name, variables, clients=clients, extra={
            "nut": {"host": client.host, "port": client.port, "ups": ups,
                    "tls": client.tls_active}})

    async def _poll_discovery(self, target: Target) -> list[Reading]:
        where: _Discovery = target.settings
        client = self.client(NutConfig(host=where.host, port=where.port))
        deadline = target.timeout * 0.9
        started = time.time()
        try:
            async with asyncio.timeout(deadline):
                names = sorted(await client.list_ups())
        except (TargetUnreachable, TimeoutError, PollTimeout) as err:
            if not self._discovered:
                log.debug("no upsd on %s (%s): no UPS to discover", client.address, err)
                return []
            reason = "timeout" if isinstance(err, TimeoutError | PollTimeout) else "unreachable"
            return [Reading(KIND, n, started, False, reason=reason, message=str(err))
                    for n in sorted(self._discovered)]
        self._discovered = set(names)
        readings = []
        for name in names:
            try:
                remaining = max(0.1, deadline - (time.time() - started))
                async with asyncio.timeout(remaining):
                    readings.append(await self._read_ups(client, name, name))
            except CollectorError as err:
                readings.append(Reading(KIND, name, time.time(), False, reason=err.reason,
                                        message=str(err)))
            except TimeoutError:
                readings.append(Reading(KIND, name, time.time(), False, reason="timeout",
                                        message=f"upsd {client.address} did not answer "
                                                f"within {deadline:g}s"))
        return readings

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


@register(KIND)
def _factory(config: Config) -> NutCollector | None:
    if config.ups is None:
        return NutCollector([], discover=True)
    entries = [entry for entry in config.ups if entry.nut is not None]
    return NutCollector(entries) if entries else None
