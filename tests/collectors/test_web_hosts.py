"""Website names resolve as the OS resolves them (``/etc/hosts`` first) unless ``resolver:`` is set.

Branch offices define intranet names in ``/etc/hosts``. The probe runs in a child process in a
private mount namespace (``unshare -m``) where a test ``hosts`` file and a ``resolv.conf``
naming 127.0.0.1 are bind-mounted over the real ones, so the real files are never touched and
every DNS query stays on loopback. The HTTPS site itself is a real rig server on 127.0.0.1
and [::1].
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import need_binary, skip_unless_ci
from tests.web_rig import NAMES, Dnsmasq, Pki, Route, WebRig

INTRANET = "intranet.branch.test"

PROBE = """
import asyncio, json, sys
from upkeep.collectors.web import WebCollector
from upkeep.config.websites import ResolverConfig, WebsiteConfig

site = WebsiteConfig(**json.loads(sys.argv[1]))
resolver = ResolverConfig(**json.loads(sys.argv[2]))
collector = WebCollector([site], resolver)
reading = asyncio.run(collector.probe(site, site.timeout))
counts = {s.labels["type"]: s.value for s in reading.samples
          if s.metric == "upkeep_website_dns_records"}
print(json.dumps({"ok": reading.ok, "reason": reading.reason, "message": reading.message,
                  "dns": reading.info["dns"], "counts": counts,
                  "addresses": [a["address"] for a in reading.info["addresses"]]}))
"""


@pytest.fixture(scope="module")
def namespace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hosts file and a loopback-only resolv.conf; the test fails in CI without unshare."""
    need_binary("unshare")
    tmp = tmp_path_factory.mktemp("etc")
    (tmp / "hosts").write_text(f"127.0.0.1 localhost\n127.0.0.1 {INTRANET}\n::1 {INTRANET}\n",
                               encoding="utf-8")
    # nothing answers DNS on 127.0.0.1:53 here: a query sent there gets no address back
    (tmp / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
                                     encoding="utf-8")
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           f"mount --bind {tmp / 'hosts'} /etc/hosts && grep -q {INTRANET} "
                           "/etc/hosts"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        skip_unless_ci(f"no private mount namespace here: {done.stderr.strip()}")
    return tmp


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pki, int]]:
    pki = Pki(tmp_path_factory.mktemp("pki"), names=(*NAMES, INTRANET))
    with WebRig() as rig:
        server = rig.https(pki.leaf("valid"), {"/": Route(body=b"<html>intranet</html>")})
        yield pki, server.port


def probe_in_namespace(namespace: Path, site: dict[str, Any],
                       resolver: dict[str, Any]) -> dict[str, Any]:
    script = (f"mount --bind {namespace / 'hosts'} /etc/hosts && "
              f"mount --bind {namespace / 'resolv.conf'} /etc/resolv.conf && "
              'exec "$0" -c "$1" "$2" "$3"')
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                           sys.executable, PROBE, json.dumps(site), json.dumps(resolver)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_hosts_file_name_resolves_like_the_os(namespace: Path,
                                              https: tuple[Pki, int]) -> None:
    pki, port = https
    site = {"name": "intranet", "url": f"https://{INTRANET}:{port}/", "timeout": "5s",
            "interval": "10s", "tls": {"ca_file": pki.ca_file},
            "expect": {"http_redirect": False, "tls_versions": False}}
    result = probe_in_namespace(namespace, site, {})
    assert result["ok"], result
    # the OS's answer: both families from /etc/hosts, counted per family
    assert sorted(result["addresses"]) == ["127.0.0.1", "::1"]
    assert result["counts"] == {"A": 1, "AAAA": 1}
    assert result["dns"]["reason"] == ""

    # a name not in the hosts file goes to DNS, where nobody answers (127.0.0.1:53 is
    # silent): glibc says "temporary failure" (EAI_AGAIN), a reason of its own
    missing = probe_in_namespace(namespace, {**site, "url": f"https://nowhere.test:{port}/"},
                                 {})
    assert not missing["ok"] and missing["reason"] == "dns_servfail", missing
    assert "no DNS server answered" in missing["message"]
    assert missing["addresses"] == []


def test_configured_resolver_asks_the_dns_servers_not_the_hosts_file(
        namespace: Path, https: tuple[Pki, int], tmp_path: Path) -> None:
    need_binary("dnsmasq")
    pki, port = https
    site = {"name": "intranet", "url": f"https://{INTRANET}:{port}/", "timeout": "5s",
            "interval": "10s", "tls": {"ca_file": pki.ca_file},
            "expect": {"http_redirect": False, "tls_versions": False}}
    with Dnsmasq(tmp_path / "dns", {"good.test": ["127.0.0.1"]}) as dns:
        result = probe_in_namespace(namespace, site, dns.resolver("2s"))
    # the site's DNS servers do not know the name: that is the finding, /etc/hosts or not
    assert not result["ok"] and result["reason"] == "dns_nxdomain", result
