"""UPS units behind NUT's ``upsd``, mapped into the one UPS metric model (``ups_model``).

Targets: every ``ups:`` entry with ``nut:``. An entry whose ``nut:`` has no ``ups:`` stands
for every UPS its upsd lists (``LIST UPS`` each poll): each becomes a reading of its own
under its NUT name (``_Discovery.label`` keeps names unique), a UPS that disappears from the
list stays, reported down with reason ``config``, and an upsd that lists nothing or refuses
to is reported on the entry's own name. When the top-level ``ups`` key is omitted
altogether, the same happens for 127.0.0.1:3493, except that a host without NUT simply has
no UPS readings (one debug line), never a false "down".

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
from typing import Any, Final

from upkeep.collectors.base import Collector, Target, register
from upkeep.collectors.nut_client import NutClient, TlsSettings, check_name
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
from upkeep.collectors.ups_model import (
    summary as summary,  # re-exported: the one UPS summary, whatever the source
)
from upkeep.config import Config
from upkeep.config.ups import NutConfig, UpsConfig
from upkeep.errors import CollectorError, PollTimeout, ProtocolError
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


#: The alarm texts NUT's drivers emit into ``ups.alarm``. Drivers join several alarms with
#: single spaces (drivers/dstate.c ``alarm_set``) and brackets are optional, so the text is
#: split on these. Taken from networkupstools/nut: drivers/usbhid-ups.c ``ups_alarm_set``
#: at commit 00fe31aea4d9aef91b81b4a93ef7988d7c53b1cb (every usbhid-ups subdriver), the
#: ``ups.alarm`` lookup tables of drivers/mge-hid.c ("MGE HID 1.44"), drivers/netxml-ups.c
#: ``netxml_alarm_set`` and drivers/blazer.c / nutdrv_qx (``UPS selftest failed!``); all
#: of them also appear in Debian's nut-server 2.8.0 driver binaries.
ALARM_TEXTS: Final = (
    "Replace battery!", "Shutdown imminent!", "Fan failure!", "No battery installed!",
    "Battery voltage too low!", "Battery voltage too high!", "Battery charger fail!",
    "Temperature too high!", "Internal UPS fault!", "Awaiting power!", "Fuse fault!",
    "Automatic bypass mode!", "Manual bypass mode!", "Communication fault!",
    "Emergency stop!", "Wiring fault!", "Fatal EEPROM fault!",
    "Inverter AC voltage too high!", "Inverter AC voltage too low!", "Output short circuit!",
    "UPS selftest failed!",
)
_KNOWN_ALARM = re.compile("|".join(re.escape(t) for t in sorted(ALARM_TEXTS, key=len,
                                                                  reverse=True)), re.IGNORECASE)
_BRACKETED_OR_LOOSE = re.compile(r"\[([^\[\]]*)\]|([^\[\]]+)")
#: more alarms than this from one UPS is a broken driver: the rest are dropped (cardinality)
MAX_ALARMS: Final = 16
_MAX_ALARM_TEXT = 4096


def _split_known_alarms(text: str) -> list[str]:
    """Known alarm texts out of ``text``; each run of other text in between stays whole."""
    parts, start = [], 0
    for match in _KNOWN_ALARM.finditer(text):
        parts += [text[start:match.start()], match.group()]
        start = match.end()
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def parse_alarms(text: str | None) -> tuple[str, ...]:
    """``ups.alarm`` into snake_case names: "Replace battery! Shutdown imminent!" and
    "[Overload] [Fan failure!]" alike; text that is no known alarm is kept as one name."""
    if not text or not text.strip():
        return ()
    pieces: list[str] = []
    for bracketed, loose in _BRACKETED_OR_LOOSE.findall(text[:_MAX_ALARM_TEXT]):
        pieces += [bracketed] if bracketed else _split_known_alarms(loose)
    names = []
    for part in pieces:
        name = re.sub(r"[^0-9a-z]+", "_", part.strip().lower()).strip("_")[:64].rstrip("_")
        if name:
            names.append(name)
    return tuple(dict.fromkeys(names))[:MAX_ALARMS]


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


def reading_from_vars(name: str, variables: Mapping[str, str], *, clients: Sequence[str] = (),
                      when: float | None = None, extra: Mapping[str, Any] | None = None
                      ) -> Reading:
    snap = snapshot_from_vars(name, variables)
    samples = [*ups_samples(snap), sample(UPS_CLIENTS, len(clients), ups=name)]
    info = info_from_snapshot(snap)
    info["clients"] = list(clients)
    info["fsd"] = "FSD" in snap.status
    return Reading(KIND, name, time.time() if when is None else when, True,
                   samples=tuple(samples), info={**info, **(extra or {})})


# --- I/O ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Discovery:
    """A target standing for every UPS one upsd lists: a ``nut:`` entry without ``ups:``
    (``entry`` set), or the local upsd when the config has no ``ups:`` key at all.

    Labels: a discovered UPS is named by its NUT name. With more than one discovering entry
    in the config (``qualify``), or when that name is another entry's (``taken``), it is
    ``NAME@ENTRY`` instead, so two upsd with a UPS of the same name never share a series.
    A UPS named like its own entry keeps the plain name (configs that named the entry after
    its UPS and left ``ups:`` out keep their series)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    entry: str | None = None
    nut: NutConfig | None = None
    qualify: bool = False
    taken: frozenset[str] = frozenset()

    def label(self, name: str) -> str:
        if self.entry is None or name == self.entry:
            return name
        return f"{name}@{self.entry}" if self.qualify or name in self.taken else name


