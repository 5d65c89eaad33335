"""Real Alertmanager / Prometheus processes and real receivers for the alerting tests.

Debian's ``prometheus-alertmanager`` and ``prometheus`` run on free loopback ports in temp dirs
(neither starts without systemd, so the tests start their own; Alertmanager with
``--cluster.listen-address=`` empty, no gossip port); the webhook receiver is a ``ThreadingHTTPServer`` that
records every JSON payload, the mail receiver an aiosmtpd ``Controller``. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import REPO, free_port, need_binary, wait_for

ALERTS = REPO / "alerts"


class WebhookReceiver:
    """Records POSTed JSON bodies; ``fail`` makes it answer 503 (a receiver that is down)."""

    def __init__(self, port: int = 0) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.fail = False
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if outer.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                with outer._lock:
                    outer.requests.append((self.path, dict(self.headers), body))
                    with contextlib.suppress(ValueError):
                        outer.payloads.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def alerts(self) -> list[tuple[str, str, str]]:
        """(status, alertname, site) of every alert in every payload so far."""
        with self._lock:
            return [(a["status"], a["labels"].get("alertname", ""), a["labels"].get("site", ""))
                    for p in self.payloads for a in p.get("alerts", [])]


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free loopback port, keeping every message."""

    def __init__(self, port: int = 0, **controller_options: Any) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                outer.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                outer.messages.append(message_from_bytes(envelope.original_content,
                                                          policy=policy.default))
                return "250 OK"

        self.port = port or free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     **controller_options)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def alertmanager_config(webhook_url: str, smtp_port: int, *, fast: bool = True
                        ) -> dict[str, Any]:
    """The shipped alerts/alertmanager.yml with every receiver pointed at the test's servers
    (the example's addresses must never be contacted: tests stay on loopback)."""
    config: dict[str, Any] = yaml.safe_load((ALERTS / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
        assert set(receiver) <= {"name", "webhook_configs", "email_configs"}, receiver
    # template globs are relative to the config file; the test's copy lives in a temp dir
    config["templates"] = [str(ALERTS / glob) for glob in config.get("templates", [])]
    config["global"]["smtp_smarthost"] = f"127.0.0.1:{smtp_port}"
    config["global"]["smtp_require_tls"] = False
    if fast:
        config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
        for route in config["route"].get("routes", []):  # sub-routes that set their own
            for key in ("group_wait", "group_interval"):
                if key in route:
                    route[key] = "1s"
    return config


@contextlib.contextmanager
def _serving(tmp: Path, name: str, argv: list[str], port: int, timeout: float
             ) -> Iterator[str]:
    """Run a Prometheus-family server until its /-/ready answers; yield its URL."""
    url = f"http://127.0.0.1:{port}"
    argv = [*argv, f"--web.listen-address=127.0.0.1:{port}", f"--web.external-url={url}"]
    with (tmp / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_for(lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code == 200,
                 timeout=timeout, message=f"{name} ready")
        yield url
    finally:
        _stop(proc)


@contextlib.contextmanager
def running_alertmanager(tmp: Path, config: dict[str, Any]) -> Iterator[str]:
    (tmp / "am.yml").write_text(yaml.safe_dump(config))
    with _serving(tmp, "alertmanager", [
            need_binary("prometheus-alertmanager"), f"--config.file={tmp / 'am.yml'}",
            f"--storage.path={tmp / 'am-data'}", "--cluster.listen-address="],
            free_port(), 20) as url:
        yield url


@contextlib.contextmanager
def running_prometheus(tmp: Path, config: dict[str, Any]) -> Iterator[str]:
    (tmp / "prom.yml").write_text(yaml.safe_dump(config))
    with _serving(tmp, "prometheus", [
            need_binary("prometheus"), f"--config.file={tmp / 'prom.yml'}",
            f"--storage.tsdb.path={tmp / 'prom-data'}"], free_port(), 30) as url:
        yield url


def am_alerts(url: str) -> list[dict[str, Any]]:
    """Every alert Alertmanager holds (active, inhibited and silenced), as API v2 reports it."""
    response = httpx.get(f"{url}/api/v2/alerts",
                         params={"inhibited": "true", "silenced": "true", "active": "true"},
                         timeout=5)
    response.raise_for_status()
    return list(response.json())


def states(alerts: list[dict[str, Any]], **labels: str) -> list[str]:
    """``status.state`` of every alert whose labels include ``labels``."""
    return [a["status"]["state"] for a in alerts
            if all(a["labels"].get(k) == v for k, v in labels.items())]
