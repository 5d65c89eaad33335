"""The agent's HTTP security, against real ``upkeep run`` processes with trustme certificates.

exporter-toolkit semantics: TLS with versions and client certificates (+ SAN allow-list),
bcrypt basic auth on every request once users exist, a separate web-config.yml with paths
relative to it and re-read on change; upkeep's bearer token; writes always need authority
(401 without credentials, 403 with wrong ones); a warning when listening beyond loopback.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import trustme
import yaml

from tests.support import UPKEEP, AgentProcess, free_port, skip_unless_ci, wait_for
from upkeep.agents.web_tls import exposure_warnings, is_loopback
from upkeep.config.web import WebConfig, WebToolkitConfig

TOKEN = "t0ken-for-the-write-api-123456"
PASSWORD = "s3cret-prometheus"
# cost 4: the semantics are the same as cost 10, the test suite stays fast
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


class Pki:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()
        self.server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = tmp / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def write_server(self, cert: trustme.LeafCert, name: str) -> tuple[Path, Path]:
        crt, key = self.tmp / f"{name}.crt", self.tmp / f"{name}.key"
        cert.cert_chain_pems[0].write_to_path(str(crt))
        cert.private_key_pem.write_to_path(str(key))
        return crt, key

    def client_ctx(self, cert: trustme.LeafCert | None = None, *,
                   max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if cert is not None:
            cert.configure_cert(ctx)
        if max_version is not None:
            ctx.maximum_version = max_version
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def start_tls_agent(tmp: Path, config: dict[str, Any], ctx: ssl.SSLContext) -> AgentProcess:
    agent = AgentProcess(tmp, {"site": "sec-test", "host": {"interval": "5s", "timeout": "2s"},
                               **config})
    agent.start(wait=False)
    url = f"https://127.0.0.1:{agent.port}/healthz"
    wait_for(lambda: httpx.get(url, verify=ctx, timeout=1).status_code == 200, timeout=20,
             message=f"TLS agent (log: {agent.log_text()[-1500:]})")
    return agent


@pytest.fixture(scope="module")
def basic_agent(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[AgentProcess]:
    """TLS (min 1.3), users, token, a security header: reads need credentials."""
    tmp = tmp_path_factory.mktemp("basic")
    crt, key = pki.write_server(pki.server, "server")
    agent = start_tls_agent(tmp, {"web": {
        "tls_server_config": {"cert_file": str(crt), "key_file": str(key),
                              "min_version": "TLS13"},
        "http_server_config": {"headers": {"X-Content-Type-Options": "nosniff"}},
        "basic_auth_users": {"prometheus": HASH},
        "api_token": TOKEN}}, pki.client_ctx())
    yield agent
    agent.stop()


def get(agent: AgentProcess, pki: Pki, path: str, **kw: Any) -> httpx.Response:
    return httpx.get(f"https://127.0.0.1:{agent.port}{path}", verify=pki.client_ctx(),
                     timeout=10, **kw)


def post(agent: AgentProcess, pki: Pki, path: str, **kw: Any) -> httpx.Response:
    return httpx.post(f"https://127.0.0.1:{agent.port}{path}", verify=pki.client_ctx(),
                      timeout=10, **kw)


def test_basic_auth_bcrypt_and_token_on_reads(basic_agent: AgentProcess, pki: Pki) -> None:
    ok = get(basic_agent, pki, "/metrics", auth=("prometheus", PASSWORD))
    assert ok.status_code == 200
    assert "upkeep_agent_info" in ok.text
    assert ok.headers["x-content-type-options"] == "nosniff"
    # the second request hits the cache: same answer
    assert get(basic_agent, pki, "/metrics", auth=("prometheus", PASSWORD)).status_code == 200
    missing = get(basic_agent, pki, "/metrics")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Basic")
    assert get(basic_agent, pki, "/metrics", auth=("prometheus", "wrong")).status_code == 401
    assert get(basic_agent, pki, "/metrics", auth=("nobody", PASSWORD)).status_code == 401
    assert get(basic_agent, pki, "/api/v1/targets",
               headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert get(basic_agent, pki, "/api/v1/targets",
               headers={"Authorization": "Bearer not-the-token-at-all"}).status_code == 401


def test_write_api_needs_credentials(basic_agent: AgentProcess, pki: Pki) -> None:
    # the write endpoint answers 404 here (no inventory), but only once authority is shown
    assert post(basic_agent, pki, "/api/v1/sd/reload").status_code == 401
    assert post(basic_agent, pki, "/api/v1/sd/reload",
                headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 403
    assert post(basic_agent, pki, "/api/v1/sd/reload",
                auth=("prometheus", "wrong")).status_code == 403
    assert post(basic_agent, pki, "/api/v1/sd/reload",
                headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    assert post(basic_agent, pki, "/api/v1/sd/reload",
                auth=("prometheus", PASSWORD)).status_code == 404


def test_tls_versions_and_plain_http_refused(basic_agent: AgentProcess, pki: Pki) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://127.0.0.1:{basic_agent.port}/healthz", timeout=5,
                  verify=pki.client_ctx(max_version=ssl.TLSVersion.TLSv1_2))
    with pytest.raises(httpx.ConnectError):  # not our CA
        httpx.get(f"https://127.0.0.1:{basic_agent.port}/healthz", timeout=5)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{basic_agent.port}/healthz", timeout=5)
    assert get(basic_agent, pki, "/healthz").status_code == 200
    assert "TOKEN" not in basic_agent.log_text() and TOKEN not in basic_agent.log_text()


@pytest.fixture(scope="module")
def mtls_agent(tmp_path_factory: pytest.TempPathFactory, pki: Pki
               ) -> Iterator[tuple[AgentProcess, Path]]:
    """Client certificates required + SAN allow-list, from a separate web-config.yml whose
    paths are relative to it; reads are otherwise public (no users)."""
    tmp = tmp_path_factory.mktemp("mtls")
    webdir = tmp / "web"
    webdir.mkdir()
    pki.server.cert_chain_pems[0].write_to_path(str(webdir / "server.crt"))
    pki.server.private_key_pem.write_to_path(str(webdir / "server.key"))
    shutil.copy(pki.ca_file, webdir / "clients-ca.pem")
    web_file = webdir / "web-config.yml"
    web_file.write_text(yaml.safe_dump({"tls_server_config": {
        "cert_file": "server.crt", "key_file": "server.key",
        "client_auth_type": "RequireAndVerifyClientCert", "client_ca_file": "clients-ca.pem",
        "client_allowed_sans": ["prometheus.example"]}}))
    good = pki.ca.issue_cert("prometheus.example")
    agent = start_tls_agent(tmp, {"web": {"config_file": str(web_file), "api_token": TOKEN}},
                            pki.client_ctx(good))
    yield agent, webdir
    agent.stop()


def test_client_certificates(mtls_agent: tuple[AgentProcess, Path], pki: Pki) -> None:
    agent, _ = mtls_agent
    url = f"https://127.0.0.1:{agent.port}/metrics"
    good = pki.ca.issue_cert("prometheus.example")
    assert httpx.get(url, verify=pki.client_ctx(good), timeout=5).status_code == 200
    with pytest.raises(httpx.HTTPError):  # no client certificate
        httpx.get(url, verify=pki.client_ctx(), timeout=5)
    with pytest.raises(httpx.HTTPError):  # certificate from a CA the agent does not trust
        httpx.get(url, verify=pki.client_ctx(pki.other_ca.issue_cert("prometheus.example")),
                  timeout=5)
    with pytest.raises(httpx.HTTPError):  # trusted CA, SAN not in client_allowed_sans
        httpx.get(url, verify=pki.client_ctx(pki.ca.issue_cert("grafana.example")), timeout=5)
    # a client certificate is not a write credential: writes still need the token
    assert httpx.post(f"https://127.0.0.1:{agent.port}/api/v1/sd/reload",
                      verify=pki.client_ctx(good), timeout=5).status_code == 401


def _served_cert(port: int, ctx: ssl.SSLContext) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return der


def test_certificate_rotation_without_restart(mtls_agent: tuple[AgentProcess, Path],
                                              pki: Pki) -> None:
    agent, webdir = mtls_agent
    ctx = pki.client_ctx(pki.ca.issue_cert("prometheus.example"))
    before = _served_cert(agent.port, ctx)
    rotated = pki.ca.issue_cert("127.0.0.1", "localhost", "rotated.example")
    rotated.private_key_pem.write_to_path(str(webdir / "server.key.new"))
    rotated.cert_chain_pems[0].write_to_path(str(webdir / "server.crt.new"))
    # rename both files: a reader never sees a new cert with the old key for long
    (webdir / "server.key.new").replace(webdir / "server.key")
    (webdir / "server.crt.new").replace(webdir / "server.crt")
    expected = ssl.PEM_cert_to_DER_cert(rotated.cert_chain_pems[0].bytes().decode())
    after = wait_for(lambda: (d := _served_cert(agent.port, ctx)) != before and d, timeout=10,
                     message="the rotated certificate")
    assert after == expected
    assert agent.proc is not None and agent.proc.poll() is None


def test_public_read_and_no_credentials_means_no_writes(tmp_path: Path) -> None:
    agent = AgentProcess(tmp_path, {"site": "open", "host": {"interval": "5s", "timeout": "2s"}})
    agent.start()
    try:
        assert agent.get("/metrics").status_code == 200
        assert httpx.post(f"{agent.url}/api/v1/sd/reload", timeout=5).status_code == 401
        assert httpx.post(f"{agent.url}/api/v1/sd/reload", timeout=5,
                          headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 403
        assert "beyond loopback" not in agent.log_text()
    finally:
        agent.stop()


def test_bad_certificate_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "bad.crt").write_text("not a certificate\n")
    agent = AgentProcess(tmp_path, {"web": {"tls_server_config": {
        "cert_file": str(tmp_path / "bad.crt"), "key_file": str(tmp_path / "bad.crt")}}})
    result = subprocess.run([UPKEEP, "run", "-c",
                             str(agent.config_path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "web.tls_server_config" in result.stderr


@pytest.mark.parametrize("web, problem", [
    ({"basic_auth_users": {"u": "plaintext"}}, "bcrypt"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b",
                            "client_ca_file": "ca.pem"}}, "client_auth_type"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b",
                            "client_auth_type": "RequireAnyClientCert",
                            "client_ca_file": "ca.pem"}}, "unverified"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "min_version": "TLS13",
                            "max_version": "TLS12"}}, "min_version"),
    ({"http_server_config": {"headers": {"Set-Cookie": "x"}}}, "cannot be set"),
    ({"api_token": "short"}, "16 characters"),
    ({"config_file": "/nonexistent/web.yml"}, "cannot read"),
])
def test_web_config_errors(web: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        WebConfig.model_validate(web)


def test_web_config_file_excludes_inline_keys(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users: {{prometheus: '{HASH}'}}\n")
    assert WebConfig.model_validate({"config_file": str(path)}).reads_are_public() is False
    with pytest.raises(ValueError, match="move basic_auth_users"):
        WebConfig.model_validate({"config_file": str(path), "basic_auth_users": {"a": HASH}})
    path.write_text("basic_auth_users: {prometheus: x}\nunknown_key: 1\n")
    with pytest.raises(ValueError, match="unknown key"):
        WebConfig.model_validate({"config_file": str(path)})


def test_exposure_warnings() -> None:
    plain = WebConfig()
    assert exposure_warnings("127.0.0.1", WebToolkitConfig(), plain) == []
    assert exposure_warnings("::1", WebToolkitConfig(), plain) == []
    both = exposure_warnings("0.0.0.0", WebToolkitConfig(), plain)
    assert len(both) == 2 and "TLS" in both[0] and "authentication" in both[1]
    users = WebToolkitConfig(basic_auth_users={"p": HASH})
    only_tls = exposure_warnings("192.0.2.10", users, WebConfig(basic_auth_users={"p": HASH}))
    assert len(only_tls) == 1 and "TLS" in only_tls[0]
    assert is_loopback("localhost") and is_loopback("127.0.0.9") and not is_loopback("::")


def _unshare() -> list[str]:
    for cmd in (["unshare", "-rn"], ["unshare", "-n"]):
        if shutil.which(cmd[0]) and subprocess.run([*cmd, "true"],
                                                    capture_output=True).returncode == 0:
            return cmd
    skip_unless_ci("no network namespace available (unshare -n); the warning logic is "
                "covered by test_exposure_warnings")


def test_warning_when_listening_beyond_loopback(tmp_path: Path) -> None:
    # 0.0.0.0 inside a fresh network namespace, whose only interface is lo: the agent
    # believes it is exposed, yet nothing beyond this machine's loopback is ever touched
    cmd = _unshare()
    port = free_port()
    config = {"site": "exposed", "listen": f"0.0.0.0:{port}", "data_dir": str(tmp_path / "d"),
              "host": {"interval": "5s", "timeout": "2s"}}
    path = tmp_path / "upkeep.yml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen([*cmd, UPKEEP, "run", "-c",
                             str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 20
        lines: list[str] = []
        assert proc.stderr is not None
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "serving site" in line:
                break
        text = "".join(lines)
        assert "beyond loopback without TLS" in text, text
        assert "without authentication" in text, text
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def test_web_config_file_reread_rate_limit_and_public_read(tmp_path: Path) -> None:
    """Users come from a separate web-config.yml and change without a restart; the rate limit
    answers 429 beyond its burst; public_read keeps reads open while writes need a user."""
    web_file = tmp_path / "web-config.yml"
    web_file.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": HASH},
                                        "rate_limit": {"interval": "1s", "burst": 30}}))
    agent = AgentProcess(tmp_path, {"site": "reread", "ups": [],
                                    "host": {"interval": "5s", "timeout": "2s"},
                                    "web": {"config_file": str(web_file), "public_read": True}})
    agent.start()
    try:
        assert agent.get("/metrics").status_code == 200  # public_read despite users
        reload = f"{agent.url}/api/v1/sd/reload"
        assert httpx.post(reload, timeout=5).status_code == 401
        assert httpx.post(reload, auth=("prometheus", PASSWORD), timeout=5).status_code == 404
        other = bcrypt.hashpw(b"rotated-password", bcrypt.gensalt(rounds=4)).decode()
        web_file.write_text(yaml.safe_dump({"basic_auth_users": {"grafana": other},
                                            "rate_limit": {"interval": "1s", "burst": 30}}))
        wait_for(lambda: httpx.post(reload, auth=("prometheus", PASSWORD),
                                    timeout=5).status_code == 403, timeout=10,
                 message="the old user to be refused after the file changed")
        assert httpx.post(reload, auth=("grafana", "rotated-password"),
                          timeout=5).status_code == 404
        # a broken file keeps the last good one (nobody locked out)
        web_file.write_text("basic_auth_users: {grafana: not-a-hash}\n")
        time.sleep(1.5)
        assert httpx.post(reload, auth=("grafana", "rotated-password"),
                          timeout=5).status_code == 404
        assert "keeping the previous web config" in agent.log_text()
        with httpx.Client(timeout=5) as client:
            codes = [client.get(f"{agent.url}/healthz").status_code for _ in range(60)]
        assert codes.count(429) > 0 and codes[0] == 200
    finally:
        agent.stop()
