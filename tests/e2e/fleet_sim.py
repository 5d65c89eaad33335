"""Run many real ``upkeep run`` agents cheaply: import once, fork one process per site.

    python tests/e2e/fleet_sim.py SITE_DIR [SITE_DIR ...]

Each SITE_DIR holds ``upkeep.yml``; its agent logs to ``SITE_DIR/agent.log``. Every child is a
separate OS process running the same code path as ``upkeep run -c FILE`` (its own event loop,
scheduler, collectors, SQLite file, TLS listener); only the Python imports happen once, before
``fork()``, as gunicorn's ``--preload`` does. That turns ~0.8 s of CPU per agent start into a
few tens of milliseconds, which is what makes 80 agents fit on a 2-core test machine.

SIGTERM/SIGINT to this process (or to its process group) stops every agent.

Also the pieces the fleet test and ``bench/series_per_site.py`` share, so the composition the
docs size is exactly the one the test runs: ``site_config()`` (host + 2 UPS + 3 websites) and
``https_server()`` (a local TLS site).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NUT_UPS = {"ups.status": "OL", "battery.charge": "100", "battery.runtime": "2400",
           "ups.load": "23", "input.voltage": "229.5", "output.voltage": "230.0",
           "battery.voltage": "27.1", "device.mfr": "Eaton", "device.model": "5E 1100i",
           "ups.serial": "FLEET0001"}


def site_config(site: str, listen: str, *, data_dir: Path, nut_port: int, nut_ups: str,
                snmp: dict[str, Any], web_port: int, ca_file: Path) -> dict[str, Any]:
    """One site as docs/deployment.md sizes it: host, 2 UPS (NUT + SNMP), 3 HTTPS websites.

    Intervals are longer than a branch would use (UPS 15 s, host 60 s) so that 80 agents fit
    on 2 cores; the series per site do not depend on them.
    """
    websites = [{"name": f"web{n}", "url": f"https://127.0.0.1:{web_port}/{site}/{n}",
                 "tls": {"ca_file": str(ca_file)}, "interval": "60s", "timeout": "20s",
                 "expect": {"http_redirect": False}} for n in (1, 2, 3)]
    return {
        "site": site, "listen": listen, "data_dir": str(data_dir),
        "host": {"interval": "60s", "timeout": "10s"},
        "ups": [{"name": "nut", "nut": {"host": "127.0.0.1", "port": nut_port, "ups": nut_ups,
                                        "interval": "15s", "timeout": "5s"}},
                {"name": "snmp", "snmp": {**snmp, "interval": "15s", "timeout": "5s"}}],
        "websites": websites,
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.request.settimeout(10)
        self.request.do_handshake()  # here, in the handler's thread, not in accept()
        super().setup()

    def do_GET(self) -> None:  # noqa: N802
        body = b"<html><body>upkeep fleet test site</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Strict-Transport-Security", "max-age=63072000")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _TlsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # 80 agents start probing together: socketserver's default backlog of 5 drops connections
    request_queue_size = 1024

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx = ctx
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        return self.ctx.wrap_socket(sock, server_side=True,
                                    do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the TLS 1.0/1.1 probes this server refuses are expected


@contextlib.contextmanager
def https_server(cert: Any) -> Iterator[int]:
    """A TLS 1.2+ site on 127.0.0.1 (``cert``: a trustme LeafCert); yields its port."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    cert.configure_cert(ctx)
    server = _TlsServer(ctx)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def main(site_dirs: list[str], stagger: float = 0.1) -> int:
    # the heavy imports, once, before any thread or event loop exists (fork-safe)
    from upkeep.agents import app, cli, cmd_run, fleet  # noqa: F401
    from upkeep.collectors.base import load_all

    load_all()
    children: dict[int, str] = {}
    for site_dir in site_dirs:
        pid = os.fork()
        if pid == 0:  # the agent
            log = os.open(os.path.join(site_dir, "agent.log"),
                          os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.chdir(site_dir)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 1
            try:
                code = cli.main(["run", "-c", os.path.join(site_dir, "upkeep.yml")])
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = site_dir
        time.sleep(stagger)  # no thundering herd of first polls on a small machine

    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"started {len(children)} agents", flush=True)
    while children:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        site = children.pop(pid, "?")
        if not stopping:
            print(f"agent {site} exited early with status {status}", file=sys.stderr,
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
