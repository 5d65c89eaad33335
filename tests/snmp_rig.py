"""A real SNMP agent for tests and benchmarks: snmpsim's command responder on loopback.

Reusable by every room (UPS collector tests, fleet simulation, hardening, dashboards)::

    from tests.snmp_rig import SnmpSim, V3User, fixture_records

    with SnmpSim({"ups-mib": fixture_records("ups-mib")},
                 users=[V3User("upsmon", "authpass123", "privpass123")]) as sim:
        cfg = sim.snmp_config("ups-mib")                    # v2c, community "ups-mib"
        cfg3 = sim.snmp_config("ups-mib", user="upsmon")    # v3 authPriv, context "ups-mib"
        sim.set("ups-mib", "1.3.6.1.2.1.33.1.4.1.0", 5)     # writecache: flip to on-battery

How snmpsim addresses data: each ``<name>.snmprec`` in the data dir answers as v1/v2c
community ``<name>`` and as SNMPv3 context ``<name>`` (for every configured v3 user). New files
are only discovered at start-up: add them before ``start()`` or call ``restart()``. Values
tagged ``TAG:writecache|value=X`` can be changed at run time with SNMP SET (``set()``); the
change lives in the responder's memory until it stops.

snmpsim needs ``pysmi`` (and ``cryptography`` for AES), which the agent itself must not import
(a pysmi on the agent's path makes pysnmp build a MIB parser on the event loop). So the
responder runs from its own environment, found in this order: ``$UPKEEP_SNMPSIM`` (path of a
``snmpsim-command-responder``), ``/opt/snmpsim-venv/bin/snmpsim-command-responder`` (what
``.ci/run`` builds from Debian's ``/usr/bin/python3``), then ``PATH``. As root snmpsim refuses
to run without dropping privileges, so the rig passes ``--process-user nobody`` and keeps its
data and cache dirs in a world-readable temp dir of its own (pytest's tmp_path is 0700).

Readiness and SETs use net-snmp's ``snmpget``/``snmpset`` (Debian ``snmp``): an oracle
independent of the pysnmp code under test.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import IN_CI, free_port, need_binary

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "snmp"
_DEFAULT_RESPONDER = "/opt/snmpsim-venv/bin/snmpsim-command-responder"
_NET_SNMP_TYPES = {int: "i", str: "s"}


def fixture_records(name: str) -> str:
    """The text of ``tests/fixtures/snmp/<name>.snmprec``."""
    return (FIXTURES / f"{name}.snmprec").read_text(encoding="utf-8")


def huge_alarm_table(rows: int) -> str:
    """The UPS-MIB recording with an alarm table of ``rows`` rows, vendor alarms all."""
    alarms = "1.3.6.1.2.1.33.1.6"
    lines = [line for line in fixture_records("ups-mib").splitlines()
             if not line.startswith(f"{alarms}.1.0")]
    lines.append(f"{alarms}.1.0|66|{rows}")
    for row in range(1, rows + 1):
        lines.append(f"{alarms}.2.1.2.{row}|6|1.3.6.1.4.1.99.1.{row}")
        lines.append(f"{alarms}.2.1.3.{row}|67|{row}")
    return "\n".join(lines)


def find_responder() -> str:
    """Path of a usable ``snmpsim-command-responder``; skip (laptop) or fail (CI) if none."""
    import pytest

    candidates = [os.environ.get("UPKEEP_SNMPSIM", ""), _DEFAULT_RESPONDER,
                  shutil.which("snmpsim-command-responder") or ""]
    for path in candidates:
        if path and os.access(path, os.X_OK) and _has_pysmi(path):
            return path
    message = ("snmpsim-command-responder with pysmi not found (build /opt/snmpsim-venv: "
               "/usr/bin/python3 -m venv /opt/snmpsim-venv && /opt/snmpsim-venv/bin/pip install "
               "'snmpsim>=1.2,<1.3' pysmi cryptography)")
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@functools.cache
def _has_pysmi(responder: str) -> bool:
    """The responder's own interpreter (its shebang) can import pysmi."""
    try:
        first = Path(responder).read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return False
    python = first[2:].strip().split()[0] if first.startswith("#!") else ""
    if not python:
        return False
    result = subprocess.run([python, "-c", "import pysmi, snmpsim"], capture_output=True,
                            timeout=30)
    return result.returncode == 0


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 USM user of the simulator (authPriv unless ``priv_key`` is None)."""

    name: str
    auth_key: str
    priv_key: str | None = None
    auth_proto: str = "SHA256"  # MD5 SHA SHA224 SHA256 SHA384 SHA512
    priv_proto: str = "AES"  # DES 3DES AES AES128 AES192 AES256

    def args(self) -> list[str]:
        out = [f"--v3-user={self.name}", f"--v3-auth-key={self.auth_key}",
               f"--v3-auth-proto={self.auth_proto}"]
        if self.priv_key is not None:
            out += [f"--v3-priv-key={self.priv_key}", f"--v3-priv-proto={self.priv_proto}"]
        return out

    def config(self) -> dict[str, Any]:
        """The ``user``/``auth``/``priv`` part of an upkeep ``snmp:`` block."""
        cfg: dict[str, Any] = {"user": self.name,
                               "auth": {"protocol": self.auth_proto, "password": self.auth_key}}
        if self.priv_key is not None:
            cfg["priv"] = {"protocol": self.priv_proto, "password": self.priv_key}
        return cfg


class SnmpSim:
    """One snmpsim command responder on a free UDP port of 127.0.0.1 (and optionally ::1)."""

    def __init__(self, records: Mapping[str, str] | None = None, *,
                 users: list[V3User] | tuple[V3User, ...] = (), ipv6: bool = False,
                 max_var_binds: int | None = None, engine_id: str | None = None) -> None:
        self.responder = find_responder()
        self.snmpget = need_binary("snmpget")
        self.users = list(users)
        self.ipv6 = ipv6
        self.max_var_binds = max_var_binds
        #: SNMPv3 engine ID (hex digits, no 0x, e.g. "80001f8880aabbccdd01"); None = snmpsim's own choice
        self.engine_id = engine_id
        self.host = "127.0.0.1"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        # our own dir: snmpsim drops to nobody when run as root and must still read it
        # on tmpfs where there is one: snmpsim opens its record index per request, and on a
        # busy disk that doubles its answer time
        base = os.environ.get("UPKEEP_SNMPSIM_TMP") or (
            "/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
        self.root = Path(tempfile.mkdtemp(prefix="upkeep-snmpsim-", dir=base))
        self.root.chmod(0o755)
        self.data_dir = self.root / "data"
        self.cache_dir = self.root / "cache"
        self.data_dir.mkdir(mode=0o755)
        self.cache_dir.mkdir(mode=0o777)
        self.cache_dir.chmod(0o777)
        self.log_path = self.root / "snmpsim.log"
        for name, text in (records or {}).items():
            self.add_records(name, text)

    # --- data --------------------------------------------------------------------------------

    def add_records(self, name: str, text: str) -> Path:
        """Write ``<name>.snmprec`` (community / context ``name``); sorted by OID as snmpsim
        requires. Takes effect at the next ``start()``/``restart()``."""
        lines = [line for line in text.splitlines() if line.strip()]
        lines.sort(key=lambda line: tuple(int(p) for p in line.split("|", 1)[0].split(".")))
        path = self.data_dir / f"{name}.snmprec"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        path.chmod(0o644)
        return path

    def clone(self, source: str, names: list[str] | tuple[str, ...]) -> None:
        """Serve an existing recording under more community / context names (fleet sims)."""
        text = (self.data_dir / f"{source}.snmprec").read_text(encoding="utf-8")
        for name in names:
            path = self.data_dir / f"{name}.snmprec"
            path.write_text(text, encoding="utf-8")
            path.chmod(0o644)

    @property
    def communities(self) -> list[str]:
        return sorted(p.stem for p in self.data_dir.glob("*.snmprec"))

    # --- process -----------------------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [self.responder]
        if self.engine_id:
            cmd.append(f"--v3-engine-id={self.engine_id}")
        cmd += [f"--data-dir={self.data_dir}", f"--cache-dir={self.cache_dir}",
               f"--agent-udpv4-endpoint={self.host}:{self.port}", "--log-level=error",
               "--logging-method=stderr"]
        if self.ipv6:
            cmd.append(f"--agent-udpv6-endpoint=[::1]:{self.port}")
        if self.max_var_binds:
            cmd.append(f"--max-var-binds={self.max_var_binds}")
        for user in self.users:
            cmd += user.args()
        if os.geteuid() == 0:
            cmd += ["--process-user=nobody", "--process-group=nogroup"]
        return cmd

    def start(self, timeout: float = 30.0) -> SnmpSim:
        if not self.port:
            self.port = free_port(self.host, kind=socket.SOCK_DGRAM)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        first = self.communities[0] if self.communities else "public"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"snmpsim exited ({self.proc.returncode}): {self.log()[-3000:]}")
            if self.get(first, "1.3.6.1.2.1.1.3.0", timeout=0.5) is not None:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"snmpsim did not answer within {timeout}s: {self.log()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> SnmpSim:
        """Stop and start again on the same port (re-reads the data dir; SET values are lost)."""
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> SnmpSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # --- talking to it (net-snmp, independent of the code under test) -------------------------

    def _net_snmp_args(self, community: str, user: V3User | None) -> list[str]:
        if user is None:
            return ["-v2c", "-c", community]
        args = ["-v3", "-u", user.name, "-n", community, "-a", user.auth_proto,
                "-A", user.auth_key]
        if user.priv_key is not None:
            args += ["-l", "authPriv", "-x", user.priv_proto, "-X", user.priv_key]
        else:
            args += ["-l", "authNoPriv"]
        return args

    def get(self, community: str, oid: str, *, user: V3User | None = None,
            timeout: float = 2.0) -> str | None:
        """The value as net-snmp prints it (``-Oqv``), or None on no answer."""
        result = subprocess.run(
            [self.snmpget, *self._net_snmp_args(community, user), "-Oqv", "-t", str(timeout),
             "-r", "0", "-m", "", f"{self.host}:{self.port}", oid],
            capture_output=True, text=True, timeout=timeout + 5, env=_quiet_env())
        return result.stdout.strip() if result.returncode == 0 else None

    def set(self, community: str, oid: str, value: int | str, kind: str | None = None, *,
            user: V3User | None = None) -> None:
        """SNMP SET a ``writecache`` value. ``kind`` is net-snmp's type letter (i integer,
        u Gauge32, t TimeTicks, s string); default from the Python type."""
        snmpset = need_binary("snmpset")
        kind = kind or _NET_SNMP_TYPES[type(value)]
        result = subprocess.run(
            [snmpset, *self._net_snmp_args(community, user), "-t", "2", "-r", "1", "-m", "",
             f"{self.host}:{self.port}", oid, kind, str(value)],
            capture_output=True, text=True, timeout=15, env=_quiet_env())
        if result.returncode != 0:
            raise RuntimeError(f"snmpset {oid}={value} failed: {result.stderr or result.stdout}")

    # --- upkeep config -----------------------------------------------------------------------

    def snmp_config(self, community: str, *, user: V3User | str | None = None,
                    version: str | None = None, **extra: Any) -> dict[str, Any]:
        """An upkeep ``snmp:`` block for this simulator (v2c by community, or v3 by user with
        the community as context name)."""
        cfg: dict[str, Any] = {"host": self.host, "port": self.port}
        if user is not None:
            if isinstance(user, str):
                user = next(u for u in self.users if u.name == user)
            cfg.update(version="3", context=community, **user.config())
        else:
            cfg.update(version=version or "2c", community=community)
        cfg.update(extra)
        return cfg


def _quiet_env() -> dict[str, str]:
    # no MIB loading in net-snmp: numeric OIDs only, and no warnings about missing MIB files
    return {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}


@contextlib.contextmanager
def snmpsim(records: Mapping[str, str], **kwargs: Any) -> Iterator[SnmpSim]:
    sim = SnmpSim(records, **kwargs)
    try:
        yield sim.start()
    finally:
        sim.close()
