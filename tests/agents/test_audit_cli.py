"""``upkeep audit``: the CLI verb over real pages, ``--check-tools``, and the running agent
(a long audit does not delay the other targets' polls: ``upkeep_poll_delay_max_seconds``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collectors.test_web_audit import BROKEN, CLEAN, HTML, LOOP, need_tools
from tests.support import metric, parse_metrics, run_cli, running_agent, wait_for
from tests.web_rig import Pki, Route, Server, WebRig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pki, Server]]:
    pki = Pki(tmp_path_factory.mktemp("pki"))
    routes = {"/broken": Route(headers=[HTML], body=BROKEN),
              "/clean": Route(headers=[HTML], body=CLEAN),
              "/spin": Route(headers=[HTML], body=LOOP)}
    with WebRig() as rig:
        yield pki, rig.https(pki.leaf("valid"), routes=routes, families=("ipv4",))


def test_check_tools_names_what_is_missing_and_how_to_install_it(tmp_path: Path) -> None:
    config = tmp_path / "upkeep.yml"
    config.write_text(f"audit: {{java: {tmp_path}/no-java, axe_js: {tmp_path}/axe.js}}\n",
                      encoding="utf-8")
    result = run_cli("audit", "-c", str(config), "--check-tools")
    assert result.returncode == 1, result.stderr
    assert "java        MISSING" in result.stdout
    assert "apt-get install -y default-jre-headless" in result.stdout
    assert "npm install --prefix /opt/upkeep-audit axe-core@" in result.stdout
    assert "vnu-jar" not in result.stdout.split("to install")[1]  # the jar itself is there


def test_audit_urls_prints_findings_and_exits_1(site: tuple[Pki, Server]) -> None:
    need_tools()
    pki, server = site
    base = server.url("127.0.0.1").rstrip("/")
    result = run_cli("audit", f"{base}/broken", f"{base}/clean", "--ca-file", pki.ca_file,
                     "--json", timeout=180)
    assert result.returncode == 1, result.stderr
    [reading] = json.loads(result.stdout)
    pages = reading["info"]["pages"]
    assert pages["home"]["html"]["errors"] >= 4
    assert pages["page2"]["html"]["errors"] == 0
    assert {"image-alt", "label"} <= {v["id"] for v in pages["home"]["accessibility"]
                                      ["violations"]}
    text = run_cli("audit", f"{base}/clean", "--ca-file", pki.ca_file, timeout=180)
    assert text.returncode == 0, text.stdout + text.stderr
    assert "html errors 0, warnings 0; accessibility 0; thai ok" in text.stdout


def test_running_audit_does_not_delay_other_polls(site: tuple[Pki, Server],
                                                  tmp_path: Path) -> None:
    need_tools()
    pki, server = site
    base = server.url("127.0.0.1").rstrip("/")
    config = {
        "host": {"interval": "1s", "timeout": "900ms"},
        "audit": {"page_timeout": "8s", "timeout": "60s"},
        "websites": [
            {"name": "office", "url": f"{base}/broken", "tls": {"ca_file": pki.ca_file},
             "audit": {"enabled": True, "pages": [f"{base}/spin", f"{base}/clean"],
                       "check_interval": "1h"}},
            *({"name": f"w{i}", "url": f"{base}/clean", "interval": "1s", "timeout": "900ms",
               "tls": {"ca_file": pki.ca_file},
               "expect": {"http_redirect": False, "tls_versions": False}} for i in range(3))]}
    with running_agent(tmp_path, config) as agent:
        worst = 0.0
        deadline = time.monotonic() + 90
        audited = False
        while time.monotonic() < deadline and not audited:
            series = parse_metrics(agent.metrics())
            worst = max(worst, metric(series, "upkeep_poll_delay_max_seconds", kind="web") or 0,
                        metric(series, "upkeep_poll_delay_max_seconds", kind="host") or 0)
            audited = metric(series, "upkeep_website_audit_last_run_timestamp_seconds",
                             website="office") is not None
            time.sleep(0.5)
        assert audited, agent.log_text()[-2000:]
        series = parse_metrics(agent.metrics())
        assert metric(series, "upkeep_website_html_errors", website="office", page="home") >= 4
        # the audit took many seconds (a JVM, a browser, a page cut off after 8 s); a blocked
        # event loop would show as polls starting seconds late
        assert worst < 1.0, worst
        wait_for(lambda: metric(parse_metrics(agent.metrics()), "upkeep_up", kind="audit",
                                target="office") is not None, timeout=5)
