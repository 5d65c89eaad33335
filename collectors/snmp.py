"""UPS units over SNMP (v1, v2c, v3 authPriv): UPS-MIB, APC PowerNet, Eaton XUPS.

Two engines, chosen by measurement (issue 17; README "Dependencies, and why"):

- **gufo-snmp** (Rust BER/UDP core) carries every v2c request where it is installed (its
  wheels: Linux x86_64/aarch64/musl, macOS arm64): one connected UDP socket per target, kept
  between polls; this module's own loop around its non-blocking send/recv adds the retries,
  the deadline and the dropping of undecodable datagrams. Its GET answers carry no error
  status, so an empty answer (tooBig, or no such objects) or one it cannot decode (bigger
  than its 4080-byte buffer) halves a multi-object PDU as tooBig does.
- **pysnmp** carries what gufo-snmp cannot: SNMPv1 (gufo reports no error index, so a
  noSuchName could not say which object is missing), SNMPv3 (gufo sends no context name and
  reports every USM failure as one "authentication failed"), and v2c where gufo has no wheel
  (or with ``SnmpCollector(..., engine="pysnmp")``). That side lives in ``snmp_pysnmp``,
  imported only when the collector has such a target: a site whose cards all speak v2c
  never loads pysnmp or pyasn1 (~11 MB less RSS; issue 17, the import diet). Its design (see
  ``docs``/reference "pysnmp 7 and snmpsim") follows.

- ONE ``SnmpEngine`` for every target, created on the running loop at the first poll (an
  engine is bound to its loop; creating one costs ~100 ms and v3 discovery state lives in it).
  The one exception: pysnmp's USM checks an answer with the keys it finds by (agent engine
  ID, user name) alone, so one engine holds one key set per pair. Entries that name the same
  agent and user with different keys (one of them is wrong, or the agent was re-keyed and
  one entry not yet) get one more engine per extra key set; v1/v2c never need one.
- Requests go straight to pysnmp's command generators with numeric ``ObjectName``s: the HLAPI
  helpers resolve every varbind through a MIB view, and with ``pysmi`` importable that builds
  a MIB parser on the event loop (a 0.3-0.5 s stall). Nothing here imports pysmi.
- Each poll has a deadline of the target's ``timeout``; each request gets what is left of it
  (pysnmp's own timeout split over its retries, plus an ``asyncio.wait_for`` as a backstop).
- The MIB is chosen once per target (``mib: auto``) from one GET of sysObjectID plus one
  probe object per MIB, then kept; a unit that stops answering its MIB is re-detected.
- Scalars are read with GET, at most ``_MAX_VARBINDS`` per PDU (usually one PDU); the UPS-MIB
  alarm table is walked with GETBULK (GETNEXT on v1) only when alarms are present, and never
  beyond ``MAX_ALARM_ROWS`` rows.

Failures map to reasons: no answer -> ``timeout`` (an agent silently drops a wrong community,
so that looks the same); v3 unknown user / wrong digest / undecryptable -> ``auth``; wrong
value types or error statuses -> ``protocol``; a configured ``mib:`` that does not answer ->
``config``; no MIB answering under ``auto`` -> ``protocol``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from upkeep.collectors.base import Collector, Target, register
from upkeep.collectors.snmp_mibs import (
    DETECT_OIDS,
    MAX_ALARM_ROWS,
    PROFILES,
    MibProfile,
    Oid,
    Value,
    choose_profile,
)
from upkeep.collectors.ups_model import info_from_snapshot, ups_samples
from upkeep.config import Config
from upkeep.config.ups import SnmpConfig
from upkeep.errors import CollectorError, PollTimeout, ProtocolError, Reason
from upkeep.reading import Reading

if TYPE_CHECKING:  # imported for real only when a target needs pysnmp (``_pysnmp_engines``)
    from pysnmp.entity.engine import SnmpEngine

    from upkeep.collectors.snmp_pysnmp import PysnmpEngines

try:  # Rust core: wheels for Linux (x86_64, aarch64, musl) and macOS arm64 only
    from gufo.snmp import SnmpDecodeError as _FastDecodeError
    from gufo.snmp._fast import GetIter as _FastIter
    from gufo.snmp._fast import SnmpV2cClientSocket as _FastV2c
    _HAVE_FAST = True
except ImportError:  # pragma: no cover - other platforms use pysnmp for v2c too
    _HAVE_FAST = False

KIND = "snmp"
log = logging.getLogger(__name__)

#: varbinds per GET PDU: small enough for the slow processors of old network cards and for
#: a 1472-byte UDP payload of answers, large enough that a whole profile fits in one or two
_MAX_VARBINDS = 40
_BULK_REPETITIONS = 16
#: requests in flight at once over the shared socket: 500 units answering within the same
#: millisecond overflow a default-sized receive buffer (answers dropped = false timeouts)
_MAX_IN_FLIGHT = 128


@dataclass
class _Session:
    """Per-target state kept between polls (never the secrets' plain text in logs)."""

    name: str
    cfg: SnmpConfig
    #: (socket family, resolved address), learnt once per engine
    address: tuple[int, tuple[str, int]] | None = None
    #: the engine's target-address entry for this target
    addr_name: str | None = None
    profile: MibProfile | None = None
    #: the agent's authoritative engine ID (v3), learnt once by discovery
    engine_id: bytes | None = None
    #: which of the collector's engines carries this target's v3 keys (0: the shared one)
    slot: int = 0
    #: the gufo-snmp socket (v2c), made at the first request, kept until ``aclose``
    fast: Any = None
    #: the loop watching ``fast`` for answers (see ``_fast_request``), and who waits for one
    watched_by: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    waiter: asyncio.Future[bool] | None = field(default=None, repr=False)
    #: reader callbacks since the last request with nobody waiting (see ``_readable``)
    idle_wakeups: int = field(default=0, repr=False)
    #: (column, gufo GETBULK iterator) of the walk in progress: it remembers where it is
    walk: tuple[str, Any] | None = None
    down: bool = False
    last_error: str = field(default="", repr=False)


class SnmpCollector(Collector):
    kind = KIND

    def __init__(self, entries: Sequence[tuple[str, SnmpConfig]], engine: str = "auto") -> None:
        """``engine``: ``auto`` (gufo-snmp for v2c where installed, pysnmp for the rest) or
        ``pysnmp`` (pysnmp for everything: what other platforms get; for tests and bench)."""
        self._entries = list(entries)
        self._fast_v2c = engine == "auto" and _HAVE_FAST
        self._sessions = {name: _Session(name, cfg) for name, cfg in self._entries}
        self._slots = asyncio.Semaphore(_MAX_IN_FLIGHT)
        #: pysnmp's engines: made (and pysnmp imported) only if a target needs them
        self._pysnmp: PysnmpEngines | None = None
        if any(self._needs_pysnmp(cfg) for _name, cfg in self._entries):
            self._pysnmp_engines()

    def targets(self) -> Sequence[Target]:
        return [Target(KIND, name, cfg.interval, cfg.timeout, jitter=min(cfg.interval / 10, 1.0),
                       settings=cfg) for name, cfg in self._entries]

    # --- pysnmp -------------------------------------------------------------------------------

    def _needs_pysnmp(self, cfg: SnmpConfig) -> bool:
        return not (self._fast_v2c and cfg.version == "2c")

    def _pysnmp_engines(self) -> PysnmpEngines:
        """The pysnmp side (``snmp_pysnmp``), imported and made at the first need of it."""
        if self._pysnmp is None:
            from upkeep.collectors.snmp_pysnmp import PysnmpEngines

            self._pysnmp = PysnmpEngines(self)
        return self._pysnmp

    def engine(self, slot: int = 0) -> SnmpEngine:
        """The pysnmp engine of ``slot`` on the running loop (0: the one every target shares)."""
        return self._pysnmp_engines().tables_at(slot).engine

    async def aclose(self) -> None:
        for session in self._sessions.values():
            _unwatch(session)
            session.fast = None  # its socket closes with the object
        if self._pysnmp is not None:
            await self._pysnmp.aclose()

    # --- poll --------------------------------------------------------------------------------

    async def poll(self, target: Target) -> Reading:
        session = self._sessions[target.name]
        started = time.monotonic()
        deadline = started + target.timeout * 0.9
        try:
            reading = await self._poll(session, deadline)
        except CollectorError as err:
            if not session.down or session.last_error != err.reason:
                log.warning("SNMP UPS %s: %s (%s)", session.name, err, err.reason)
            session.down, session.last_error = True, err.reason
            raise
        if session.down:
            log.info("SNMP UPS %s answers again", session.name)
        session.down, session.last_error = False, ""
        return reading

    async def _poll(self, session: _Session, deadline: float) -> Reading:
        cfg = session.cfg
        if cfg.version == "3" and session.engine_id is None:
            await self._pysnmp_engines().discover_engine_id(session, deadline)
        if session.profile is None:
            session.profile = await self._detect(session, deadline)
        profile = session.profile
        oids = [f.oid for f in profile.fields]
        answers = await self.get(session, oids, deadline)
        if answers.get(profile.probe) is None:
            # the unit no longer answers this MIB (card replaced, firmware changed)
            session.profile = None
            raise _no_mib_error(cfg, f"{profile.label} object {profile.probe} not answered")
        values = {profile.oids[oid]: value for oid, value in answers.items()
                  if oid in profile.oids}
        alarms: list[Oid] = []
        if profile.alarm_column is not None:
            count = values.get(profile.alarm_count or "")
            if count is None or (isinstance(count, int) and count > 0):
                alarms = await self.walk_column(session, profile.alarm_column, deadline)
        snapshot = profile.decode(session.name, values, alarms, time.time())
        snapshot.raw["mib"] = profile.name
        info = info_from_snapshot(snapshot)
        info["mib"] = profile.name
        return Reading(KIND, session.name, time.time(), True, samples=list(ups_samples(snapshot)),
                       info=info)

    async def _detect(self, session: _Session, deadline: float) -> MibProfile:
        cfg = session.cfg
        if cfg.mib != "auto":
            return PROFILES[cfg.mib]
        answers = await self.get(session, list(DETECT_OIDS), deadline)
        profile = choose_profile(answers)
        if profile is None:
            raise _no_mib_error(cfg, "none of UPS-MIB, PowerNet-MIB, XUPS-MIB answered "
                                f"(sysObjectID {str(answers.get(DETECT_OIDS[0]) or '?')})")
        log.info("SNMP UPS %s speaks %s", session.name, profile.label)
        return profile

    # --- requests ----------------------------------------------------------------------------

    async def _resolve(self, session: _Session, deadline: float
                       ) -> tuple[int, tuple[str, int]]:
        """(socket family, (address, port)) of the target, resolved once."""
        if session.address is not None:
            return session.address
        cfg = session.cfg
        try:
            ip = ipaddress.ip_address(cfg.host)
            address = (str(ip), cfg.port)
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        except ValueError:
            budget = max(deadline - time.monotonic(), 0.01)
            try:
                infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
                    cfg.host, cfg.port, type=socket.SOCK_DGRAM), budget)
            except TimeoutError as err:
                raise PollTimeout(f"resolving {cfg.host} took longer than {budget:.1f}s") from err
            except OSError as err:
                raise CollectorError(f"cannot resolve {cfg.host}: {err}",
                                     reason=Reason.UNREACHABLE) from err
            family, sockaddr = infos[0][0], infos[0][4]
            address = (str(sockaddr[0]), int(sockaddr[1]))
        session.address = (family, address)
        return session.address

    async def _send(self, session: _Session, deadline: float, kind: str,
                    oids: Sequence[str], repetitions: int = 0, discovery: bool = False,
                    column: str = "") -> list[tuple[str, Any]]:
        if self._fast_v2c and session.cfg.version == "2c":
            return await self._send_fast(session, deadline, kind, oids, repetitions, column)
        return await self._pysnmp_engines().send(session, deadline, kind, oids, repetitions,
                                                 discovery)

    async def _send_fast(self, session: _Session, deadline: float, kind: str,
                         oids: Sequence[str], repetitions: int, column: str
                         ) -> list[tuple[str, Value]]:
        """One v2c request through gufo-snmp (one connected UDP socket per target, BER in
        Rust). Its answers carry no error status: a GET answer with no value at all (tooBig,
        or nothing there) or one it cannot decode (more than its 4080-byte buffer, or not
        SNMP) is reported as tooBig for a multi-object PDU, so ``get`` halves it; a lone
        object's undecodable answer is dropped like garbage, waiting on to the timeout."""
        sock = session.fast
        if sock is None:
            _family, (ip, port) = await self._resolve(session, deadline)
            community = session.cfg.community.get_secret_value() if session.cfg.community \
                else "public"
            addr = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
            sock = session.fast = _FastV2c(addr, community, 0, 0, 0, 0)
        it: Any = None
        if kind == "get":
            def send() -> None:
                sock.send_get_many(list(oids))

            def recv() -> Any:
                return sock.recv_get_many()
        else:  # GETBULK of one column; gufo stops at the column's end
            if session.walk is None or session.walk[0] != column or oids[0] == column:
                session.walk = (column, _FastIter(column, _BULK_REPETITIONS))
            it = session.walk[1]

            def send() -> None:
                sock.send_get_bulk(it)

            def recv() -> Any:
                return sock.recv_get_bulk(it)
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(),
                                       max(deadline - time.monotonic(), 0.01))
            except TimeoutError as err:
                raise PollTimeout(f"{_timeout_message(session)}: all {_MAX_IN_FLIGHT} "
                                  "request slots busy") from err
        else:  # a free slot is taken at once (wait_for would make a task for it on 3.11)
            await self._slots.acquire()
        try:
            answer = await _fast_request(session, send, recv, deadline,
                                         lone=kind != "get" or len(oids) == 1)
        except TimeoutError as err:
            raise PollTimeout(_timeout_message(session)) from err
        except _FastDecodeError as err:  # a multi-object GET: see above
            raise _StatusError(1, 0, f"undecodable answer ({err})") from err
        except OSError as err:
            raise CollectorError(f"cannot send to {session.cfg.host}: {err}",
                                 reason=Reason.UNREACHABLE) from err
        finally:
            self._slots.release()
        if kind == "get":
            if not answer and len(oids) > 1:
                raise _StatusError(1, 0, "empty answer")
            return [(oid, _fast_plain(answer.get(oid))) for oid in oids]
        rows: list[tuple[str, Value]] = []
        for item in answer or ():
            if item is None:  # gufo's end-of-walk mark
                break
            rows.append((str(item[0]), _fast_plain(item[1])))
        return rows

    async def get(self, session: _Session, oids: Sequence[str], deadline: float
                  ) -> dict[str, Value]:
        """GET ``oids`` (several PDUs if needed). Missing objects come back as None."""
        out: dict[str, Value] = {}
        pending = [list(oids[i:i + _MAX_VARBINDS]) for i in range(0, len(oids), _MAX_VARBINDS)]
        while pending:
            chunk = pending.pop(0)
            try:
                answer = await self._send(session, deadline, "get", chunk)
            except _StatusError as err:
                if err.status == 2 and 0 < err.index <= len(chunk):
                    # SNMPv1 noSuchName names one missing object: drop it and ask again
                    out[chunk.pop(err.index - 1)] = None
                    if chunk:
                        pending.insert(0, chunk)
                    continue
                if err.status == 1 and len(chunk) > 1:  # tooBig: halve the PDU
                    half = len(chunk) // 2
                    pending[:0] = [chunk[:half], chunk[half:]]
                    continue
                raise ProtocolError(f"SNMP GET failed: {err.text}") from err
            if len(answer) != len(chunk):
                raise ProtocolError(f"SNMP GET answered {len(answer)} of {len(chunk)} objects")
            for asked, (oid, value) in zip(chunk, answer, strict=True):
                if oid != asked:
                    raise ProtocolError(f"SNMP GET for {asked} answered {oid}")
                out[asked] = value
        return out

    async def walk_column(self, session: _Session, column: str, deadline: float
                          ) -> list[Oid]:
        """The OID values of one table column, at most ``MAX_ALARM_ROWS`` rows."""
        prefix = column + "."
        rows: list[Oid] = []
        cursor = column
        bulk = session.cfg.version != "1"
        for _ in range(MAX_ALARM_ROWS + 1):  # bounded even if every answer has one row
            want = min(_BULK_REPETITIONS, MAX_ALARM_ROWS - len(rows))
            try:
                answer = await self._send(session, deadline, "bulk" if bulk else "next",
                                          [cursor], repetitions=want, column=column)
            except _StatusError as err:
                if err.status == 2:  # v1 noSuchName: end of the MIB view
                    break
                raise ProtocolError(f"SNMP walk of {column} failed: {err.text}") from err
            progressed = False
            for oid, value in answer:
                if not oid.startswith(prefix) or value is None:
                    return rows
                if _oid_key(oid) <= _oid_key(cursor):
                    raise ProtocolError(f"SNMP walk of {column}: OID not increasing at {oid}")
                if not isinstance(value, Oid):
                    raise ProtocolError(f"alarm table row {oid} is not an OID")
                rows.append(value)
                cursor, progressed = oid, True
                if len(rows) >= MAX_ALARM_ROWS:
                    log.warning("SNMP UPS %s: alarm table longer than %d rows, rest ignored",
                                session.name, MAX_ALARM_ROWS)
                    return rows
            if not progressed:
                break
        return rows


