"""A site simulator for the central tier: one process serving hundreds of agent ``/metrics``.

A TEST TOOL, not part of the product. ``tests/e2e/fleet_sim.py`` runs real agents (80 fit on
a 2-core machine); this one fakes thousands of them cheaply so the *central* side (Prometheus,
vmagent, VictoriaMetrics, Alertmanager) can be measured at 800+ sites:

- One asyncio event loop, one listening socket per site on 127.0.0.1 (ports the kernel picks),
  so each site is a distinct scrape target with its own ``instance``, exactly as ``upkeep sd``
  lists real agents. The inventory it writes (``fleet.yml`` format) goes through the real
  ``upkeep sd``.
- Every answer is a real agent's scrape: ``tests/e2e/data/agent-scrape.prom`` was captured
  from ``upkeep run`` with host, 2 UPS (NUT + SNMP) and 3 HTTPS websites (the composition
  docs/deployment.md sizes; recapture with ``python tests/e2e/site_sim.py --capture FILE``).
  Per site and per scrape the values move: counters rise at a per-site rate, gauges wander a
  few percent, poll timestamps are "now", the site label is the site's.
- Scenarios per site: ``on_battery`` (both UPS: OB=1, OL=0, charge and runtime falling,
  on-battery seconds rising, the websites down because the office lost power), ``cert_days``
  (certificate ``not_after`` that many days ahead), ``down`` (the connection is reset: the
  site is unreachable).

    python tests/e2e/site_sim.py --sites 800 --regions 16 --inventory /tmp/fleet.yml \
        [--on-battery 3] [--cert-expiring 5]
    # prints "ready N" when every port listens; SIGTERM/SIGINT stops it

Not simulated: gzip (Prometheus gets plain text; loopback makes size irrelevant), TLS and basic
auth (the 80-agent fleet test covers those), per-site differences in composition.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import signal
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parent / "data" / "agent-scrape.prom"
TEMPLATE_SITE = "site-001"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$")

#: value behaviour of one template sample
CONST, COUNTER, GAUGE, NOW, CERT_NOT_AFTER, UPS_OL, UPS_OB, UPS_CHARGE, UPS_RUNTIME, \
    ON_BATTERY_SECONDS, WEBSITE_UP = range(11)


def _kind(name: str, labels: str, value: float, counter_families: set[str]) -> int:
    if name == "upkeep_ups_status":
        return UPS_OL if 'flag="OL"' in labels else UPS_OB if 'flag="OB"' in labels else CONST
    if name == "upkeep_ups_battery_charge_ratio":
        return UPS_CHARGE
    if name == "upkeep_ups_battery_runtime_seconds":
        return UPS_RUNTIME
    if name == "upkeep_ups_on_battery_seconds_total":
        return ON_BATTERY_SECONDS
    if name == "upkeep_website_up":
        return WEBSITE_UP
    if name == "upkeep_tls_cert_not_after_timestamp_seconds":
        return CERT_NOT_AFTER
    if name in ("upkeep_last_success_timestamp_seconds", "upkeep_website_check_timestamp_seconds",
                "upkeep_host_time_seconds"):
        return NOW
    family = re.sub(r"_(total|count|sum|bucket|created)$", "", name)
    if name in counter_families or family in counter_families:
        return COUNTER if value > 0 else CONST
    if name.endswith(("_info", "_timestamp_seconds")) or value in (0.0, 1.0) \
            or name.startswith(("upkeep_checklist", "upkeep_assets", "upkeep_kpi")):
        return CONST
    return GAUGE


@dataclass
class SiteState:
    name: str
    region: str
    index: int
    on_battery_since: float | None = None
    cert_days: float | None = None
    down: bool = False
    port: int = 0
    scrapes: int = 0


class Template:
    """A captured scrape, split into static text and per-sample value rules."""

    def __init__(self, text: str) -> None:
        counters = {line.split()[2] for line in text.splitlines()
                    if line.startswith("# TYPE ") and line.split()[3:4] == ["counter"]}
        self.static: list[str] = []   # text before each sample's value (incl. comments)
        self.kinds: list[int] = []
        self.bases: list[float] = []
        self.names: list[str] = []
        self.labels: list[str] = []
        pending: list[str] = []
        for line in text.splitlines():
            match = _SAMPLE.match(line)
            if line.startswith("#") or not match:
                pending.append(line + "\n")
                continue
            name, labels, value = match.group(1), match.group(2) or "", float(match.group(3))
            self.static.append("".join(pending) + f"{name}{labels} ")
            self.names.append(name)
            self.labels.append(labels[1:-1])
            pending = []
            self.kinds.append(_kind(name, labels, value, counters))
            self.bases.append(value)
        self.tail = "".join(pending)
        self.samples = len(self.kinds)
        self.started = time.time()

    def values(self, site: SiteState, now: float) -> list[float]:
        """Every sample's value for ``site`` at ``now`` (template order)."""
        seed = zlib.crc32(site.name.encode())
        rate = 1.0 + (seed % 1000) / 1000.0              # per-site counter speed 1x..2x
        age = now - self.started
        battery = site.on_battery_since is not None
        on_batt_for = now - site.on_battery_since if site.on_battery_since is not None else 0.0
        out: list[float] = []
        for i, kind in enumerate(self.kinds):
            base = self.bases[i]
            if kind == CONST:
                value = base
            elif kind == COUNTER:
                value = base * rate + base * rate * age / 3600.0   # +100 %/hour of its base
            elif kind == GAUGE:
                value = base * (1.0 + 0.03 * math.sin(now / 97.0 + seed + i))
            elif kind == NOW:
                value = now - (seed + i) % 20
            elif kind == CERT_NOT_AFTER:
                value = now + site.cert_days * 86400 if site.cert_days is not None else base
            elif kind == UPS_OL:
                value = 0.0 if battery else 1.0
            elif kind == UPS_OB:
                value = 1.0 if battery else 0.0
            elif kind == UPS_CHARGE:
                value = max(0.05, base - on_batt_for / 3600.0) if battery else base
            elif kind == UPS_RUNTIME:
                value = max(60.0, base - on_batt_for) if battery else base
            elif kind == ON_BATTERY_SECONDS:
                value = base + on_batt_for
            else:  # WEBSITE_UP: the office lost power, so its web servers are dark
                value = 0.0 if battery else base
            out.append(value)
        return out

    def render(self, site: SiteState, now: float) -> bytes:
        out: list[str] = []
        for static, value in zip(self.static, self.values(site, now), strict=True):
            out.append(static)
            out.append(repr(value))
            out.append("\n")
        out.append(self.tail)
        return "".join(out).replace(f'site="{TEMPLATE_SITE}"', f'site="{site.name}"').encode()

    def series(self, site: str) -> list[tuple[str, str]]:
        """(metric name, label text without braces) of every sample, for ``site``."""
        return [(n, lab.replace(f'site="{TEMPLATE_SITE}"', f'site="{site}"'))
                for n, lab in zip(self.names, self.labels, strict=True)]


