"""The fault matrix: every way a UPS, upsd, an SNMP card, DNS or a website misbehaves, at once,
against ONE running agent (``upkeep run`` as a subprocess), each a real server on loopback.

For every row: the right reason on that target, the poll bounded by its timeout. For the
whole agent: the healthy targets stay fresh while all of it goes on, and afterwards there is
no growth in asyncio tasks, threads or file descriptors (``/api/v1/debug/runtime`` from agents/fleet.py and
``/proc/<pid>``). One table drives it; a new fault is one more ``Row``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.nut_rig import NutRig
from tests.snmp_rig import SnmpSim, V3User, fixture_records, huge_alarm_table
from tests.support import AgentProcess, free_port, wait_for
from tests.web_rig import Pki, Route, WebRig

pytestmark = pytest.mark.slow

HUGE_ROWS = 3000
TRUNCATED_ADDRESSES = 150
USER = V3User("upsmon", "authpass123", "privpass123")
#: the website probes' poll timeout; NUT and SNMP have their own below
WEB_TIMEOUT, WEB_INTERVAL = 3.0, 4.0
NUT_TIMEOUT, NUT_INTERVAL = 0.8, 1.0
SNMP_TIMEOUT, SNMP_INTERVAL = 1.0, 2.0


@dataclass(frozen=True)
class Row:
    name: str
    kind: str
    #: acceptable reasons ("" = the poll succeeds: the fault is absorbed)
    reasons: tuple[str, ...]
    timeout: float
    what: str


ROWS = [
    Row("nut-refused", "nut", ("unreachable",), NUT_TIMEOUT, "upsd refusing connections"),
    Row("nut-silent", "nut", ("timeout",), NUT_TIMEOUT, "upsd accepting, never answering"),
    Row("nut-stale", "nut", ("stale",), NUT_TIMEOUT, "driver stale (SIGSTOP, MAXAGE 3 s)"),
    Row("nut-killed", "nut", ("driver",), NUT_TIMEOUT, "driver killed mid-poll"),
    Row("nut-badpass", "nut", ("auth",), NUT_TIMEOUT, "wrong NUT password"),
    Row("nut-notls", "nut", ("tls",), NUT_TIMEOUT, "STARTTLS required but refused"),
    Row("snmp-silent", "snmp", ("timeout",), SNMP_TIMEOUT, "SNMP agent silent"),
    Row("snmp-badtypes", "snmp", ("protocol",), SNMP_TIMEOUT, "answers with wrong types"),
    Row("snmp-badkeys", "snmp", ("auth",), SNMP_TIMEOUT, "wrong SNMPv3 keys"),
    Row("snmp-huge", "snmp", ("",), SNMP_TIMEOUT, f"a {HUGE_ROWS}-row alarm table"),
    Row("dns-timeout", "web", ("dns_timeout",), WEB_TIMEOUT, "DNS server never answers"),
    Row("dns-servfail", "web", ("dns_servfail",), WEB_TIMEOUT, "DNS SERVFAIL"),
    # 150 A records do not fit a 512-byte UDP answer: TC=1, the resolver must retry over
    # TCP; the addresses then refuse connections (nothing listens on 127.0.1.x)
    Row("dns-truncated", "web", ("connect_refused",), WEB_TIMEOUT, "truncated DNS answer"),
    Row("tls-tarpit", "web", ("tls_timeout", "timeout"), WEB_TIMEOUT,
        "TLS handshake never finishes"),
    Row("tls-garbage", "web", ("tls_error",), WEB_TIMEOUT, "garbage instead of TLS"),
    # OpenSSL's 100 kB limit on a certificate list: refused, and quickly
    Row("tls-10k-names", "web", ("tls_error",), WEB_TIMEOUT,
        "a certificate with 10 000 names"),
    Row("http-drip", "web", ("http_timeout", "timeout"), WEB_TIMEOUT, "a byte a second"),
    Row("http-50mb", "web", ("body_too_large",), WEB_TIMEOUT, "a 50 MB body"),
    Row("http-redirect-loop", "web", ("redirect_loop", "too_many_redirects"), WEB_TIMEOUT,
        "redirects to itself"),
    Row("http-bad-headers", "web", ("http_protocol",), WEB_TIMEOUT, "invalid header lines"),
]
GOOD = {"nut-good": NUT_INTERVAL, "snmp-good": SNMP_INTERVAL, "web-good": WEB_INTERVAL}


class GarbageServer:
    """Accepts TCP and at once sends bytes that are not TLS, then closes."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="garbage", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn, contextlib.suppress(OSError):
                conn.sendall(b"220 Welcome to the garbage service\r\n" + os.urandom(512))

    def __enter__(self) -> GarbageServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class TruncatingDns:
    """A small authoritative DNS server (dnspython, UDP and TCP on one port) for the cases
    dnsmasq cannot make: ``many.test`` has 150 A records, too many for a 512-byte UDP answer,
    so UDP says TC=1 with no answers and only TCP gives them; ``slow.test`` never answers;
    ``servfail.test`` answers SERVFAIL; ``good.test`` is 127.0.0.1."""

    def __init__(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rrset

        self._dns = (dns.message, dns.rcode, dns.rrset)
        self.port = free_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.udp.settimeout(0.2)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(16)
        self.tcp.settimeout(0.2)
        self.tcp_queries = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]
        for thread in self._threads:
            thread.start()

    def resolver(self) -> dict[str, Any]:
        return {"nameservers": ["127.0.0.1"], "port": self.port, "timeout": "1s"}

    def _answer(self, data: bytes, udp: bool) -> bytes | None:
        message, rcode, rrset = self._dns
        try:
            query = message.from_wire(data)
        except Exception:  # noqa: BLE001 - garbage in, nothing out
            return None
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        reply = message.make_response(query)
        if name.endswith("slow.test"):
            return None
        if name.endswith("servfail.test"):
            reply.set_rcode(rcode.SERVFAIL)
        elif question.rdtype == 1 and name in ("good.test", "many.test"):
            addresses = (["127.0.0.1"] if name == "good.test" else
                         [f"127.0.1.{i}" for i in range(1, TRUNCATED_ADDRESSES + 1)])
            reply.answer.append(rrset.from_text_list(question.name, 60, "IN", "A", addresses))
        wire = reply.to_wire()
        if udp and len(wire) > 512:
            reply.answer = []
            reply.flags |= 0x0200  # TC: ask again over TCP
            wire = reply.to_wire()
        return wire

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.udp.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            wire = self._answer(data, udp=True)
            if wire is not None:
                with contextlib.suppress(OSError):
                    self.udp.sendto(wire, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (TimeoutError, OSError):
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(2)
                size = int.from_bytes(conn.recv(2), "big")
                data = b""
                while len(data) < size:
                    chunk = conn.recv(size - len(data))
                    if not chunk:
                        break
                    data += chunk
                self.tcp_queries += 1
                wire = self._answer(data, udp=False)
                if wire is not None:
                    conn.sendall(len(wire).to_bytes(2, "big") + wire)

    def __enter__(self) -> TruncatingDns:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self.udp.close()
        self.tcp.close()


class Stack:
    """Every misbehaving server, and the agent watching them all."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.stack = contextlib.ExitStack()

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def _start(self) -> None:
        tmp, stack = self.tmp, self.stack
        # --- NUT: one upsd, three drivers; a closed port; a listener that never answers
        self.nut = NutRig(tmp / "nut", maxage=3)
        for name in ("good", "stale", "killed"):
            self.nut.add_ups(name, {"ups.status": "OL", "battery.charge": "100",
                                    "ups.load": "20", "battery.runtime": "1800"})
        stack.enter_context(self.nut)
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stack.callback(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel completes handshakes; nobody ever reads
        closed = free_port()
        # --- SNMP
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stack.callback(udp.close)
        udp.bind(("127.0.0.1", 0))
        self.sim = SnmpSim({"ups-mib": fixture_records("ups-mib"),
                            "ups-mib-badtypes": fixture_records("ups-mib-badtypes"),
                            "huge": huge_alarm_table(HUGE_ROWS)}, users=[USER])
        stack.enter_context(self.sim)
        # --- websites
        self.pki = Pki(tmp / "pki")
        big = Pki(tmp / "pki-big",
                  names=[f"n{i}.big-cert.test" for i in range(10_000)] + ["127.0.0.1"])
        rig = stack.enter_context(WebRig())
        good = rig.https(self.pki.leaf("valid"), families=("ipv4",))
        tarpit = rig.tarpit(families=("ipv4",))
        garbage = stack.enter_context(GarbageServer())
        many_names = rig.https(big.leaf("valid"), families=("ipv4",))
        leaf = self.pki.leaf("valid")
        faulty = rig.https(leaf, {
            "/drip": Route(drip=1.0),
            "/huge": Route(stream_bytes=50_000_000),
            "/loop": Route(301, [("Location", "/loop")], b""),
            "/bad": Route(raw=b"HTTP/1.1 200 OK\r\nThis is not a header\r\n"
                              b"Content-Length: 2\r\n\r\nok"),
        }, families=("ipv4",))
        self.dns = stack.enter_context(TruncatingDns())
        ca = str(self.pki.ca_file)
        big_ca = str(big.ca_file)

        def site(name: str, url: str, ca_file: str = ca) -> dict[str, Any]:
            return {"name": name, "url": url, "interval": f"{WEB_INTERVAL}s",
                    "timeout": f"{WEB_TIMEOUT}s", "tls": {"ca_file": ca_file},
                    "expect": {"http_redirect": False, "tls_versions": False}}

        nut = {"interval": f"{NUT_INTERVAL}s", "timeout": f"{NUT_TIMEOUT}s"}
        snmp = {"interval": f"{SNMP_INTERVAL}s", "timeout": f"{SNMP_TIMEOUT}s", "retries": 0}
        port = self.nut.port
        self.config: dict[str, Any] = {
            "site": "faults",
            "resolver": self.dns.resolver(),
            "ups": [
                {"name": "nut-good", "nut": self.nut.nut_config("good", **nut)},
                {"name": "nut-refused", "nut": {"host": "127.0.0.1", "port": closed,
                                                "ups": "x", **nut}},
                {"name": "nut-silent", "nut": {"host": "127.0.0.1",
                                               "port": silent.getsockname()[1], "ups": "x",
                                               **nut}},
                {"name": "nut-stale", "nut": self.nut.nut_config("stale", **nut)},
                {"name": "nut-killed", "nut": self.nut.nut_config("killed", **nut)},
                {"name": "nut-badpass", "nut": {"host": "127.0.0.1", "port": port,
                                                "ups": "good", "username": "monitor",
                                                "password": "not-the-password", **nut}},
                {"name": "nut-notls", "nut": {"host": "127.0.0.1", "port": port, "ups": "good",
                                              "tls": {"required": True, "ca_file": ca}, **nut}},
                {"name": "snmp-good", "snmp": self.sim.snmp_config("ups-mib", **snmp)},
                {"name": "snmp-silent", "snmp": {"host": "127.0.0.1",
                                                 "port": udp.getsockname()[1],
                                                 "community": "x", **snmp}},
                {"name": "snmp-badtypes",
                 "snmp": self.sim.snmp_config("ups-mib-badtypes", **snmp)},
                {"name": "snmp-badkeys",
                 "snmp": {**self.sim.snmp_config("ups-mib", user="upsmon", **snmp),
                          "auth": {"protocol": "SHA256", "password": "wrong-auth-key"}}},
                {"name": "snmp-huge", "snmp": self.sim.snmp_config("huge", **snmp)},
            ],
            "websites": [
                site("web-good", good.url("good.test")),
                site("dns-timeout", good.url("slow.test")),
                site("dns-servfail", good.url("servfail.test")),
                site("dns-truncated", good.url("many.test")),
                site("tls-tarpit", tarpit.url("127.0.0.1")),
                site("tls-garbage", f"https://127.0.0.1:{garbage.port}/"),
                site("tls-10k-names", many_names.url("127.0.0.1"), big_ca),
                site("http-drip", faulty.url("127.0.0.1", "/drip")),
                site("http-50mb", faulty.url("127.0.0.1", "/huge")),
                site("http-redirect-loop", faulty.url("127.0.0.1", "/loop")),
                site("http-bad-headers", faulty.url("127.0.0.1", "/bad")),
            ],
        }
        (tmp / "agent").mkdir()
        self.agent = AgentProcess(tmp / "agent", self.config)
        self.agent.start(wait=False)
        stack.callback(self.agent.stop)
        wait_for(lambda: httpx.get(f"{self.agent.url}/healthz", timeout=1).status_code == 200,
                 timeout=30, message=f"agent (log: {self.agent.log_text()[-2000:]})")
        # the faults that happen to a running system
        wait_for(lambda: self.targets().get("nut-stale", {}).get("ok"), timeout=15,
                 message="nut-stale polled once while healthy")
        self.nut.pause_driver("stale")
        stack.callback(lambda: self.nut.resume_driver("stale")
                       if "stale" in self.nut.drivers else None)
        self.nut.kill_driver("killed")

    # --- observation ------------------------------------------------------------------------
    def targets(self) -> dict[str, dict[str, Any]]:
        items = httpx.get(f"{self.agent.url}/api/v1/targets", timeout=10).json()["targets"]
        return {t["target"]: t for t in items}

    def runtime(self) -> dict[str, int]:
        assert self.agent.proc is not None
        pid = self.agent.proc.pid
        debug = httpx.get(f"{self.agent.url}/api/v1/debug/runtime", timeout=10).json()
        status = Path(f"/proc/{pid}/status").read_text()
        threads = int(next(line.split()[1] for line in status.splitlines()
                           if line.startswith("Threads:")))
        return {"tasks": debug["asyncio_tasks"], "threads": threads,
                "fds": len(os.listdir(f"/proc/{pid}/fd")), "api_fds": debug["open_fds"]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("faults")) as running:
        # every faulty target has reached its verdict at least twice (a second poll shows
        # the first one cleaned up after itself)
        def settled() -> bool:
            seen = running.targets()
            return all(row.name in seen and (seen[row.name]["reason"] or "") in row.reasons
                       and seen[row.name]["consecutive_failures"] >= (0 if "" in row.reasons
                                                                      else 2)
                       for row in ROWS)

        with contextlib.suppress(AssertionError):
            wait_for(settled, timeout=40, interval=0.5, message="every fault's verdict")
        yield running


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_fault_gives_its_reason_within_its_timeout(stack: Stack, row: Row) -> None:
    target = stack.targets().get(row.name)
    assert target is not None, f"{row.what}: no reading at all"
    target["reason"] = target["reason"] or ""
    assert target["reason"] in row.reasons, (row.what, target["reason"], target["message"])
    assert target["ok"] == (target["reason"] == "")
    # bounded: what the poll took, by the agent's own clock (slack for a busy 2-core box)
    assert target["duration_seconds"] <= row.timeout + 0.75, (row.what, target)
    if not target["ok"]:
        assert target["message"], f"{row.what}: a failure says what happened"
    # and polled on schedule: a fault never stalls its own job either
    interval = {"nut": NUT_INTERVAL, "snmp": SNMP_INTERVAL, "web": WEB_INTERVAL}[row.kind]
    assert target["age_seconds"] <= interval + row.timeout + 1.5, (row.what, target)


def test_truncated_answer_was_retried_over_tcp(stack: Stack) -> None:
    dns = stack.targets()["dns-truncated"]["info"]["dns"]
    assert dns["counts"]["A"] == TRUNCATED_ADDRESSES, dns
    assert not dns.get("reason"), dns
    assert stack.dns.tcp_queries >= 1


def test_huge_table_is_capped(stack: Stack) -> None:
    info = stack.targets()["snmp-huge"]["info"]
    assert 0 < len(info["alarms"]) < HUGE_ROWS


def test_healthy_targets_stay_fresh_among_the_faults(stack: Stack) -> None:
    for _ in range(3):
        seen = stack.targets()
        for name, interval in GOOD.items():
            target = seen[name]
            assert target["ok"], (name, target["reason"], target["message"])
            # fresh: polled on schedule, not held up by the dead ones
            assert target["age_seconds"] <= interval * 2 + 1.5, (name, target["age_seconds"])
            assert target["consecutive_failures"] == 0
        time.sleep(WEB_INTERVAL / 2)


def test_metrics_show_every_fault(stack: Stack) -> None:
    text = stack.agent.get("/metrics").text
    for row in ROWS:
        assert f'target="{row.name}"' in text or f'website="{row.name}"' in text \
            or f'ups="{row.name}"' in text, row.name


def test_no_growth_in_tasks_threads_or_fds(stack: Stack) -> None:
    """Three rounds of every fault later, the agent holds what it held before."""
    def sample() -> dict[str, float]:
        # The floor over one whole cycle of polls (the web interval; NUT and SNMP divide it).
        # What one moment holds depends on which polls are in flight, and on a loaded machine
        # more of them overlap (CI once saw 8 tasks, then 20, from a median of 1.5 s); a leak
        # raises the floor itself, by a task or socket per leaking poll, dozens in 12 s.
        rounds = []
        end = time.monotonic() + WEB_INTERVAL + 0.5
        while time.monotonic() < end:
            rounds.append(stack.runtime())
            time.sleep(0.2)
        return {k: min(r[k] for r in rounds) for k in rounds[0]}

    before = sample()
    time.sleep(WEB_INTERVAL * 3)
    after = sample()
    assert after["fds"] <= before["fds"] + 4, (before, after)
    assert after["api_fds"] <= before["api_fds"] + 4, (before, after)
    assert after["threads"] <= before["threads"] + 2, (before, after)
    assert after["tasks"] <= before["tasks"] + 5, (before, after)
    # and absolute sanity: one socket per target at most, not one per poll
    assert after["fds"] < 40 + 3 * (len(ROWS) + len(GOOD)), after

