"""The SNMP collector's pysnmp side: SNMPv1, SNMPv3, and v2c where gufo-snmp is not installed
(or ``SnmpCollector(..., engine="pysnmp")``). The design is told in ``upkeep.collectors.snmp``.

``upkeep.collectors.snmp`` imports this module only when one of its targets needs pysnmp:
importing pysnmp's engine costs ~8 MiB resident and each ``SnmpEngine`` ~2.7 MiB more, which a
site whose UPS cards all speak v2c (through gufo-snmp) would otherwise pay for nothing
(issue 17, item 4: the import diet). Everything here that touches pysnmp or pyasn1 stays here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyasn1.type.univ import Integer as _Integer
from pyasn1.type.univ import Null, ObjectIdentifier, OctetString
from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config as engine_config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.proto import errind
from pysnmp.proto.rfc1902 import ObjectName
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from upkeep.collectors.snmp import _MAX_IN_FLIGHT, _StatusError, _timeout_message, log
from upkeep.collectors.snmp_mibs import SYS_UPTIME, Oid, Value
from upkeep.config.ups import SnmpConfig
from upkeep.errors import AuthFailed, CollectorError, PollTimeout, ProtocolError, Reason

if TYPE_CHECKING:
    from upkeep.collectors.snmp import SnmpCollector, _Session

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




class PysnmpEngines:
    """One collector's pysnmp engines, and the requests that go through them.

    Made by ``SnmpCollector`` when one of its targets needs pysnmp (or on ``engine()``); it
    shares the collector's sessions, request slots and name resolution."""

    def __init__(self, collector: SnmpCollector) -> None:
        self._collector = collector
        #: [0] serves every target; [n] only v3 key sets that clash with one in [0..n-1]
        self.engines: list[_EngineTables] = []
        #: (agent engine ID, user name) -> the key sets seen, the n-th living in engine n
        self._key_slots: dict[tuple[bytes, str], list[_Keys]] = {}
        self._engine_ids: dict[tuple[str, int], bytes] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- engine ------------------------------------------------------------------------------

    def tables_at(self, slot: int) -> _EngineTables:
        """The engine of ``slot`` on the running loop (0: the one every target shares)."""
        loop = asyncio.get_running_loop()
        if not self.engines or self._loop is not loop:
            self.close()
            self._collector._slots = asyncio.Semaphore(_MAX_IN_FLIGHT)
            self._loop = loop
            self._engine_ids = {}
            self._key_slots = {}
            for session in self._collector._sessions.values():  # their entries lived in the old engine
                session.addr_name = session.engine_id = None
                session.slot = 0
        while len(self.engines) <= slot:
            engine = SnmpEngine()
            engine.observer.register_observer(
                self._seen_engine_id, "rfc3412.prepareDataElements:internal")
            self.engines.append(_EngineTables(engine))
        return self.engines[slot]

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

    def close(self) -> None:
        for tables in self.engines:
            dispatcher = tables.engine.transport_dispatcher
            if dispatcher is not None:
                dispatcher.close_dispatcher()
        self.engines = []

    async def aclose(self) -> None:
        if self.engines:
            # stop reading first, then let answers already queued on the loop be handled
            # while their transport is still registered (else pysnmp logs "Unregistered
            # transport" for each late answer)
            for tables in self.engines:
                for domain in tables.domains:
                    carrier = engine_config.get_transport(tables.engine, domain)
                    sock_transport = getattr(carrier, "transport", None)
                    if sock_transport is not None:
                        sock_transport.pause_reading()
            await asyncio.sleep(0)
        self.close()

    async def discover_engine_id(self, session: _Session, deadline: float) -> None:
        """Learn the agent's engine ID with a credential-free request (RFC 3414 discovery).

        pysnmp keys its USM user table by (engine ID, user name), and the LCD helper by the
        same: with the engine ID unknown, two agents that share a user name but not its keys
        would overwrite each other's keys in the one engine. Pinning each target's user to
        its agent's engine ID keeps them apart (and tells when two entries give the same
        agent's user different keys: see ``_slot``). Discovery always uses engine 0.
        """
        # the expected answer is "unknown user", after the report that names the engine ID
        with contextlib.suppress(AuthFailed, ProtocolError, _StatusError):
            await self.send(session, deadline, "get", [SYS_UPTIME], discovery=True)
        address = session.address[1] if session.address else None
        engine_id = self._engine_ids.get((str(address[0]), int(address[1]))) if address else None
        if engine_id is None:
            raise ProtocolError(f"SNMPv3 engine discovery with {session.cfg.host} failed")
        session.engine_id = engine_id
        session.addr_name = None

    # --- requests ----------------------------------------------------------------------------

    async def _addr_name(self, session: _Session, deadline: float, discovery: bool
                         ) -> tuple[SnmpEngine, str]:
        self.tables_at(0)  # on a new loop, this forgets what the old engines knew
        if session.addr_name is not None and not discovery:
            return self.tables_at(session.slot).engine, session.addr_name
        cfg = session.cfg
        family, address = await self._collector._resolve(session, deadline)
        domain = udp6.DOMAIN_NAME if family == socket.AF_INET6 else udp.DOMAIN_NAME
        slot = 0 if discovery else self._slot(session)
        tables = self.tables_at(slot)
        params = tables.params(cfg, session.engine_id, discovery)
        # pysnmp waits `timeout` per try and tries 1 + retries times: split the target's
        # timeout (fixed per target, so the engine holds one address entry per target)
        per_try = max(cfg.timeout * 0.9 / (cfg.retries + 1), 0.05)
        name = tables.target(params, domain, address, per_try, cfg.retries)
        if not discovery:
            session.addr_name, session.slot = name, slot
        return tables.engine, name

    async def send(self, session: _Session, deadline: float, kind: str,
                   oids: Sequence[str], repetitions: int = 0, discovery: bool = False
                   ) -> list[tuple[str, Any]]:
        """One request through pysnmp's command generators (``kind``: get, next or bulk)."""
        engine, addr_name = await self._addr_name(session, deadline, discovery)
        context = session.cfg.context
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, Any, Any, Any]] = loop.create_future()

        def done(_engine: Any, _handle: Any, error_indication: Any, error_status: Any,
                 error_index: Any, var_binds: Any, _ctx: Any) -> None:
            if not future.done():
                future.set_result((error_indication, error_status, error_index, var_binds))

        var_binds = [(ObjectName(oid), Null("")) for oid in oids]
        slots = self._collector._slots
        try:
            await asyncio.wait_for(slots.acquire(), max(deadline - time.monotonic(), 0.01))
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
            slots.release()
        if error_indication:
            raise _indication_error(session, error_indication)
        if error_status and int(error_status):
            raise _StatusError(int(error_status), int(error_index or 0),
                               error_status.prettyPrint())
        try:
            return [(str(oid), _plain(value)) for oid, value in answer]
        except (TypeError, ValueError) as err:
            raise ProtocolError(f"malformed SNMP answer: {err}") from err


def _indication_error(session: _Session, indication: Any) -> CollectorError:
    if isinstance(indication, errind.RequestTimedOut):
        return PollTimeout(_timeout_message(session))
    if isinstance(indication, _AUTH_ERRORS):
        return AuthFailed(f"SNMPv3 user {session.cfg.user!r} rejected: {indication}")
    if isinstance(indication, errind.EncryptionError):
        return CollectorError(f"SNMPv3 privacy unavailable: {indication}", reason=Reason.CONFIG)
    return ProtocolError(f"SNMP error: {indication}")


__all__ = ["PysnmpEngines"]
