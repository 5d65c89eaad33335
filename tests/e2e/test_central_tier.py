"""The central tier at fleet size: 800 simulated sites, Debian's Prometheus and Alertmanager.

- ``tests/e2e/site_sim.py`` serves 800 agent ``/metrics`` endpoints from this process (a real
  agent's captured scrape with per-site values), 16 regions of 50 sites.
- The real ``upkeep sd`` turns the simulator's inventory into file_sd JSON; Debian's
  ``prometheus`` scrapes every site through it with ``alerts/*.rules.yml`` loaded (``for:``
  shortened 30x in the test copy, as tests/e2e/test_alerting_e2e.py does).
- Debian's ``prometheus-alertmanager`` runs the shipped ``alerts/alertmanager.yml`` (receivers
  pointed at a local webhook and SMTP sink; group_wait scaled down, see ``am_config``).

Checked: every site is up with its ``site``/``region`` from file_sd and every rule group
evaluates without failures; one site's power cut pages exactly once with that site's
WebsiteDown inhibited; a region going dark (50 sites) is one page for the region with the
sites' HostDown inhibited. The 800-site *measurements* are bench/bench_central.py's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.alerts.stack import (
    SmtpSink,
    WebhookReceiver,
    alertmanager_config,
    am_alerts,
    running_alertmanager,
    running_prometheus,
)
from tests.e2e.site_sim import SiteSimulator
from tests.e2e.test_alerting_e2e import shortened_rules
from tests.support import REPO, parse_metrics, run_cli, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

N_SITES = int(os.environ.get("UPKEEP_CENTRAL_SITES", "800"))
REGIONS = max(1, N_SITES // 50)
SCRAPE = 10          # seconds; 800 sites x 590 samples / 10 s = 47k samples/s
EVAL = 2
#: critical route's group_wait in the test: one scrape interval + one evaluation interval +
#: margin, as the shipped 1m is for 30 s + 30 s
CRITICAL_GROUP_WAIT = "15s"


def am_config(webhook: str, smtp_port: int) -> dict[str, Any]:
    config = alertmanager_config(webhook, smtp_port, fast=False)
    config["route"].update(group_wait="2s", group_interval="2m", repeat_interval="1h")
    for route in config["route"]["routes"]:
        if "group_wait" in route:
            assert route.get("group_by") == ["alertname", "region"], route
            route["group_wait"] = CRITICAL_GROUP_WAIT
    return config


class Central:
    def __init__(self, sim: SiteSimulator, prom: str, am: str, hook: WebhookReceiver) -> None:
        self.sim, self.prom, self.am, self.hook = sim, prom, am, hook

    def query(self, expr: str) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.prom}/api/v1/query", params={"query": expr}, timeout=20)
        r.raise_for_status()
        return list(r.json()["data"]["result"])

    def pages(self, **labels: str) -> list[dict[str, Any]]:
        """Webhook payloads (pages) with at least one alert carrying ``labels``."""
        return [p for p in list(self.hook.payloads)
                if any(all(a["labels"].get(k) == v for k, v in labels.items())
                       for a in p.get("alerts", []))]


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Central]:
    tmp = tmp_path_factory.mktemp("central")
    with SiteSimulator(N_SITES, REGIONS) as sim, WebhookReceiver() as hook, \
            SmtpSink() as smtp:
        sim.write_inventory(tmp / "fleet.yml")
        result = run_cli("sd", "--inventory", str(tmp / "fleet.yml"), "-o",
                         str(tmp / "sd" / "upkeep.json"))
        assert result.returncode == 0, result.stderr
        with running_alertmanager(tmp, am_config(hook.url, smtp.port)) as am:
            config = {
                "global": {"scrape_interval": f"{SCRAPE}s", "scrape_timeout": "5s",
                           "evaluation_interval": f"{EVAL}s"},
                "rule_files": shortened_rules(tmp / "rules"),
                "alerting": {"alertmanagers": [
                    {"static_configs": [{"targets": [am.removeprefix("http://")]}]}]},
                "scrape_configs": [{
                    "job_name": "upkeep",
                    "file_sd_configs": [{"files": [str(tmp / "sd" / "upkeep.json")]}],
                    "sample_limit": 3000}],
            }
            with running_prometheus(tmp, config) as prom:
                yield Central(sim, prom, am, hook)


def test_every_site_is_up_with_its_inventory_labels_and_rules_evaluate(central: Central
                                                                        ) -> None:
    def all_up() -> bool:
        return len(central.query('up{job="upkeep"} == 1')) == N_SITES

    wait_for(all_up, timeout=3 * SCRAPE + 30, interval=1, message=f"{N_SITES} sites up")
    ups = central.query('up{job="upkeep"}')
    by_site = {s["metric"]["site"]: s["metric"] for s in ups}
    assert set(by_site) == {s.name for s in central.sim.sites}
    for site in central.sim.sites:
        labels = by_site[site.name]
        assert labels["region"] == site.region
        assert labels["office_type"] == "branch" and labels["org"] == "sim"
        assert labels["instance"] == f"127.0.0.1:{site.port}"
    # the agent's own series carry the inventory's labels too (what the rules group by)
    per_region = central.query('count by (region) (upkeep_ups_status{flag="OL"})')
    assert {r["metric"]["region"]: int(r["value"][1]) for r in per_region} == {
        f"region-{n:02d}": 2 * sum(1 for s in central.sim.sites if s.region == f"region-{n:02d}")
        for n in range(REGIONS)}

    rules = httpx.get(f"{central.prom}/api/v1/rules", timeout=20).json()["data"]["groups"]
    names = {g["name"] for g in rules}
    assert {"upkeep-agent", "upkeep-ups", "upkeep-host", "upkeep-website"} <= names
    wait_for(lambda: all(g["lastEvaluation"] > "2000" for g in httpx.get(
        f"{central.prom}/api/v1/rules", timeout=20).json()["data"]["groups"]),
        timeout=30, interval=1, message="every rule group evaluated")
    for group in httpx.get(f"{central.prom}/api/v1/rules", timeout=20).json()["data"]["groups"]:
        for rule in group["rules"]:
            assert rule["health"] == "ok", (group["name"], rule["name"], rule.get("lastError"))
    own = parse_metrics(httpx.get(f"{central.prom}/metrics", timeout=20).text)
    failures = [v for (name, _l), v in own.items()
                if name == "prometheus_rule_evaluation_failures_total"]
    assert len(failures) >= 4 and sum(failures) == 0


def test_power_cut_pages_once_and_a_dark_region_pages_once(central: Central) -> None:
    wait_for(lambda: len(central.query('up{job="upkeep"} == 1')) == N_SITES,
             timeout=3 * SCRAPE + 30, interval=1, message="all sites up")
    # no page about anything before the incidents (the simulated fleet is healthy)
    assert central.hook.payloads == [], json.dumps(central.hook.payloads)[:2000]
    cut = next(s for s in central.sim.sites if s.region == "region-01")
    dark_region = "region-02" if REGIONS > 2 else cut.region
    dark = [s for s in central.sim.sites if s.region == dark_region and s is not cut]
    assert len(dark) >= min(49, N_SITES // REGIONS - 1)

    def incidents() -> None:
        import time

        cut.on_battery_since = time.time()
        for site in dark:
            site.down = True

    central.sim.call(incidents)

    # the power cut: UpsOnBattery (2 UPS) pages; the 3 WebsiteDown are inhibited by it
    def cut_settled() -> bool:
        alerts = [a for a in am_alerts(central.am) if a["labels"].get("site") == cut.name]
        down = [a for a in alerts if a["labels"]["alertname"] == "WebsiteDown"]
        return len(down) == 3 and bool(central.pages(site=cut.name))

    wait_for(cut_settled, timeout=90, interval=1, message="power cut paged, WebsiteDown seen")
    alerts = [a for a in am_alerts(central.am) if a["labels"].get("site") == cut.name]
    for alert in alerts:
        if alert["labels"]["alertname"] == "WebsiteDown":
            assert alert["status"]["state"] == "suppressed", alert
            assert alert["status"]["inhibitedBy"], alert

    # the dark region: one UpkeepAgentUnreachable page listing every site in it
    def region_paged() -> bool:
        return bool(central.pages(alertname="UpkeepAgentUnreachable", region=dark_region))

    wait_for(region_paged, timeout=90, interval=1, message="region page")

    def host_down() -> list[dict[str, Any]]:
        return [a for a in am_alerts(central.am) if a["labels"]["alertname"] == "HostDown"
                and a["labels"].get("region") == dark_region]

    wait_for(lambda: len(host_down()) == len(dark), timeout=60, interval=1,
             message="every dark site's HostDown in Alertmanager")
    held = host_down()
    assert all(a["status"]["state"] == "suppressed" for a in held), [
        a["labels"]["site"] for a in held if a["status"]["state"] != "suppressed"]

    pages = central.hook.payloads
    cut_pages = central.pages(site=cut.name)
    assert len(cut_pages) == 1, cut_pages
    assert {a["labels"]["alertname"] for a in cut_pages[0]["alerts"]} == {"UpsOnBattery"}
    assert {a["labels"]["ups"] for a in cut_pages[0]["alerts"]} == {"nut", "snmp"}
    region_pages = central.pages(region=dark_region)
    assert len(region_pages) == 1, [len(p["alerts"]) for p in region_pages]
    assert {a["labels"]["alertname"] for a in region_pages[0]["alerts"]} == {
        "UpkeepAgentUnreachable"}
    assert {a["labels"]["site"] for a in region_pages[0]["alerts"]} == {s.name for s in dark}
    # nothing else paged: one page for the cut, one for the region
    assert len(pages) == 2, [(p["groupLabels"], len(p["alerts"])) for p in pages]


def shard_config(shard: int, sd_file: Path) -> dict[str, Any]:
    """deploy/prometheus/central-shard.yml as shard ``shard``, pointed at the simulator
    (plain HTTP, no auth, no rules or remote_write: only the sharding is under test)."""
    config: dict[str, Any] = yaml.safe_load(
        (REPO / "deploy" / "prometheus" / "central-shard.yml").read_text())
    config["global"].update(scrape_interval="3s", evaluation_interval="3s", scrape_timeout="2s")
    config["global"]["external_labels"]["shard"] = str(shard)
    for key in ("rule_files", "alerting", "remote_write"):
        config.pop(key)
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "upkeep")
    for key in ("scheme", "tls_config", "basic_auth"):
        job.pop(key)
    job["file_sd_configs"] = [{"files": [str(sd_file)]}]
    keep = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    assert len(keep) == 1 and keep[0]["regex"] == "0"
    keep[0]["regex"] = str(shard)
    config["scrape_configs"] = [job]
    return config


def test_region_sharding_example_splits_the_fleet_by_region(tmp_path: Path) -> None:
    with SiteSimulator(120, regions=12) as sim:
        sim.write_inventory(tmp_path / "fleet.yml")
        sd_file = tmp_path / "sd" / "upkeep.json"
        result = run_cli("sd", "--inventory", str(tmp_path / "fleet.yml"), "-o", str(sd_file))
        assert result.returncode == 0, result.stderr
        (tmp_path / "s0").mkdir()
        (tmp_path / "s1").mkdir()
        with running_prometheus(tmp_path / "s0", shard_config(0, sd_file)) as p0, \
                running_prometheus(tmp_path / "s1", shard_config(1, sd_file)) as p1:
            def sites_of(url: str) -> dict[str, str]:
                r = httpx.get(f"{url}/api/v1/query", params={"query": 'up{job="upkeep"} == 1'},
                              timeout=20)
                return {s["metric"]["site"]: s["metric"]["region"]
                        for s in r.json()["data"]["result"]}

            wait_for(lambda: len(sites_of(p0)) + len(sites_of(p1)) == 120, timeout=40,
                     interval=1, message="every site scraped by one shard")
            s0, s1 = sites_of(p0), sites_of(p1)
    assert s0 and s1, "both shards get a part of the fleet"
    assert not set(s0) & set(s1), "no site is scraped twice"
    assert set(s0) | set(s1) == {s.name for s in sim.sites}
    assert not set(s0.values()) & set(s1.values()), "a region is never split"