async def _fast_request(session: _Session, send: Any, recv: Any, deadline: float,
                        lone: bool) -> Any:
    """Send, then read the socket until an answer decodes; resend after each try's share of
    the timeout (``retries``), never past ``deadline``. Raises TimeoutError when no answer
    came; an undecodable datagram ends a multi-object GET (``lone`` False) with the decode
    error, else it is dropped. A stale answer to an earlier try is dropped by gufo-snmp
    (request ID).

    The loop keeps watching the socket between requests (``_readable``), so a request costs
    no epoll registration and removal; a datagram nobody waits for (a late answer) ends the
    watch until the next request."""
    loop = asyncio.get_running_loop()
    cfg = session.cfg
    per_try = max(cfg.timeout * 0.9 / (cfg.retries + 1), 0.05)
    for _attempt in range(cfg.retries + 1):
        try_end = min(deadline, time.monotonic() + per_try)
        send()
        while True:
            remaining = try_end - time.monotonic()
            if remaining <= 0:
                break
            ready: asyncio.Future[bool] = loop.create_future()
            session.waiter, session.idle_wakeups = ready, 0
            if session.watched_by is not loop:
                _unwatch(session)
                loop.add_reader(session.fast.get_fd(), _readable, session)
                session.watched_by = loop
            timer = loop.call_later(remaining, _expire, ready)
            try:
                readable = await ready
            finally:
                timer.cancel()
                session.waiter = None
            if not readable:
                break
            try:
                return recv()
            except (BlockingIOError, StopAsyncIteration) as err:
                if isinstance(err, StopAsyncIteration):
                    return None  # GETBULK: end of the column or of the MIB view
                continue
            except TimeoutError:  # ICMP port unreachable ("connection refused"): no agent
                continue
            except _FastDecodeError:
                if not lone:
                    raise
                continue
        if time.monotonic() >= deadline:
            break
    raise TimeoutError


