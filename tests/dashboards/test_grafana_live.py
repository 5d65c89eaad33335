"""Every dashboard query against a real Prometheus scraping a real agent.

Debian's ``prometheus`` scrapes the agent (with ``site`` as a target label, as upkeep's
service discovery sets it) while the agent polls two UPS on a real ``upsd`` + ``dummy-ups``
and two HTTPS sites. Each panel's expression, rendered as Grafana would send it with every
variable at "All", must succeed and return series. This catches renamed metrics and labels
that the static checks cannot see.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.dashboards.conftest import SITE, Stack
from tests.dashboards.grafana_util import label_values, load_dashboards, queries, render
from tests.support import free_port, need_binary, wait_for

pytestmark = pytest.mark.slow



class Prometheus:
    def __init__(self, tmp: Path, agent_port: int) -> None:
        self.port = free_port()
        self.dir = tmp
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{
                "job_name": "upkeep", "scrape_interval": "1s", "scrape_timeout": "900ms",
                "static_configs": [{"targets": [f"127.0.0.1:{agent_port}"],
                                    "labels": {"site": SITE}}]}],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = (tmp / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [need_binary("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--log.level=warn"], stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, expr: str) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body: dict[str, Any] = response.json()
        return body

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    prom = Prometheus(tmp_path_factory.mktemp("prom"), stack.agent.port)
    try:
        wait_for(lambda: httpx.get(f"{prom.url}/-/ready", timeout=1).status_code == 200,
                 timeout=30, message="prometheus ready")
        # enough scrapes for rate() over 1m: at least a few samples of every family
        wait_for(lambda: prom.query('count_over_time(upkeep_ups_status{flag="OL"}[1m])')
                 ["data"]["result"] and min(float(r["value"][1]) for r in prom.query(
                     'count_over_time(upkeep_ups_status{flag="OL"}[1m])')["data"]["result"]) >= 4,
                 timeout=40, message="four scrapes of the agent")
        wait_for(lambda: prom.query("upkeep_tls_cert_not_after_timestamp_seconds")
                 ["data"]["result"], timeout=30, message="website metrics scraped")
        yield prom
    finally:
        prom.stop()


def _expected_empty(where: str) -> bool:
    # the stack sets up everything a panel shows (systems, an expired certificate ...), except
    # a power event: the annotation is checked after a real one in the next test
    return where.startswith("annotation")


def test_every_panel_query_returns_data(prometheus: Prometheus) -> None:
    checked, empty_ok, failures = 0, 0, []
    for name, dash in load_dashboards().items():
        for where, expr, _ in queries(dash):
            split = label_values(expr)
            promql = render(split[0] if split else expr)
            body = prometheus.query(promql)
            checked += 1
            if body.get("status") != "success":
                failures.append(f"{name} {where}: {body.get('error')} in {promql}")
                continue
            result = body["data"]["result"]
            if split:
                if not any(split[1] in series["metric"] for series in result):
                    failures.append(f"{name} {where}: no series with label {split[1]}")
            elif not result:
                if _expected_empty(where):
                    empty_ok += 1
                else:
                    failures.append(f"{name} {where}: no series for {promql}")
    assert checked > 60
    assert not failures, "\n".join(failures)
    assert empty_ok == 3, empty_ok  # the three power-event annotations


def test_site_variable_and_on_battery_panel(prometheus: Prometheus, stack: Stack) -> None:
    """The site variable lists the target label, and the fleet's on-battery stat follows a
    UPS that goes on battery (the same expression the dashboard uses)."""
    sites = prometheus.query("group by (site) (upkeep_agent_info)")["data"]["result"]
    assert [s["metric"]["site"] for s in sites] == [SITE]
    fleet = load_dashboards()["fleet-overview.json"]
    expr = next(e for w, e, _ in queries(fleet) if "UPS on battery" in w and "panel" in w)
    assert prometheus.query(render(expr))["data"]["result"][0]["value"][1] == "0"
    stack.set_status("ups2", "OB DISCHRG")
    try:
        wait_for(lambda: prometheus.query(render(expr))["data"]["result"][0]["value"][1] == "1",
                 timeout=20, message="the on-battery stat to show 1")
        # and the power-event annotation finds the change
        annotation = next(a["expr"] for a in fleet["annotations"]["list"] if "expr" in a)
        assert prometheus.query(render(annotation))["data"]["result"]
    finally:
        stack.set_status("ups2", "OL")
