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
  (or with ``SnmpCollector(..., engine="pysnmp")``). Its design (see ``docs``/reference
  "pysnmp 7 and snmpsim") follows.

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
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyasn1.type.univ import Integer as _Integer
from pyasn1.type.univ import Null, ObjectIdentifier, OctetString
from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config as engine_config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.proto import errind
from pysnmp.proto.rfc1902 import ObjectName
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from upkeep.collectors.base import Collector, Target, register
from upkeep.collectors.snmp_mibs import (
    DETECT_OIDS,
    MAX_ALARM_ROWS,
    PROFILES,
    SYS_UPTIME,
    MibProfile,
    Oid,
    Value,
    choose_profile,
)
from upkeep.collectors.ups_model import info_from_snapshot, ups_samples
from upkeep.config import Config
from upkeep.config.ups import SnmpConfig
from upkeep.errors import AuthFailed, CollectorError, PollTimeout, ProtocolError, Reason
from upkeep.reading import Reading

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
#: receive buffer asked for the shared socket (the kernel caps it at net.core.rmem_max
#: unless we may force it)
_RCVBUF = 4 * 1024 * 1024

_AUTH = {"MD5": engine_config.USM_AUTH_HMAC96_MD5, "SHA": engine_config.USM_AUTH_HMAC96_SHA,
         "SHA224": engine_config.USM_AUTH_HMAC128_SHA224,
         "SHA256": engine_config.USM_AUTH_HMAC192_SHA256,
         "SHA384": engine_config.USM_AUTH_HMAC256_SHA384,
         "SHA512": engine_config.USM_AUTH_HMAC384_SHA512}
_PRIV = {"DES": engine_config.USM_PRIV_CBC56_DES, "3DES": engine_config.USM_PRIV_CBC168_3DES,
         "AES": engine_config.USM_PRIV_CFB128_AES, "AES128": engine_config.USM_PRIV_CFB128_AES,
         "AES192": engine_config.USM_PRIV_CFB192_AES,
         "AES256": engine_config.USM_PRIV_CFB256_AES}
#: v3 answers that mean "your credentials are wrong", not "the agent is away"
_AUTH_ERRORS = (errind.UnknownUserName, errind.WrongDigest, errind.DecryptionError,
                errind.AuthenticationFailure, errind.AuthenticationError,
                errind.UnsupportedSecurityLevel, errind.UnknownSecurityName,
                errind.UnknownCommunityName, errind.NoSuchContext, errind.NoAccessEntry,
                errind.NotInView, errind.NoSuchView, errind.NoGroupName)
_DISCOVERY_USER = "upkeep-discovery"


@dataclass
class _Session:
    """Per-target state kept between polls (never the secrets' plain text in logs)."""

    name: str
    cfg: SnmpConfig
    #: (transport domain, resolved address), learnt once per engine
    address: tuple[tuple[int, ...], tuple[str, int]] | None = None
    #: the engine's target-address entry for this target
    addr_name: str | None = None
    profile: MibProfile | None = None
    #: the agent's authoritative engine ID (v3), learnt once by discovery
    engine_id: bytes | None = None
    #: which of the collector's engines carries this target's v3 keys (0: the shared one)
    slot: int = 0
    #: the gufo-snmp socket (v2c), made at the first request, kept until ``aclose``
    fast: Any = None
    #: (column, gufo GETBULK iterator) of the walk in progress: it remembers where it is
    walk: tuple[str, Any] | None = None
    down: bool = False
    last_error: str = field(default="", repr=False)