#: a upsd listing more UPS than this is misbehaving; the rest are left out (one warning)
MAX_DISCOVERED = 64
_LABEL_JUNK = re.compile(r"[^A-Za-z0-9_.:@+-]+")


class NutCollector(Collector):
    kind = KIND

    def __init__(self, entries: Sequence[UpsConfig], discover: bool = False) -> None:
        self.entries = list(entries)
        self.discover = discover
        #: names of the config's other (SNMP) UPS entries: they share the ``ups`` label
        self.other_names: frozenset[str] = frozenset()
        self._clients: dict[tuple[Any, ...], NutClient] = {}
        #: per discovery target: every NUT name its upsd has listed since start-up
        self._discovered: dict[str, set[str]] = {}

    def targets(self) -> list[Target]:
        if self.discover:
            defaults = NutConfig()
            return [Target(KIND, f"nut@{DEFAULT_HOST}:{DEFAULT_PORT}", defaults.interval,
                           defaults.timeout, jitter=min(1.0, defaults.interval / 10),
                           settings=_Discovery())]
        discovering = [e for e in self.entries if e.nut is not None and e.nut.ups is None]
        names = frozenset(e.name for e in self.entries) | self.other_names
        out = []
        for entry in self.entries:
            assert entry.nut is not None
            settings: UpsConfig | _Discovery = entry
            if entry.nut.ups is None:
                settings = _Discovery(entry.nut.host, entry.nut.port, entry.name, entry.nut,
                                      qualify=len(discovering) > 1,
                                      taken=names - {entry.name})
            out.append(Target(KIND, entry.name, entry.nut.interval, entry.nut.timeout,
                              jitter=min(1.0, entry.nut.interval / 10), settings=settings))
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
        assert entry.nut is not None and entry.nut.ups is not None
        client = self.client(entry.nut)
        try:
            async with asyncio.timeout(target.timeout * 0.9):
                return await self._read_ups(client, entry.nut.ups, entry.name)
        except TimeoutError as err:
            raise PollTimeout(f"upsd {client.address} did not answer within "
                              f"{target.timeout * 0.9:g}s") from err

    async def _read_ups(self, client: NutClient, ups: str, name: str,
                        entry: str | None = None) -> Reading:
        await client.verify_login(ups)
        variables = await client.list_var(ups)
        try:
            clients = await client.list_client(ups)
        except NutError as err:  # older upsd without LIST CLIENT: not worth failing for
            log.debug("LIST CLIENT %s on %s: %s", ups, client.address, err)
            clients = []
        where: dict[str, Any] = {"host": client.host, "port": client.port, "ups": ups,
                                 "tls": client.tls_active}
        if entry is not None:
            where["entry"] = entry
        return reading_from_vars(name, variables, clients=clients, extra={"nut": where})

    async def _poll_discovery(self, target: Target) -> list[Reading]:
        where: _Discovery = target.settings
        client = self.client(where.nut or NutConfig(host=where.host, port=where.port))
        known = self._discovered.setdefault(target.name, set())
        deadline = target.timeout * 0.9
        started = time.time()

        def down(name: str, reason: str, message: str) -> Reading:
            return Reading(KIND, name, time.time(), False, reason=reason, message=message,
                           info={"nut": {"host": client.host, "port": client.port,
                                         "ups": name if name != target.name else None,
                                         "entry": where.entry}})

        try:
            async with asyncio.timeout(deadline):
                listed = await client.list_ups()
        except (CollectorError, TimeoutError) as err:
            reason = "timeout" if isinstance(err, TimeoutError) else err.reason
            message = (f"upsd {client.address} did not answer LIST UPS within {deadline:g}s"
                       if isinstance(err, TimeoutError) else f"LIST UPS: {err}")
            if not known:
                if where.entry is None and reason in ("timeout", "unreachable"):
                    log.debug("no upsd on %s (%s): no UPS to discover", client.address, err)
                    return []  # a host without NUT: nothing to monitor, nothing down
                return [down(target.name, reason, message)]
            return [down(where.label(n), reason, message) for n in sorted(known)]
        names = sorted(listed)
        if len(names) > MAX_DISCOVERED:
            log.warning("upsd %s lists %d UPS; monitoring the first %d", client.address,
                        len(names), MAX_DISCOVERED)
            names = names[:MAX_DISCOVERED]
        removed = sorted(known - set(names))
        known.update(names)
        if not known:
            if where.entry is None:
                return []
            return [down(target.name, "config", f"upsd {client.address} lists no UPS "
                                                "(LIST UPS is empty): nothing to monitor")]
        readings = [down(where.label(n), "config",
                         f"upsd {client.address} no longer lists UPS {n!r} "
                         "(removed from its ups.conf?)") for n in removed]
        for name in names:
            label = where.label(name)
            if not _valid_name(name):
                label = where.label(_LABEL_JUNK.sub("_", name)[:64])
                readings.append(down(label, "config", (
                    f"upsd {client.address} lists a UPS named {name[:60]!r}, which NUT "
                    "commands cannot address (a space or a character outside "
                    "A-Z a-z 0-9 _ . : @ + -)")))
                continue
            try:
                remaining = max(0.1, deadline - (time.time() - started))
                async with asyncio.timeout(remaining):
                    readings.append(await self._read_ups(client, name, label, where.entry))
            except CollectorError as err:
                readings.append(down(label, err.reason, str(err)))
            except TimeoutError:
                readings.append(down(label, "timeout", f"upsd {client.address} did not "
                                                      f"answer within {deadline:g}s"))
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
    if not entries:
        return None
    collector = NutCollector(entries)
    collector.other_names = frozenset(e.name for e in config.ups if e.nut is None)
    return collector


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except CollectorError:
        return False
    return True