def _readable(session: _Session) -> None:
    """The loop's reader callback for a session's socket: wakes the request waiting for an
    answer. One call with nobody waiting is normal: the loop saw the answer readable again
    before the woken request read it. A second means a datagram nobody asked for (a late
    answer): the watch ends, or a level-triggered socket would call this on every turn of
    the loop; the next request watches again."""
    waiter = session.waiter
    if waiter is None:
        session.idle_wakeups += 1
        if session.idle_wakeups > 1:
            _unwatch(session)
    elif not waiter.done():
        waiter.set_result(True)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


def _unwatch(session: _Session) -> None:
    loop, session.watched_by = session.watched_by, None
    if loop is not None and session.fast is not None and not loop.is_closed():
        loop.remove_reader(session.fast.get_fd())


def _fast_plain(value: Any) -> Value:
    """gufo-snmp value -> int | bytes | Oid | None. gufo gives OIDs as ``str`` (and an
    IpAddress as ``str`` too, which the UPS profiles never read), Opaque floats as float."""
    if value is None or isinstance(value, int | bytes):
        return value
    if isinstance(value, str):
        return Oid(value)
    raise ProtocolError(f"unexpected SNMP value type {type(value).__name__}")


class _StatusError(Exception):
    def __init__(self, status: int, index: int, text: str) -> None:
        super().__init__(text)
        self.status, self.index, self.text = status, index, text


def _oid_key(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.split(".") if p)


def _timeout_message(session: _Session) -> str:
    cfg = session.cfg
    hint = " (or wrong community)" if cfg.version in ("1", "2c") else ""
    return f"no SNMP answer from {cfg.host}:{cfg.port} within {cfg.timeout:g}s{hint}"


def _no_mib_error(cfg: SnmpConfig, message: str) -> CollectorError:
    if cfg.mib != "auto":
        return CollectorError(f"mib: {cfg.mib} does not answer: {message}", reason=Reason.CONFIG)
    return ProtocolError(message)


@register(KIND)
def _factory(config: Config) -> SnmpCollector | None:
    entries = [(ups.name, ups.snmp) for ups in (config.ups or []) if ups.snmp is not None]
    return SnmpCollector(entries) if entries else None


__all__ = ["SnmpCollector"]