class _EngineTables:
    """What pysnmp's HLAPI "LCD" helper does, without importing the HLAPI: that package pulls
    in pysnmp.smi.compiler, which imports pysmi when installed. Entries are shared where the
    wire identity is the same (one community entry per community string and version, one
    user per (engine ID, user name)) so 500 targets cost 500 small rows, not 500 of each.
    The collector never gives one engine two key sets for the same (engine ID, user name)."""

    def __init__(self, engine: SnmpEngine) -> None:
        self.engine = engine
        self.names: dict[tuple[Any, ...], str] = {}
        self.users: dict[tuple[bytes, str], tuple[Any, ...]] = {}
        self.domains: set[tuple[int, ...]] = set()

    def _name(self, prefix: str, key: tuple[Any, ...]) -> tuple[str, bool]:
        name = self.names.get(key)
        if name is not None:
            return name, False
        name = self.names[key] = f"{prefix}{len(self.names)}"
        return name, True

    def params(self, cfg: SnmpConfig, engine_id: bytes | None, discovery: bool = False) -> str:
        if cfg.version in ("1", "2c"):
            mp_model = 0 if cfg.version == "1" else 1
            community = cfg.community.get_secret_value() if cfg.community else "public"
            sec_name, new = self._name("c", ("community", community, mp_model))
            if new:
                engine_config.add_v1_system(self.engine, sec_name, community,
                                            securityName=sec_name)
            level = "noAuthNoPriv"
        elif discovery:
            mp_model, level = 3, "noAuthNoPriv"
            sec_name = _DISCOVERY_USER
            if (b"", sec_name) not in self.users:
                engine_config.add_v3_user(self.engine, sec_name)
                self.users[(b"", sec_name)] = ()
        else:
            mp_model = 3
            sec_name = self._user(cfg, engine_id or b"")
            level = ("authPriv" if cfg.priv else "authNoPriv" if cfg.auth else "noAuthNoPriv")
        params, new = self._name("p", ("params", sec_name, level, mp_model))
        if new:
            engine_config.add_target_parameters(self.engine, params, sec_name, level, mp_model)
        return params

    def _user(self, cfg: SnmpConfig, engine_id: bytes) -> str:
        """The user's row pinned to its agent's engine ID (pysnmp's USM table is keyed by
        (engine ID, user name), so agents sharing a user name keep their own keys), plus one
        unpinned row per user name, the template pysnmp clones from when it has to discover
        an engine on its own (e.g. after its 300 s peer cache expires; discovery sends no
        keys, so that row's keys never matter)."""
        user = cfg.user or ""
        (auth, priv) = keys = _v3_keys(cfg)
        if (b"", user) not in self.users:
            engine_config.add_v3_user(self.engine, user, auth[0], auth[1], priv[0], priv[1])
            self.users[(b"", user)] = keys
        if not engine_id:
            return user
        known = self.users.get((engine_id, user))
        if known is None:
            engine_config.add_v3_user(self.engine, user, auth[0], auth[1], priv[0], priv[1],
                                      securityEngineId=OctetString(engine_id))
            self.users[(engine_id, user)] = keys
        elif known != keys:  # the collector's slots exist to prevent exactly this
            raise RuntimeError(f"two key sets for SNMPv3 user {user!r} in one engine")
        return user

    def target(self, params: str, domain: tuple[int, ...], address: tuple[str, int],
               timeout: float, retries: int) -> str:
        if domain not in self.domains:
            transport = (udp6.Udp6AsyncioTransport() if domain == udp6.DOMAIN_NAME
                         else udp.UdpAsyncioTransport()).open_server_mode(sock=_socket(domain))
            engine_config.add_transport(self.engine, domain, transport)
            self.domains.add(domain)
        name, new = self._name("a", ("addr", params, domain, address, timeout, retries))
        if new:
            engine_config.add_target_address(self.engine, name, domain, address, params,
                                             timeout=timeout * 100, retryCount=retries)
        return name


_Keys = tuple[tuple[Any, str | None], tuple[Any, str | None]]


def _v3_keys(cfg: SnmpConfig) -> _Keys:
    """((auth protocol, pass phrase), (priv protocol, pass phrase)) of a v3 target."""
    auth = (_AUTH[cfg.auth.protocol], cfg.auth.password.get_secret_value()) if cfg.auth \
        else (engine_config.USM_AUTH_NONE, None)
    priv = (_PRIV[cfg.priv.protocol], cfg.priv.password.get_secret_value()) if cfg.priv \
        else (engine_config.USM_PRIV_NONE, None)
    return auth, priv