class _SiteProtocol(asyncio.Protocol):
    def __init__(self, sim: SiteSimulator, site: SiteState) -> None:
        self.sim, self.site = sim, site
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.sim._transports.add(transport)
        if self.site.down:
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.sim._transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        if len(self.buf) > 65536:
            self.transport.abort()
            return
        while b"\r\n\r\n" in self.buf:
            head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            if self.site.down:
                self.transport.abort()
                return
            parts = head.split(b"\r\n", 1)[0].split()
            path = parts[1] if len(parts) > 1 else b""
            if path.split(b"?")[0] == b"/metrics":
                body = self.sim.template.render(self.site, time.time())
                self.site.scrapes += 1
                status, ctype = b"200 OK", b"text/plain; version=0.0.4; charset=utf-8"
            else:
                body, status, ctype = b"not found\n", b"404 Not Found", b"text/plain"
            self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype
                                 + b"\r\nContent-Length: " + str(len(body)).encode()
                                 + b"\r\n\r\n" + body)


class SiteSimulator:
    """``sites`` simulated agents, ``regions`` regions (site i is in region i % regions)."""

    def __init__(self, sites: int, regions: int = 16, template: Path = TEMPLATE) -> None:
        if not 1 <= sites <= 20000:
            raise ValueError("sites must be 1..20000")
        self.template = Template(template.read_text(encoding="utf-8"))
        self.sites = [SiteState(f"site-{i:04d}", f"region-{i % regions:02d}", i)
                      for i in range(1, sites + 1)]
        self.by_name = {s.name: s for s in self.sites}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.Server] = []
        self._transports: set[asyncio.Transport] = set()

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        for site in self.sites:
            server = await loop.create_server(
                lambda site=site: _SiteProtocol(self, site),  # type: ignore[misc]
                "127.0.0.1", 0, backlog=64)
            self._servers.append(server)
            site.port = server.sockets[0].getsockname()[1]

    def start(self) -> SiteSimulator:
        """Serve from a background thread (for tests); returns once every port listens."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._listen())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="site-sim", daemon=True)
        self._thread.start()
        if not ready.wait(60):
            raise RuntimeError("site simulator did not start in 60 s")
        return self

    def call(self, fn: Callable[[], Any]) -> None:
        """Change site state from another thread, between two answers."""
        assert self._loop is not None
        done = threading.Event()

        def wrapped() -> None:
            try:
                fn()
            finally:
                done.set()

        self._loop.call_soon_threadsafe(wrapped)
        done.wait(10)

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop

        async def close() -> None:
            for server in self._servers:
                server.close()
            for transport in list(self._transports):
                transport.abort()
            for server in self._servers:
                await server.wait_closed()
            loop.stop()

        loop.call_soon_threadsafe(lambda: loop.create_task(close()))
        if self._thread is not None:
            self._thread.join(15)
        if not loop.is_running():
            loop.close()
        self._loop = None

    def __enter__(self) -> SiteSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inventory(self) -> dict[str, Any]:
        """The fleet inventory (``upkeep sd --inventory``) listing every simulated site."""
        return {"defaults": {"labels": {"org": "sim"}},
                "sites": [{"site": s.name, "region": s.region, "office_type": "branch",
                           "agents": [f"127.0.0.1:{s.port}"]} for s in self.sites]}

    def write_inventory(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.inventory(), sort_keys=False), encoding="utf-8")

    def set_scenarios(self, *, on_battery: int = 0, cert_expiring: int = 0) -> None:
        """A few UPS on battery and certificates near expiry, spread over the fleet."""
        step = max(1, len(self.sites) // max(1, on_battery + cert_expiring + 1))
        now = time.time()
        for n in range(on_battery):
            self.sites[(n * step + 3) % len(self.sites)].on_battery_since = now
        for n in range(cert_expiring):
            self.sites[(n * step + step // 2) % len(self.sites)].cert_days = 5.0 + n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=80)
    parser.add_argument("--regions", type=int, default=16)
    parser.add_argument("--inventory", type=Path, help="write the fleet inventory here")
    parser.add_argument("--on-battery", type=int, default=0)
    parser.add_argument("--cert-expiring", type=int, default=0)
    parser.add_argument("--capture", type=Path,
                        help="capture a fresh template from a real agent into FILE, then exit")
    args = parser.parse_args()
    if args.capture:
        return capture(args.capture)
    sim = SiteSimulator(args.sites, args.regions)
    sim.set_scenarios(on_battery=args.on_battery, cert_expiring=args.cert_expiring)

    async def serve() -> None:
        await sim._listen()
        if args.inventory:
            sim.write_inventory(args.inventory)
        print(f"ready {len(sim.sites)}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    asyncio.run(serve())
    return 0


def capture(out: Path) -> int:
    """Run one real agent (host, NUT + SNMP UPS, 3 HTTPS websites) and save its scrape."""
    import tempfile

    import trustme

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.e2e.fleet_sim import NUT_UPS, https_server, site_config
    from tests.nut_rig import NutRig
    from tests.snmp_rig import SnmpSim, fixture_records
    from tests.support import AgentProcess, parse_metrics, wait_for

    with tempfile.TemporaryDirectory(prefix="upkeep-capture-") as name:
        tmp = Path(name)
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        ca_file = tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        nut = NutRig(tmp / "nut")
        nut.add_ups("ups001", NUT_UPS)
        snmp = SnmpSim({TEMPLATE_SITE: fixture_records("ups-mib")})
        nut.start()
        snmp.start()
        try:
            with https_server(leaf) as web_port:
                config = site_config(TEMPLATE_SITE, "127.0.0.1:0", data_dir=tmp / "data",
                                     nut_port=nut.port, nut_ups="ups001",
                                     snmp=snmp.snmp_config(TEMPLATE_SITE), web_port=web_port,
                                     ca_file=ca_file)
                config.pop("listen")
                (tmp / "agent").mkdir()
                agent = AgentProcess(tmp / "agent", config)
                agent.start()
                try:
                    def all_up() -> bool:
                        series = parse_metrics(agent.metrics())
                        ups = [v for (n, _l), v in series.items() if n == "upkeep_up"]
                        return len(ups) == 6 and all(v == 1 for v in ups)

                    wait_for(all_up, timeout=90, interval=0.5, message="6 targets up")
                    time.sleep(20)  # a second round of polls: counters and durations move
                    body = agent.get("/metrics", headers={"Accept": "text/plain",
                                                          "Accept-Encoding": "identity"}).text
                finally:
                    agent.stop()
        finally:
            snmp.close()
            nut.stop()
    out.write_text(body, encoding="utf-8")
    print(f"wrote {out}: {sum(1 for line in body.splitlines() if not line.startswith('#'))} "
          "samples", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
