"""Fleet simulation on one machine: 80 sites, one real Prometheus, the real alert rules.

What is real and what is simulated (docs/deployment.md, "Fleet simulation"):
- 80 sites, each a separate ``upkeep run`` process (forked after one shared import by
  ``fleet_sim.py``) with its own config, site name, SQLite file and TLS listener on its own
  loopback port; basic auth (bcrypt) on every agent.
- Each site has the composition docs/deployment.md sizes: the host collector (all 80 watch
  this same machine), 2 UPS (one ``dummy-ups`` unit on a shared real ``upsd``, one snmpsim
  context of the UPS-MIB recording) and 3 HTTPS websites (a local TLS server).
- One Debian ``prometheus`` scrapes all 80 over TLS + basic auth: sites 1-40 through the
  ``file_sd`` JSON ``upkeep sd`` writes, sites 41-80 through ``http_sd`` served by the central
  agent (site-001) from its inventory. ``alerts/*.rules.yml`` are loaded with ``for:`` cut to
  at most 5 s (only in the test copy).
- NAT path: a branch agent scraped by ``prometheus --enable-feature=agent`` (TLS + auth),
  remote_write to a central ``prometheus --web.enable-remote-write-receiver`` that is down
  for 60 s; afterwards the central copy must have every scrape of the outage (no gaps).

Sizes come from the environment for a quick look on a laptop: UPKEEP_FLEET_SITES (default 80).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import trustme
import yaml

from tests.e2e.fleet_sim import NUT_UPS, https_server, site_config
from tests.nut_rig import NutRig
from tests.snmp_rig import SnmpSim, fixture_records
from tests.support import REPO, UPKEEP, AgentProcess, free_port, need_binary, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

N_SITES = int(os.environ.get("UPKEEP_FLEET_SITES", "80"))
FAIL_SITE = min(37, N_SITES)
PROBING_SITES = min(10, N_SITES // 2)
PASSWORD = "fleet-scrape-password"
SCRAPE_INTERVAL = 10
NAT_INTERVAL = 5


def site_name(i: int) -> str:
    return f"site-{i:03d}"


def region(i: int) -> str:
    return ("central", "north", "northeast", "east", "south", "west")[0 if i == 1 else i % 5 + 1]


# --- Prometheus -----------------------------------------------------------------------------

class Prometheus:
    def __init__(self, tmp: Path, config: dict[str, Any], *extra: str,
                 port: int | None = None) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.config = tmp / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.binary = need_binary("prometheus")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        agent_mode = "--enable-feature=agent" in self.extra
        storage = ([f"--storage.agent.path={self.tmp / 'wal'}"] if agent_mode else
                   [f"--storage.tsdb.path={self.tmp / 'data'}"])
        log = (self.tmp / "prometheus.log").open("ab")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={self.config}", *storage,
             f"--web.listen-address=127.0.0.1:{self.port}", *self.extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.tmp)
        log.close()
        wait_for(lambda: httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200,
                 timeout=30, message=f"prometheus on {self.port}: {self.log()[-2000:]}")
        return self

    def log(self) -> str:
        path = self.tmp / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, *, hard: bool = False) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL if hard else signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        body = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=10).json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


def rules_copy(tmp: Path) -> Path:
    """alerts/*.rules.yml with every ``for:`` cut to at most 5 s (the test copy only)."""
    out = tmp / "rules"
    out.mkdir(exist_ok=True)
    for path in sorted((REPO / "alerts").glob("*.rules.yml")):
        data = yaml.safe_load(path.read_text())
        for group in data.get("groups", []):
            group["interval"] = "2s"
            for rule in group.get("rules", []):
                if "for" in rule:
                    rule["for"] = "5s" if _seconds(rule["for"]) > 5 else rule["for"]
        (out / path.name).write_text(yaml.safe_dump(data, allow_unicode=True))
    return out


def _seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)",
                                                          str(text)))


# --- the fleet ------------------------------------------------------------------------------

class Fleet:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ports = {i: free_port() for i in range(1, N_SITES + 1)}
        self.prometheus: Prometheus | None = None
        self.sim_proc: subprocess.Popen[bytes] | None = None
        self.nut: NutRig | None = None


def _inventory(indices: range, fleet: Fleet, web_port: int) -> dict[str, Any]:
    sites: list[dict[str, Any]] = []
    for i in indices:
        entry: dict[str, Any] = {"site": site_name(i), "region": region(i),
                                 "office_type": "central" if i == 1 else
                                 ("provincial" if i % 4 else "district"),
                                 "agents": [f"127.0.0.1:{fleet.ports[i]}"]}
        if i <= PROBING_SITES:  # these agents also probe for the centre (/probe, module web1)
            entry["probes"] = [{"target": f"https://127.0.0.1:{web_port}/probe/{i}",
                                "module": "web1"}]
        sites.append(entry)
    return {"defaults": {"labels": {"org": "fleet-test"}}, "sites": sites}


def _scrape_job(name: str, ca_file: Path, password_file: Path) -> dict[str, Any]:
    return {"job_name": name, "scheme": "https",
            "tls_config": {"ca_file": str(ca_file)},
            "basic_auth": {"username": "prometheus", "password_file": str(password_file)}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, nat: NatScenario) -> Iterator[Fleet]:
    # ``nat`` first: its 60 s outage runs in the background while the fleet starts
    need_binary("prometheus")
    tmp = tmp_path_factory.mktemp("fleet")
    fleet = Fleet(tmp)
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert, key = tmp / "ca.pem", tmp / "agent.crt", tmp / "agent.key"
    ca.cert_pem.write_to_path(str(ca_file))
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    password_file = tmp / "scrape-password"
    password_file.write_text(PASSWORD)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=8)).decode()

    with contextlib.ExitStack() as stack:
        web_port = stack.enter_context(https_server(leaf))
        nut = NutRig(tmp / "nut", maxage=30, pollinterval=2)
        for i in range(1, N_SITES + 1):
            nut.add_ups(f"ups{i:03d}", {**NUT_UPS, "ups.serial": f"FLEET{i:04d}"})
        stack.callback(nut.stop)
        nut.start(timeout=60)
        fleet.nut = nut
        sim = SnmpSim({site_name(1): fixture_records("ups-mib")})
        sim.clone(site_name(1), [site_name(i) for i in range(2, N_SITES + 1)])
        stack.callback(sim.close)
        sim.start()

        site_dirs = []
        for i in range(1, N_SITES + 1):
            site_dir = tmp / "sites" / site_name(i)
            site_dir.mkdir(parents=True)
            config = site_config(site_name(i), f"127.0.0.1:{fleet.ports[i]}",
                                 data_dir=site_dir / "data", nut_port=nut.port,
                                 nut_ups=f"ups{i:03d}", snmp=sim.snmp_config(site_name(i)),
                                 web_port=web_port, ca_file=ca_file)
            config["web"] = {"tls_server_config": {"cert_file": str(cert), "key_file": str(key)},
                             "basic_auth_users": {"prometheus": hashed}}
            site_dirs.append(site_dir)
            if i == 1:  # the central agent serves http_sd for the second half of the fleet
                config["inventory"] = str(tmp / "fleet-b.yml")
            (site_dir / "upkeep.yml").write_text(yaml.safe_dump(config))
        half = N_SITES // 2
        (tmp / "fleet-a.yml").write_text(
            yaml.safe_dump(_inventory(range(1, half + 1), fleet, web_port)))
        (tmp / "fleet-b.yml").write_text(
            yaml.safe_dump(_inventory(range(half + 1, N_SITES + 1), fleet, web_port)))
        for kind, out in (("agents", "sd/agents.json"), ("probes", "sd-probes/probes.json")):
            sd = subprocess.run([UPKEEP, "sd",
                                 "--inventory", str(tmp / "fleet-a.yml"), "--kind", kind,
                                 "-o", str(tmp / out)], capture_output=True, text=True,
                                timeout=60)
            assert sd.returncode == 0, sd.stderr

        sim_log = (tmp / "fleet_sim.log").open("ab")
        fleet.sim_proc = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "e2e" / "fleet_sim.py"),
             *map(str, site_dirs)], stdout=sim_log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=REPO)
        sim_log.close()

        def stop_agents() -> None:
            assert fleet.sim_proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(fleet.sim_proc.pid, signal.SIGTERM)
            try:
                fleet.sim_proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(fleet.sim_proc.pid, signal.SIGKILL)
                fleet.sim_proc.wait(5)

        stack.callback(stop_agents)
        client = ssl.create_default_context(cafile=str(ca_file))

        def all_agents_answer() -> bool:
            for i in range(1, N_SITES + 1):
                try:
                    with socket.create_connection(("127.0.0.1", fleet.ports[i]), timeout=1):
                        pass
                except OSError:
                    return False
            return True

        wait_for(all_agents_answer, timeout=120, interval=0.5,
                 message=f"{N_SITES} agents listening ({(tmp / 'fleet_sim.log').read_text()})")
        first = httpx.get(f"https://127.0.0.1:{fleet.ports[1]}/healthz", verify=client,
                          timeout=30)
        assert first.json()["site"] == site_name(1)

        job_a = {**_scrape_job("upkeep", ca_file, password_file),
                 "file_sd_configs": [{"files": [str(tmp / "sd" / "*.json")]}]}
        job_b = {**_scrape_job("upkeep-http-sd", ca_file, password_file),
                 "http_sd_configs": [{
                     "url": f"https://127.0.0.1:{fleet.ports[1]}/api/v1/sd",
                     "refresh_interval": "10s", "tls_config": {"ca_file": str(ca_file)},
                     "basic_auth": {"username": "prometheus",
                                    "password_file": str(password_file)}}]}
        # the /probe job of deploy/prometheus/prometheus.yml, pointed at the test's files
        deployed = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
        probe_job = next(j for j in deployed["scrape_configs"] if j["job_name"] == "upkeep-probe")
        probe_job.update(_scrape_job("upkeep-probe", ca_file, password_file),
                         metrics_path="/probe", scrape_interval=f"{SCRAPE_INTERVAL}s",
                         scrape_timeout="8s",
                         file_sd_configs=[{"files": [str(tmp / "sd-probes" / "*.json")]}])
        rules = rules_copy(tmp)
        prometheus = Prometheus(tmp / "prometheus", {
            "global": {"scrape_interval": f"{SCRAPE_INTERVAL}s", "scrape_timeout": "8s",
                       "evaluation_interval": "2s"},
            "rule_files": [str(rules / "*.yml")],
            "scrape_configs": [job_a, job_b, probe_job]})
        stack.callback(prometheus.stop)
        prometheus.start()
        fleet.prometheus = prometheus
        yield fleet


def _by_site(result: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"].get("site", ""): float(r["value"][1]) for r in result}


def test_every_site_up_with_sd_labels(fleet: Fleet) -> None:
    prom = fleet.prometheus
    assert prom is not None

    def all_up() -> bool:
        return prom.value('count(up{job=~"upkeep|upkeep-http-sd"} == 1)') == N_SITES

    down = 'up{job=~"upkeep|upkeep-http-sd"} == 0'
    wait_for(all_up, timeout=180, interval=2,
             message=f"all {N_SITES} targets up (down: {prom.query(down)})")
    up = prom.query('up{job=~"upkeep|upkeep-http-sd"}')
    assert {r["metric"]["site"] for r in up} == {site_name(i) for i in range(1, N_SITES + 1)}
    for r in up:
        i = int(r["metric"]["site"].split("-")[1])
        assert r["metric"]["region"] == region(i)
        assert r["metric"]["org"] == "fleet-test"
        assert r["metric"]["job"] == ("upkeep" if i <= N_SITES // 2 else "upkeep-http-sd")
        assert r["metric"]["instance"] == f"127.0.0.1:{fleet.ports[i]}"
    # the agent's own identity matches the label SD gave it, at every site
    info = prom.query('upkeep_agent_info')
    assert len(info) == N_SITES


def test_probe_job_through_the_inventory(fleet: Fleet) -> None:
    """deploy/'s /probe job: targets, module and probing agent from ``upkeep sd --kind
    probes``; the site label is the probing site's."""
    prom = fleet.prometheus
    assert prom is not None
    expr = 'upkeep_website_up{job="upkeep-probe"} == 1'
    result = wait_for(lambda: len(r := prom.query(expr)) == PROBING_SITES and r, timeout=90,
                      interval=2, message="every /probe target up: " + str(
                          prom.query('up{job="upkeep-probe"}')))
    by_site = {r["metric"]["site"]: r["metric"] for r in result}
    assert set(by_site) == {site_name(i) for i in range(1, PROBING_SITES + 1)}
    for site, labels in by_site.items():
        i = int(site.split("-")[1])
        assert labels["instance"] == labels["website"]
        assert labels["instance"].endswith(f"/probe/{i}")
        assert labels["region"] == region(i)


def _docs_numbers() -> dict[str, int]:
    text = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- fleet-series: (.*?) -->", text)
    assert match, "docs/deployment.md lost its fleet-series marker"
    return {k: int(v) for k, v in (item.split("=") for item in match.group(1).split())}


AGENTS = 'job=~"upkeep|upkeep-http-sd"'
SERIES_CHECKS = {
    "ups_nut": f'count by (site) ({{{AGENTS}, ups="nut", __name__=~"upkeep_ups_.*"}})',
    "ups_snmp": f'count by (site) ({{{AGENTS}, ups="snmp", __name__=~"upkeep_ups_.*"}})',
    "websites": f'count by (site) ({{{AGENTS}, website=~"web[123]"}})',
}


def _odd_series(prom: Prometheus, key: str, site: str) -> set[str]:
    """Series of one component at ``site`` that site-001 does not have (or the reverse)."""
    selector = SERIES_CHECKS[key].removeprefix("count by (site) (").removesuffix(")")

    def names(at: str) -> set[str]:
        result = prom.query(selector.replace("}", f', site="{at}"}}', 1))
        return {json.dumps({k: v for k, v in r["metric"].items()
                            if k not in ("site", "instance", "job", "region", "office_type")},
                           sort_keys=True) for r in result}

    return names(site) ^ names(site_name(1))


def test_series_per_site_match_the_docs(fleet: Fleet) -> None:
    prom = fleet.prometheus
    assert prom is not None
    docs = _docs_numbers()

    def ready() -> bool:
        # websites poll once a minute: wait until every site has all three, both UPS fresh
        counts = _by_site(prom.query(f"count by (site) (upkeep_up{{{AGENTS}}} == 1)"))
        return len(counts) == N_SITES and all(v == docs["targets"] for v in counts.values())

    wait_for(ready, timeout=180, interval=2, message="every target of every site up")

    def matches() -> bool:
        # a probe that half-failed under load (e.g. one TLS version check timed out) adds or
        # drops a series until its next poll; the steady state is what the docs size
        return all(set(_by_site(prom.query(expr)).values()) == {float(docs[key])}
                   for key, expr in SERIES_CHECKS.items())

    with contextlib.suppress(AssertionError):
        wait_for(matches, timeout=150, interval=3, message="steady series counts")
    for key, expr in SERIES_CHECKS.items():
        per_site = _by_site(prom.query(expr))
        assert len(per_site) == N_SITES, key
        odd = {site: n for site, n in per_site.items() if n != docs[key]}
        assert not odd, (key, docs[key], odd,
                         _odd_series(prom, key, next(iter(odd))) if odd else None)
    # totals: the same at every site (same composition), and what one scrape holds + 5
    # ALERTS* and recorded series carry the job label too; they are the rules', not scraped
    scraped_only = f'{{{AGENTS}, __name__!~"ALERTS|ALERTS_FOR_STATE|.*:.*"}}'
    total = _by_site(prom.query(f'count by (site) ({scraped_only})'))
    assert len(set(total.values())) == 1, total
    per_site_total = next(iter(total.values()))
    scraped = _by_site(prom.query(f"scrape_samples_scraped{{{AGENTS}}}"))
    assert set(scraped.values()) == {per_site_total - 5}
    fleet_total = prom.value(f"count({scraped_only})")
    assert fleet_total == per_site_total * N_SITES


def test_power_failure_at_one_site_fires_one_alert(fleet: Fleet) -> None:
    prom, nut = fleet.prometheus, fleet.nut
    assert prom is not None and nut is not None
    site = site_name(FAIL_SITE)
    ups_alerts = 'ALERTS{alertname=~"Ups.*", alertstate="firing"}'
    wait_for(lambda: prom.value('count(upkeep_ups_status{flag="OL"} == 1)') == 2 * N_SITES,
             timeout=60, message="every UPS on line")
    # let the background UPS alerts of a fresh fleet settle (e.g. a self-test overdue,
    # identical at every site) so that "before" and "after" differ only by what the power
    # failure caused (only UPS alerts are compared below)
    wait_for(lambda: not prom.query('ALERTS{alertstate="pending", ups!=""}'), timeout=60,
             interval=1, message="no pending UPS alerts")
    before = prom.query('ALERTS{alertstate="firing"}')
    assert prom.query(ups_alerts) == [], "a UPS alert fires before the power failure"
    nut.set(f"ups{FAIL_SITE:03d}", "ups.status", "OB DISCHRG")
    try:
        firing = wait_for(lambda: prom.query('ALERTS{alertname="UpsOnBattery", '
                                             'alertstate="firing"}'),
                          timeout=90, interval=1, message="UpsOnBattery firing")
        assert len(firing) == 1
        labels = firing[0]["metric"]
        assert labels["site"] == site and labels["ups"] == "nut"
        assert labels["severity"] == "critical"
        time.sleep(2 * SCRAPE_INTERVAL)  # other sites had time to (wrongly) fire too
        ups_firing = prom.query(ups_alerts)
        assert {r["metric"]["site"] for r in ups_firing} == {site}, ups_firing
        # nothing about any UPS changed at the 79 other sites. Only alerts about a UPS (a
        # `ups` label, whatever the rule) are compared: the others at every site come from
        # the one machine all 80 agents watch and from probes on a 2-core box running 80
        # agents (HostHighLoad once load15 passes 4, HostMemoryPressure, a slow scrape's
        # HostDown, a timed-out probe's WebsiteDown); they may start during the 20 s below
        # whatever the power does at site 37.
        after = prom.query('ALERTS{alertstate="firing"}')

        def elsewhere(result: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
            return {(r["metric"].get("site", ""), r["metric"]["alertname"], r["metric"]["ups"])
                    for r in result
                    if r["metric"].get("site") != site and r["metric"].get("ups")}

        assert elsewhere(after) <= elsewhere(before), elsewhere(after) - elsewhere(before)
    finally:
        nut.set(f"ups{FAIL_SITE:03d}", "ups.status", "OL")


# --- the NAT path: agent mode + remote_write, central down for 60 s -------------------------

class NatScenario:
    """A branch agent scraped by Prometheus agent mode (TLS + basic auth), remote_write to a
    central Prometheus with the receiver; the centre is stopped for 60 s and restarted.

    The timeline runs in a background thread, so the outage overlaps the fleet's start-up;
    ``test_nat_branch_survives_central_outage`` waits for it and checks what arrived."""

    OUTAGE = 60.0

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1")
        self.ca_file, cert, key = tmp / "ca.pem", tmp / "a.crt", tmp / "a.key"
        ca.cert_pem.write_to_path(str(self.ca_file))
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        (tmp / "pw").write_text(PASSWORD)
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=8)).decode()
        (tmp / "branch").mkdir()
        self.agent = AgentProcess(tmp / "branch", {
            "site": "branch-nat", "ups": [], "host": {"interval": "5s", "timeout": "3s"},
            "web": {"tls_server_config": {"cert_file": str(cert), "key_file": str(key)},
                    "basic_auth_users": {"prometheus": hashed}}})
        self.central = Prometheus(tmp / "central", {"global": {"scrape_interval": "5s"}},
                                  "--web.enable-remote-write-receiver")
        self.branch: Prometheus | None = None
        self.vmagent: subprocess.Popen[bytes] | None = None
        self.expr = 'up{job="branch-agent", site="branch-nat"}'
        self.vm_expr = 'up{job="branch-vmagent", site="branch-nat"}'
        self.outage_start = self.outage_end = 0.0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._timeline, daemon=True)

    def start(self) -> NatScenario:
        client = ssl.create_default_context(cafile=str(self.ca_file))
        self.agent.start(wait=False)
        wait_for(lambda: httpx.get(f"https://127.0.0.1:{self.agent.port}/healthz", timeout=1,
                                   verify=client).status_code == 200, timeout=60,
                 message="the branch agent")
        self.central.start()
        self.branch = Prometheus(self.tmp / "branch-prom", {
            "global": {"scrape_interval": f"{NAT_INTERVAL}s",
                       "external_labels": {"site": "branch-nat"}},
            "scrape_configs": [{
                **_scrape_job("branch-agent", self.ca_file, self.tmp / "pw"),
                "static_configs": [{"targets": [f"127.0.0.1:{self.agent.port}"]}]}],
            "remote_write": [{"url": f"{self.central.url}/api/v1/write",
                              "queue_config": {"min_backoff": "1s", "max_backoff": "5s"}}]},
            "--enable-feature=agent")
        self.branch.start()
        vmagent = shutil.which("vmagent")
        if vmagent:  # the other forwarder, when installed (Debian victoria-metrics)
            self._start_vmagent(vmagent)
        self.thread.start()
        return self

    def _start_vmagent(self, binary: str) -> None:
        scrape = self.tmp / "vmagent-scrape.yml"
        scrape.write_text(yaml.safe_dump({
            "global": {"scrape_interval": f"{NAT_INTERVAL}s"},
            "scrape_configs": [{
                **_scrape_job("branch-vmagent", self.ca_file, self.tmp / "pw"),
                "static_configs": [{"targets": [f"127.0.0.1:{self.agent.port}"]}]}]}))
        log = (self.tmp / "vmagent.log").open("ab")
        self.vmagent = subprocess.Popen(
            [binary, f"-httpListenAddr=127.0.0.1:{free_port()}",
             f"-promscrape.config={scrape}", f"-remoteWrite.url={self.central.url}/api/v1/write",
             f"-remoteWrite.tmpDataPath={self.tmp / 'vmagent-buffer'}",
             "-remoteWrite.maxDiskUsagePerURL=64MiB", "-remoteWrite.label=site=branch-nat",
             # one queue keeps blocks in order: Prometheus's receiver rejects out-of-order
             # samples (with the default 2 queues a re-sent block lost 20 s of data here)
             "-remoteWrite.queues=1",
             "-loggerLevel=WARN"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.tmp)
        log.close()

    def _timeline(self) -> None:
        try:
            exprs = [self.expr, *([self.vm_expr] if self.vmagent else [])]
            wait_for(lambda: all(self.central.value(e) == 1 for e in exprs), timeout=90,
                     interval=1, message="remote-written samples at central")
            time.sleep(2 * NAT_INTERVAL)
            self.outage_start = time.time()
            self.central.stop()  # the WAN link to the centre is gone
            time.sleep(self.OUTAGE)
            self.outage_end = time.time()
            self.central.start()  # same port, same data dir

            def caught_up() -> bool:
                for expr in exprs:
                    last = self.central.query(f"timestamp({expr})")
                    if not last or float(last[0]["value"][1]) <= self.outage_end + NAT_INTERVAL:
                        return False
                return True

            wait_for(caught_up, timeout=120, interval=1,
                     message="the branch catching up after the outage")
        except BaseException as err:  # reported by the test, not lost in the thread
            self.error = err

    def wait(self) -> None:
        self.thread.join(self.OUTAGE + 300)
        assert not self.thread.is_alive(), "the NAT timeline did not finish"
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        if self.thread.is_alive():
            self.thread.join(self.OUTAGE + 200)
        if self.branch is not None:
            self.branch.stop(hard=True)  # agent mode waits for its flush deadline otherwise
        if self.vmagent is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.vmagent.pid, signal.SIGKILL)
            self.vmagent.wait(10)
        self.central.stop()
        self.agent.stop()


@pytest.fixture(scope="module")
def nat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatScenario]:
    need_binary("prometheus")
    scenario = NatScenario(tmp_path_factory.mktemp("nat"))
    try:
        yield scenario.start()
    finally:
        scenario.stop()


def _assert_no_gap(nat: NatScenario, expr: str) -> None:
    window = int(time.time() - nat.outage_start + 2 * NAT_INTERVAL)
    raw = nat.central.query(f"{expr}[{window}s]")
    assert len(raw) == 1, raw
    stamps = [float(t) for t, _v in raw[0]["values"]]
    assert stamps[0] < nat.outage_start and stamps[-1] > nat.outage_end
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    # every scrape of the outage arrived after it: no hole anywhere near the 60 s outage
    # (2 intervals of slack: a busy test machine may delay one scrape)
    assert max(gaps) < 2 * NAT_INTERVAL, (max(gaps), stamps)
    inside = [t for t in stamps if nat.outage_start < t < nat.outage_end]
    assert len(inside) >= int(nat.OUTAGE / NAT_INTERVAL) - 2, len(inside)
    assert all(float(v) == 1 for _t, v in raw[0]["values"])


def test_nat_branch_survives_central_outage(nat: NatScenario) -> None:
    """Prometheus agent mode: the WAL holds the outage's samples until the centre is back."""
    nat.wait()
    _assert_no_gap(nat, nat.expr)


def test_nat_branch_vmagent_survives_central_outage(nat: NatScenario) -> None:
    """vmagent: the on-disk buffer (-remoteWrite.tmpDataPath) does the same."""
    need_binary("vmagent")
    nat.wait()
    _assert_no_gap(nat, nat.vm_expr)