def _socket(domain: tuple[int, ...]) -> socket.socket:
    """One engine's UDP socket (every target shares engine 0's), sized for a fleet."""
    family = socket.AF_INET6 if domain == udp6.DOMAIN_NAME else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), _RCVBUF)
    except OSError:  # not privileged: the kernel's rmem_max applies
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
    sock.setblocking(False)
    return sock


def _plain(value: Any) -> Value:
    """pysnmp value -> int | bytes | Oid | None (the pure layer's vocabulary)."""
    if isinstance(value, NoSuchObject | NoSuchInstance | EndOfMibView | Null):
        return None
    if isinstance(value, _Integer) or value.__class__.__name__ in (
            "Counter32", "Counter64", "Gauge32", "Unsigned32", "TimeTicks", "Integer32"):
        return int(value)
    if isinstance(value, ObjectIdentifier):
        return Oid(str(value))
    if isinstance(value, OctetString):
        return bytes(value)
    raise ProtocolError(f"unexpected SNMP value type {type(value).__name__}")


class SnmpCollector(Collector):
    kind = KIND

    def __init__(self, entries: Sequence[tuple[str, SnmpConfig]], engine: str = "auto") -> None:
        """``engine``: ``auto`` (gufo-snmp for v2c where installed, pysnmp for the rest) or
        ``pysnmp`` (pysnmp for everything: what other platforms get; for tests and bench)."""
        self._entries = list(entries)
        self._fast_v2c = engine == "auto" and _HAVE_FAST
        self._sessions = {name: _Session(name, cfg) for name, cfg in self._entries}
        #: [0] serves every target; [n] only v3 key sets that clash with one in [0..n-1]
        self._engines: list[_EngineTables] = []
        #: (agent engine ID, user name) -> the key sets seen, the n-th living in engine n
        self._key_slots: dict[tuple[bytes, str], list[_Keys]] = {}
        self._engine_ids: dict[tuple[str, int], bytes] = {}
        self._slots = asyncio.Semaphore(_MAX_IN_FLIGHT)
        self._loop: asyncio.AbstractEventLoop | None = None

    def targets(self) -> Sequence[Target]:
        return [Target(KIND, name, cfg.interval, cfg.timeout, jitter=min(cfg.interval / 10, 1.0),
                       settings=cfg) for name, cfg in self._entries]

    # --- engine ------------------------------------------------------------------------------

    def engine(self, slot: int = 0) -> SnmpEngine:
        """The engine of ``slot`` on the running loop (0: the one every target shares)."""
        return self._tables_at(slot).engine

    def _tables_at(self, slot: int) -> _EngineTables:
        loop = asyncio.get_running_loop()
        if not self._engines or self._loop is not loop:
            self._close_engines()
            self._slots = asyncio.Semaphore(_MAX_IN_FLIGHT)
            self._loop = loop
            self._engine_ids = {}
            self._key_slots = {}
            for session in self._sessions.values():  # their entries lived in the old engine
                session.addr_name = session.engine_id = None
                session.slot = 0
        while len(self._engines) <= slot:
            engine = SnmpEngine()
            engine.observer.register_observer(
                self._seen_engine_id, "rfc3412.prepareDataElements:internal")
            self._engines.append(_EngineTables(engine))
        return self._engines[slot]

    def _slot(self, session: _Session) -> int:
        """The engine for this target's v3 keys: the first one that holds no other keys for
        the same (agent engine ID, user name)."""
        cfg = session.cfg
        if cfg.version != "3" or not session.engine_id:
            return 0
        keys = _v3_keys(cfg)
        seen = self._key_slots.setdefault((session.engine_id, cfg.user or ""), [])
        if keys not in seen:
            seen.append(keys)
            if len(seen) > 1:
                log.info("SNMP UPS %s: another entry uses SNMPv3 user %r on the same agent "
                         "with other keys; this one gets an SNMP engine of its own",
                         session.name, cfg.user)
        return seen.index(keys)

    def _seen_engine_id(self, _engine: Any, _point: str, variables: dict[str, Any],
                        _ctx: Any) -> None:
        engine_id = variables.get("securityEngineId")
        address = variables.get("transportAddress")
        if engine_id and address:
            self._engine_ids[(str(address[0]), int(address[1]))] = bytes(engine_id)

    def _close_engines(self) -> None:
        for tables in self._engines:
            dispatcher = tables.engine.transport_dispatcher
            if dispatcher is not None:
                dispatcher.close_dispatcher()
        self._engines = []

    async def aclose(self) -> None:
        for session in self._sessions.values():
            session.fast = None  # its socket closes with the object
        if self._engines:
            # stop reading first, then let answers already queued on the loop be handled
            # while their transport is still registered (else pysnmp logs "Unregistered
            # transport" for each late answer)
            for tables in self._engines:
                for domain in tables.domains:
                    carrier = engine_config.get_transport(tables.engine, domain)
                    sock_transport = getattr(carrier, "transport", None)
                    if sock_transport is not None:
                        sock_transport.pause_reading()
            await asyncio.sleep(0)
        self._close_engines()

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
            await self._discover_engine_id(session, deadline)
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

    async def _discover_engine_id(self, session: _Session, deadline: float) -> None:
        """Learn the agent's engine ID with a credential-free request (RFC 3414 discovery).

        pysnmp keys its USM user table by (engine ID, user name), and the LCD helper by the
        same: with the engine ID unknown, two agents that share a user name but not its keys
        would overwrite each other's keys in the one engine. Pinning each target's user to
        its agent's engine ID keeps them apart (and tells when two entries give the same
        agent's user different keys: see ``_slot``). Discovery always uses engine 0.
        """
        # the expected answer is "unknown user", after the report that names the engine ID
        with contextlib.suppress(AuthFailed, ProtocolError, _StatusError):
            await self._send(session, deadline, "get", [SYS_UPTIME], discovery=True)
        address = session.address[1] if session.address else None
        engine_id = self._engine_ids.get((str(address[0]), int(address[1]))) if address else None
        if engine_id is None:
            raise ProtocolError(f"SNMPv3 engine discovery with {session.cfg.host} failed")
        session.engine_id = engine_id
        session.addr_name = None

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
                       ) -> tuple[tuple[int, ...], tuple[str, int]]:
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
        domain = udp6.DOMAIN_NAME if family == socket.AF_INET6 else udp.DOMAIN_NAME
        session.address = (domain, address)
        return session.address

    async def _addr_name(self, session: _Session, deadline: float, discovery: bool
                         ) -> tuple[SnmpEngine, str]:
        self._tables_at(0)  # on a new loop, this forgets what the old engines knew
        if session.addr_name is not None and not discovery:
            return self._tables_at(session.slot).engine, session.addr_name
        cfg = session.cfg
        domain, address = await self._resolve(session, deadline)
        slot = 0 if discovery else self._slot(session)
        tables = self._tables_at(slot)
        params = tables.params(cfg, session.engine_id, discovery)
        # pysnmp waits `timeout` per try and tries 1 + retries times: split the target's
        # timeout (fixed per target, so the engine holds one address entry per target)
        per_try = max(cfg.timeout * 0.9 / (cfg.retries + 1), 0.05)
        name = tables.target(params, domain, address, per_try, cfg.retries)
        if not discovery:
            session.addr_name, session.slot = name, slot
        return tables.engine, name

    async def _send(self, session: _Session, deadline: float, kind: str,
                    oids: Sequence[str], repetitions: int = 0, discovery: bool = False,
                    column: str = "") -> list[tuple[str, Any]]:
        if self._fast_v2c and session.cfg.version == "2c":
            return await self._send_fast(session, deadline, kind, oids, repetitions, column)
        engine, addr_name = await self._addr_name(session, deadline, discovery)
        context = session.cfg.context
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, Any, Any, Any]] = loop.create_future()

        def done(_engine: Any, _handle: Any, error_indication: Any, error_status: Any,
                 error_index: Any, var_binds: Any, _ctx: Any) -> None:
            if not future.done():
                future.set_result((error_indication, error_status, error_index, var_binds))

        var_binds = [(ObjectName(oid), Null("")) for oid in oids]
        try:
            await asyncio.wait_for(self._slots.acquire(),
                                   max(deadline - time.monotonic(), 0.01))
        except TimeoutError as err:
            raise PollTimeout(f"{_timeout_message(session)}: all {_MAX_IN_FLIGHT} request "
                              "slots busy") from err
        try:
            if kind == "get":
                cmdgen.GetCommandGenerator().send_varbinds(engine, addr_name, None, context,
                                                           var_binds, done)
            elif kind == "next":
                cmdgen.NextCommandGeneratorSingleRun().send_varbinds(
                    engine, addr_name, None, context, var_binds, done)
            else:
                cmdgen.BulkCommandGeneratorSingleRun().send_varbinds(
                    engine, addr_name, None, context, 0, repetitions, var_binds, done)
            error_indication, error_status, error_index, answer = await asyncio.wait_for(
                future, max(deadline - time.monotonic(), 0.01))
        except TimeoutError as err:
            raise PollTimeout(_timeout_message(session)) from err
        finally:
            self._slots.release()
        if error_indication:
            raise _indication_error(session, error_indication)
        if error_status and int(error_status):
            raise _StatusError(int(error_status), int(error_index or 0),
                               error_status.prettyPrint())
        try:
            return [(str(oid), _plain(value)) for oid, value in answer]
        except (TypeError, ValueError) as err:
            raise ProtocolError(f"malformed SNMP answer: {err}") from err

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
            _domain, (ip, port) = await self._resolve(session, deadline)
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
        try:
            await asyncio.wait_for(self._slots.acquire(),
                                   max(deadline - time.monotonic(), 0.01))
        except TimeoutError as err:
            raise PollTimeout(f"{_timeout_message(session)}: all {_MAX_IN_FLIGHT} request "
                              "slots busy") from err
        try:
            answer = await _fast_request(sock.get_fd(), send, recv, session.cfg, deadline,
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


async def _fast_request(fd: int, send: Any, recv: Any, cfg: SnmpConfig, deadline: float,
                        lone: bool) -> Any:
    """Send, then read the socket until an answer decodes; resend after each try's share of
    the timeout (``retries``), never past ``deadline``. Raises TimeoutError when no answer
    came; an undecodable datagram ends a multi-object GET (``lone`` False) with the decode
    error, else it is dropped. A stale answer to an earlier try is dropped by gufo-snmp
    (request ID)."""
    loop = asyncio.get_running_loop()
    per_try = max(cfg.timeout * 0.9 / (cfg.retries + 1), 0.05)
    for _attempt in range(cfg.retries + 1):
        try_end = min(deadline, time.monotonic() + per_try)
        send()
        while True:
            remaining = try_end - time.monotonic()
            if remaining <= 0:
                break
            ready: asyncio.Future[bool] = loop.create_future()

            def wake(ok: bool, fut: asyncio.Future[bool] = ready) -> None:
                if not fut.done():
                    fut.set_result(ok)

            loop.add_reader(fd, wake, True)
            timer = loop.call_later(remaining, wake, False)
            try:
                readable = await ready
            finally:
                timer.cancel()
                loop.remove_reader(fd)
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


def _indication_error(session: _Session, indication: Any) -> CollectorError:
    if isinstance(indication, errind.RequestTimedOut):
        return PollTimeout(_timeout_message(session))
    if isinstance(indication, _AUTH_ERRORS):
        return AuthFailed(f"SNMPv3 user {session.cfg.user!r} rejected: {indication}")
    if isinstance(indication, errind.EncryptionError):
        return CollectorError(f"SNMPv3 privacy unavailable: {indication}", reason=Reason.CONFIG)
    return ProtocolError(f"SNMP error: {indication}")


def _no_mib_error(cfg: SnmpConfig, message: str) -> CollectorError:
    if cfg.mib != "auto":
        return CollectorError(f"mib: {cfg.mib} does not answer: {message}", reason=Reason.CONFIG)
    return ProtocolError(message)


@register(KIND)
def _factory(config: Config) -> SnmpCollector | None:
    entries = [(ups.name, ups.snmp) for ups in (config.ups or []) if ups.snmp is not None]
    return SnmpCollector(entries) if entries else None


__all__ = ["SnmpCollector"]
