"""One real stack for the dashboard tests: upsd + dummy-ups, HTTPS sites, the agent.

Session-scoped (started once for the live Grafana test and the browser tests); a test that
flips a UPS to battery puts it back and waits until the agent has seen it on line again.
Short poll intervals keep the tests fast. The intranet's home page is audited (W3C HTML,
axe-core, Thai) once, so its website page shows a real audit (and the docs' picture of it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import AgentProcess, free_port, wait_for

TOKEN = "dashboards-test-token-0123456789"
SITE = "test-site"
UPS_ONLINE = {"ups.status": "OL", "battery.charge": "100", "battery.runtime": "1800",
              "ups.load": "23", "input.voltage": "229.0", "output.voltage": "230.0",
              "battery.date": "2023-06-01", "device.mfr": "Eaton", "device.model": "5E 1500i",
              "device.serial": "G123A45678", "ups.mfr": "Eaton", "ups.model": "5E 1500i",
              "ups.serial": "G123A45678", "battery.voltage": "13.5"}
#: the intranet's home page: Thai, with an image without alt text and a duplicate id
INTRANET_HOME = """<!DOCTYPE html>
<html lang="th">
<head><meta charset="utf-8"><title>อินทราเน็ต กองทุนยุติธรรม</title></head>
<body>
<main>
<h1>อินทราเน็ต</h1>
<p id="news">ข่าวประชาสัมพันธ์</p>
<p id="news">ประกาศ</p>
<img src="/logo.png">
</main>
</body>
</html>
""".encode()


@dataclass
class Stack:
    agent: AgentProcess
    nut: object  # tests.nut_rig.NutRig
    web_urls: dict[str, str]
    tmp: Path

    def set_status(self, ups: str, status: str, timeout: float = 20) -> None:
        """Set ``ups.status`` on dummy-ups and wait until the agent has polled it."""
        self.nut.set(ups, "ups.status", status)  # type: ignore[attr-defined]
        wanted = status.split()
        wait_for(lambda: self.agent.targets()[f"nut:{ups}"]["info"].get("status") == wanted,
                 timeout=timeout, message=f"the agent to see {ups} {status}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from tests.nut_rig import NutRig
    from tests.web_rig import GOOD_HEADERS, Dnsmasq, Pki, Route, WebRig

    tmp = tmp_path_factory.mktemp("dash")
    pki = Pki(tmp / "pki")
    nut = NutRig(tmp / "nut")
    nut.add_ups("ups1", UPS_ONLINE)
    nut.add_ups("ups2", {**UPS_ONLINE, "device.serial": "G999", "ups.serial": "G999",
                         "battery.charge": "87"})
    nut.start()
    web = WebRig()
    agent = dns = None
    try:
        page = Route(body=b"hello", headers=GOOD_HEADERS)
        good = web.https(pki.leaf("valid"), routes={
            "/": Route(body=INTRANET_HOME, headers=GOOD_HEADERS)})
        soon = web.https(pki.leaf("soon"), routes={"/": page})
        expired = web.https(pki.leaf("expired"), routes={"/": page}, families=("ipv4",))
        # verified and answering, but still accepting TLS 1.0: a warning, never "Healthy"
        legacy = web.https(pki.leaf("valid"), routes={"/": page}, families=("ipv4",),
                           tls=("TLSv1", "TLSv1.3"))
        # a name on both families (IPv6 parity) through a real DNS server, and an IP literal
        dns = Dnsmasq(tmp / "dns", {"good.test": ["127.0.0.1", "::1"]})
        urls = {"intranet": good.url("good.test"), "expiring": soon.url("127.0.0.1"),
                "old-portal": expired.url("127.0.0.1"), "legacy": legacy.url("127.0.0.1")}
        site = {"expect": {"http_redirect": False}, "tls": {"ca_file": str(pki.ca_file)},
                "interval": "2s", "timeout": "1500ms"}
        config = {
            "site": SITE,
            # one service check that answers (upsd) and one that does not (nothing listens)
            "host": {"interval": "2s", "timeout": "1500ms", "services": {"ports": [
                {"name": "upsd", "port": nut.port}, {"name": "database", "port": free_port()}]}},
            "ups": [{"name": name, "nut": {"host": "127.0.0.1", "port": nut.port, "ups": name,
                                           "interval": "1s", "timeout": "900ms"}}
                    for name in ("ups1", "ups2")]
            # a UPS that never answers (nothing listens on its port)
            + [{"name": "silent", "nut": {"host": "127.0.0.1", "port": free_port(),
                                          "ups": "silent", "interval": "2s",
                                          "timeout": "900ms"}}],
            "resolver": dns.resolver(),
            "websites": [{"name": name, "url": url, **site,
                          **({"audit": True} if name == "intranet" else {})}
                         for name, url in urls.items()],
            "systems": [{"name": "intranet", "title_th": "อินทราเน็ต", "title_en": "Intranet",
                         "checks": ["web:intranet"]}],
            "web": {"api_token": TOKEN},
        }
        (tmp / "agent").mkdir(exist_ok=True)
        agent = AgentProcess(tmp / "agent", config).start()
        result = Stack(agent, nut, urls, tmp)
        for key in ("web:intranet", "web:expiring", "web:old-portal", "web:legacy",
                    "nut:silent"):
            wait_for(lambda k=key: k in agent.targets(), timeout=20, message=key)
        wait_for(lambda: sum(1 for t in agent.targets().values() if t["info"].get("ups")) == 2,
                 timeout=20, message=f"both UPS polled (log: {agent.log_text()[-1500:]})")
        yield result
    finally:
        if agent is not None:
            agent.stop()
        if dns is not None:
            dns.close()
        web.close()
        nut.stop()
