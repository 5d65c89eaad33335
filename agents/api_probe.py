"""``GET /probe?target=URL&module=NAME``: the Prometheus multi-target pattern for websites.

A central Prometheus can use upkeep where it would use blackbox_exporter::

    - job_name: upkeep-websites
      metrics_path: /probe
      params: {module: [https_full]}
      static_configs: [{targets: [https://www.example.go.th/]}]
      relabel_configs:
        - {source_labels: [__address__], target_label: __param_target}
        - {source_labels: [__param_target], target_label: instance}
        - {target_label: __address__, replacement: branch-agent:10316}

The answer holds the same families the scheduled probe exports (``website`` = the target
URL), plus ``upkeep_up`` and ``upkeep_poll_duration_seconds`` for ``kind="web"`` and, when
the probe failed, ``upkeep_poll_error{kind="web",target,reason}`` with the failure reason
(``tls_expired``, ``connect_refused``, ``dns_nxdomain`` ...; the list is in
``upkeep.collectors.web``), the series /metrics gives for polled targets; blackbox_exporter
users find that reason in its debug log, next to ``probe_success 0``.

Modules are named expectation presets: ``https_2xx`` (blackbox's basic https module: one
request per address, no version matrix, no http->https check), ``https_full`` (every
check), or the ``name`` of a configured website (its expectations, CA file and policy
pages). Bounded: only http(s) targets (no SSRF to other schemes), at most
``MAX_CONCURRENT`` probes at once, the timeout capped by Prometheus'
``X-Prometheus-Scrape-Timeout-Seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request, Response

from upkeep.agents.exposition import POLL_DURATION, POLL_ERROR, TEXT_004, UP, render_samples
from upkeep.config.websites import ExpectConfig, WebsiteConfig, check_url
from upkeep.kit.auth import require_reader
from upkeep.metrics import sample

if TYPE_CHECKING:
    from upkeep.collectors.web import WebCollector

router = APIRouter()
MAX_CONCURRENT = 16
DEFAULT_TIMEOUT = 10.0
PRESETS: dict[str, ExpectConfig] = {
    "https_2xx": ExpectConfig(tls_versions=False, http_redirect=False),
    "https_full": ExpectConfig(),
}
_slots = asyncio.Semaphore(MAX_CONCURRENT)


def _error(status: int, text: str) -> Response:
    return Response(text + "\n", status_code=status, media_type="text/plain; charset=utf-8")


def _collector(request: Request) -> WebCollector:
    # imported on the first probe: an agent that never serves /probe never loads the TLS,
    # DNS and HTTP client stack
    from upkeep.collectors.web import WebCollector

    """One collector per agent config (its resolver); rebuilt after a reload."""
    agent = request.app.state.agent
    cached: tuple[Any, WebCollector] | None = getattr(request.app.state, "web_probe", None)
    if cached is None or cached[0] is not agent.config.resolver:
        cached = (agent.config.resolver, WebCollector([], agent.config.resolver))
        request.app.state.web_probe = cached
    return cached[1]


def _website(request: Request, target: str, module: str) -> WebsiteConfig | Response:
    try:
        check_url(target)
    except ValueError as err:
        return _error(400, f"target: {err}")
    websites = {w.name: w for w in request.app.state.agent.config.websites}
    if module in websites:
        site = websites[module]
        return WebsiteConfig(name=target, url=target, expect=site.expect, tls=site.tls,
                             policy_pages=site.policy_pages, interval=site.interval,
                             timeout=site.timeout)
    if module not in PRESETS:
        known = ", ".join([*PRESETS, *websites])
        return _error(400, f"unknown module {module!r} (known: {known})")
    return WebsiteConfig(name=target, url=target, expect=PRESETS[module],
                         interval=DEFAULT_TIMEOUT + 1, timeout=DEFAULT_TIMEOUT)


@router.get("/probe", dependencies=[Depends(require_reader)])
async def probe(request: Request, target: str = "", module: str = "https_2xx") -> Response:
    if not target:
        return _error(400, "target parameter is missing (e.g. ?target=https://example.org/)")
    site = _website(request, target, module)
    if isinstance(site, Response):
        return site
    timeout = site.timeout
    header = request.headers.get("x-prometheus-scrape-timeout-seconds")
    if header:
        with contextlib.suppress(ValueError):  # a garbled header keeps the module timeout
            timeout = max(0.5, min(timeout, float(header) - 0.5))
    started = time.monotonic()
    try:
        await asyncio.wait_for(_slots.acquire(), timeout)
    except TimeoutError:
        return _error(503, f"more than {MAX_CONCURRENT} probes are running; try again")
    try:
        left = max(0.5, timeout - (time.monotonic() - started))
        reading = await _collector(request).probe(site, left)
    finally:
        _slots.release()
    samples = [*reading.samples,
               sample(UP, 1 if reading.ok else 0, kind="web", target=target),
               sample(POLL_DURATION, reading.duration, kind="web", target=target)]
    if not reading.ok:  # the failure reason, exactly as /metrics gives it for polled targets
        samples.append(sample(POLL_ERROR, 1, kind="web", target=target,
                              reason=reading.reason or "error"))
    body = await asyncio.to_thread(render_samples, samples)
    return Response(body, media_type=TEXT_004)
