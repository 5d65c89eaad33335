"""The agent's HTTP front (``upkeep.agents.front``): ``/metrics`` without the API, the API on demand.

A real ``upkeep run`` process on loopback. Prometheus only ever asks for ``/metrics``; that must
be answered (both formats, gzip, the security headers) without importing FastAPI and the UI.
The first request for anything else loads them, once, and from then on both work side by side.
"""

from __future__ import annotations

import gzip
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from tests.support import AgentProcess, parse_metrics, wait_for

LOADED = "API and UI loaded on first use"


def _metrics_ok(url: str) -> bool:
    try:
        return httpx.get(f"{url}/metrics", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_scrapes_alone_never_load_the_api_and_the_first_other_request_does(tmp_path: Path
                                                                           ) -> None:
    headers = {"X-Frame-Options": "DENY"}
    agent = AgentProcess(tmp_path, {"site": "front", "host": {"interval": "15s"},
                                    "web": {"http_server_config": {"headers": headers}}})
    agent.start(wait=False)
    try:
        wait_for(lambda: _metrics_ok(agent.url), timeout=30, message="first /metrics")
        wait_for(lambda: 'upkeep_up{kind="host"' in agent.metrics(), timeout=20,
                 message="the host's first poll")
        text = agent.get("/metrics")
        assert text.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert text.headers["x-frame-options"] == "DENY"
        # uvicorn's clock tick is gone; the front dates every answer itself
        assert abs(parsedate_to_datetime(text.headers["date"]).timestamp() - time.time()) < 5
        series = parse_metrics(text.text)
        assert [value for (name, labels), value in series.items()
                if name == "upkeep_up" and dict(labels).get("kind") == "host"] == [1.0]
        om = agent.get("/metrics", headers={"Accept": "application/openmetrics-text; "
                                                      "version=1.0.0"})
        assert om.headers["content-type"].startswith("application/openmetrics-text")
        assert om.text.endswith("# EOF\n")
        with httpx.stream("GET", f"{agent.url}/metrics", headers={"Accept-Encoding": "gzip"},
                          timeout=10) as raw:
            body = b"".join(raw.iter_raw())
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.headers["vary"] == "Accept-Encoding"
        assert gzip.decompress(body).startswith(b"# HELP ")
        assert LOADED not in agent.log_text()

        assert agent.get("/healthz").json()["site"] == "front"
        wait_for(lambda: LOADED in agent.log_text(), timeout=10, message="the API log line")
        assert agent.get("/api/v1/targets").json()["site"] == "front"
        assert agent.get("/").status_code == 200
        health = agent.get("/healthz")
        assert health.headers["x-frame-options"] == "DENY"
        assert len(health.headers.get_list("date")) == 1
        assert abs(parsedate_to_datetime(health.headers["date"]).timestamp() - time.time()) < 5
        # what the front does not answer goes to FastAPI, which knows /metrics only as GET
        assert httpx.post(f"{agent.url}/metrics", timeout=10).status_code in (404, 405)
        assert agent.get("/metrics").status_code == 200
        assert agent.log_text().count(LOADED) == 1
    finally:
        agent.stop()
    assert "upkeep stopped" in agent.log_text()


ACCEPTS = [
    "", "*/*", "text/plain", "text/plain;version=0.0.4", "application/json",
    "application/openmetrics-text", "application/openmetrics-text; version=1.0.0",
    "application/openmetrics-text;version=0.0.1", "application/openmetrics-text;version=0.0.1,"
    "text/plain;version=0.0.4", "application/openmetrics-text;version=2.0.0",
    # what Prometheus 2.x and 3.x send
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;"
    "escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    "text/plain;version=1.0.0,application/openmetrics-text",
    "text/plain; version=0.0.4, application/openmetrics-text; version=1.0.0",
    " application/openmetrics-text ;q=0.1", "application/openmetrics-text;version=1",
]
ENCODINGS = ["", "gzip", "GZIP", "deflate, gzip;q=0.5", "br", "gzip;q=0", "x-gzip",
             "deflate,  gzip ", "identity"]


def test_negotiation_matches_prometheus_client() -> None:
    """The front negotiates as the library it no longer loads (for the headers the library
    can parse at all: a version like ``1.x`` makes it raise, the front then answers text)."""
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.exposition import gzip_accepted as reference_gzip

    from upkeep.agents.front import gzip_accepted, wants_openmetrics

    for accept in ACCEPTS:
        reference = choose_encoder(accept)[1].startswith("application/openmetrics-text")
        assert wants_openmetrics(accept) is reference, accept
    for encoding in ENCODINGS:
        assert gzip_accepted(encoding) is reference_gzip(encoding), encoding
    assert wants_openmetrics("application/openmetrics-text;version=1.x") is False
