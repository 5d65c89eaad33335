"""Config validation: every broken file exits 2 and names the field (and line)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port, run_cli
from upkeep.config import ConfigError, parse_config, parse_duration

BROKEN = [
    # (id, yaml text, text that must appear in the error output)
    ("bad-yaml", "site: [unclosed\n", "invalid YAML at line"),
    ("not-a-mapping", "- just\n- a list\n", "top level must be a mapping"),
    ("unknown-top-key", "site: hq\nsites: typo\n", "sites: unknown key (line 2)"),
    ("unknown-nested-key", "host:\n  filesystems:\n    exclude: x\n",
     "host.filesystems.exclude: unknown key (line 3)"),
    ("wrong-type", "host:\n  temperatures: maybe\n", "host.temperatures:"),
    ("negative-interval", "host:\n  interval: -5s\n", "host.interval:"),
    ("zero-interval", "host:\n  interval: 0s\n", "greater than zero"),
    ("bad-duration-unit", "host:\n  interval: 15 minutes\n", "is not a duration"),
    ("timeout-not-shorter", "host:\n  interval: 10s\n  timeout: 10s\n",
     "host: timeout (10s) must be shorter than interval (10s)"),
    ("timeout-longer-short-interval", "host:\n  interval: 2s\n  timeout: 3s\n",
     "host: timeout (3s) must be shorter than interval (2s)"),
    ("nut-timeout-not-shorter", "ups:\n  - name: a\n    nut: {host: x, interval: 3s, timeout: 3s}\n",
     "ups[0].nut: timeout (3s) must be shorter than interval (3s)"),
    ("snmp-timeout-longer", "ups:\n  - name: a\n    snmp: {host: x, interval: 1s, timeout: 1500ms}\n",
     "ups[0].snmp: timeout (1.5s) must be shorter than interval (1s)"),
    ("website-timeout-not-shorter",
     "websites:\n  - {name: a, url: 'https://example.org/', interval: 20s, timeout: 20s}\n",
     "websites[0]: timeout (20s) must be shorter than interval (20s)"),
    ("bad-regex", "host:\n  filesystems:\n    fs_types_exclude: '(['\n",
     "host.filesystems.fs_types_exclude: not a valid regular expression"),
    ("bad-listen", "listen: localhost\n", "listen: 'localhost' is not HOST:PORT"),
    ("port-out-of-range", "listen: 127.0.0.1:70000\n", "out of range"),
    ("bad-site", "site: 'two words'\n", "site: use letters"),
    ("duplicate-ups", "ups:\n  - {name: a, nut: {host: x}}\n  - {name: a, nut: {host: y}}\n",
     "duplicate name 'a'"),
    ("duplicate-service", "host:\n  services:\n    ports:\n      - {name: web, port: 80}\n"
     "      - {name: web, port: 81}\n", "duplicate service check name 'web'"),
    ("ups-two-sources", "ups:\n  - name: a\n    nut: {host: x}\n    snmp: {host: y}\n",
     "exactly one of nut: or snmp:"),
    ("missing-env",
     "ups:\n  - name: a\n    nut: {host: x, username: u, password: '${UPKEEP_NOPE}'}\n",
     "ups[0].nut.password: environment variable UPKEEP_NOPE is not set"),
    ("missing-secret-file", "ups:\n  - name: a\n    nut: {host: x, username: u, "
     "password_file: /nonexistent/secret}\n", "cannot read /nonexistent/secret"),
    ("snmp-v3-without-user", "ups:\n  - name: a\n    snmp: {host: x, version: '3'}\n",
     "version 3 needs user"),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in BROKEN],
                         ids=[i for i, _, _ in BROKEN])
def test_broken_config_exits_2_naming_the_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "upkeep.yml"
    path.write_text(text, encoding="utf-8")
    result = run_cli("check-config", "--no-bind", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr, result.stderr


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("site: 'bad site'\nhost:\n  interval: 0s\n  bogus: 1\n")
    locations = [loc for loc, _ in err.value.problems]
    assert {"site", "host.interval", "host.bogus"} <= set(locations)


def test_valid_config_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "upkeep.yml"
    path.write_text(f"site: branch-01\nlisten: 127.0.0.1:{free_port()}\nhost:\n  interval: 5s\n"
                    "  timeout: 900ms\n", encoding="utf-8")
    result = run_cli("check-config", str(path))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_listen_that_cannot_bind_exits_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = tmp_path / "upkeep.yml"
        path.write_text(f"listen: 127.0.0.1:{port}\n", encoding="utf-8")
        checked = run_cli("check-config", str(path))
        started = run_cli("run", "-c", str(path), timeout=20)
    for result in (checked, started):
        assert result.returncode == 2
        assert f"listen: cannot listen on 127.0.0.1:{port}" in result.stderr


def test_secrets_from_env_and_file_are_never_echoed(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("file-secret-123\n", encoding="utf-8")
    text = ("ups:\n  - name: a\n    nut: {host: x, username: u, password: '${UPKEEP_PW}'}\n"
            f"  - name: b\n    nut: {{host: x, username: u, password_file: {secret_file}}}\n")
    import os

    os.environ["UPKEEP_PW"] = "env-secret-456"
    try:
        config = parse_config(text)
    finally:
        del os.environ["UPKEEP_PW"]
    assert config.ups is not None
    passwords = [u.nut.password for u in config.ups if u.nut and u.nut.password]
    assert [p.get_secret_value() for p in passwords] == ["env-secret-456", "file-secret-123"]
    dumped = repr(config) + config.model_dump_json()
    assert "env-secret-456" not in dumped and "file-secret-123" not in dumped


@pytest.mark.parametrize(("text", "seconds"), [("900ms", 0.9), ("15s", 15), ("5m", 300),
                                               ("1h", 3600), (2, 2.0), ("1.5s", 1.5)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_embedded_default_is_valid_and_loopback_only() -> None:
    from upkeep.config import DEFAULT_PORT, default_config

    config = default_config()
    assert config.listen == f"127.0.0.1:{DEFAULT_PORT}"
    assert config.host.enabled


# (yaml, path to the polled block) for every block that has interval + timeout
POLLED = [
    ("host: {interval: %s}\n", lambda c: c.host),
    ("ups:\n  - name: a\n    nut: {host: x, interval: %s}\n", lambda c: c.ups[0].nut),
    ("ups:\n  - name: a\n    snmp: {host: x, interval: %s}\n", lambda c: c.ups[0].snmp),
    ("websites:\n  - {name: a, url: 'https://example.org/', interval: %s}\n",
     lambda c: c.websites[0]),
]


@pytest.mark.parametrize(("text", "block"), POLLED, ids=["host", "nut", "snmp", "website"])
def test_unset_timeout_is_capped_at_the_interval(text: str, block: Any) -> None:
    """Prometheus' scrape_timeout rule: an unset timeout is min(its default, interval)."""
    default = block(parse_config(text % "1h")).timeout
    assert 3 <= default <= 15  # the block's own default, unchanged for long intervals
    short = block(parse_config(text % "2s"))
    assert (short.interval, short.timeout) == (2.0, 2.0)
    tiny = block(parse_config(text % "500ms"))
    assert (tiny.interval, tiny.timeout) == (0.5, 0.5)


def test_host_timeout_defaults_to_ten_seconds_or_the_interval() -> None:
    assert parse_config("host: {interval: 2s}\n").host.timeout == 2.0
    assert parse_config("host: {interval: 1m}\n").host.timeout == 10.0
    assert parse_config("").host.timeout == 10.0
    # an explicit one is kept as given
    assert parse_config("host: {interval: 1m, timeout: 30s}\n").host.timeout == 30.0


def test_short_interval_without_timeout_passes_check_config(tmp_path: Path) -> None:
    path = tmp_path / "upkeep.yml"
    path.write_text("host: {interval: 2s}\n", encoding="utf-8")
    result = run_cli("check-config", "--no-bind", str(path))
    assert result.returncode == 0, result.stderr
