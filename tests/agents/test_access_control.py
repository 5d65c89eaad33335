"""Access control across the whole agent, against one real ``upkeep run`` process.

- Every write endpoint, enumerated from the FastAPI app's own routes (a new one is covered
  the day it is added): no credentials -> 401, wrong token / wrong basic-auth -> 403, and
  the database is byte-for-byte unchanged afterwards.
- Every CLI subcommand is classified read-only or state-changing (an unclassified new one
  fails the test); state-changing ones, run as an unprivileged user against the agent's
  0700 data dir, fail with a message and change nothing.
- Distinctive secrets (API token, basic-auth password and hash, NUT password, SNMP
  community, webhook header, SMTP password) never appear in the agent's log, any GET
  answer, ``/metrics``, reports, CLI output or error messages.
- A config file holding secrets that others can read gets a warning (``run`` and
  ``check-config``); the JSON API answers oversized bodies 413 and malformed ones 422.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import yaml

from tests.support import UPKEEP, AgentProcess, free_port, run_cli, skip_unless_ci, wait_for

TOKEN = "tok-UPKEEP-9f2c7e1d4a-secret"
PASSWORD = "pw-UPKEEP-basic-4b8a2c"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
NUT_PASSWORD = "nutpw-UPKEEP-77aa19"
COMMUNITY = "comm-UPKEEP-31cd55"
HOOK_SECRET = "hook-UPKEEP-5e6f08"
SMTP_PASSWORD = "smtp-UPKEEP-0b1c3d"
SECRETS = (TOKEN, PASSWORD, HASH, NUT_PASSWORD, COMMUNITY, HOOK_SECRET, SMTP_PASSWORD)
#: the salt+hash part is what must not leak; "$2b$04$" alone is not a secret
_SECRET_PATTERNS = [re.escape(s) for s in (*SECRETS[:2], HASH[7:], *SECRETS[3:])]

GOOD = {"Authorization": f"Bearer {TOKEN}"}
BASIC_OK = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}
WRONG = [{"Authorization": "Bearer not-the-token"},
         {"Authorization": "Basic " + base64.b64encode(b"admin:wrong").decode()},
         {"Authorization": "Basic " + base64.b64encode(b"nobody:wrong").decode()},
         {"Authorization": "Basic !!!not-base64"},
         {"Authorization": "Token " + TOKEN}]

#: CLI subcommands (path of names) that change state, and those that only read
CLI_WRITES = {("checklist", "attest"), ("assets", "import"), ("incidents", "add"),
              ("incidents", "ack"), ("incidents", "resolve"), ("incidents", "note"),
              ("incidents", "maintenance", "add"), ("incidents", "maintenance", "approve"),
              ("incidents", "rebuild"), ("incidents", "edit"), ("incidents", "void"),
              ("satisfaction", "import"), ("satisfaction", "record")}
CLI_READS = {("run",), ("probe",), ("sd",), ("check-config",), ("checklist",),
             ("checklist", "history"), ("assets", "list"), ("report",),
             # writes only the file it is given, never the data dir
             ("assets", "template"),
             ("incidents", "list"), ("incidents", "show"), ("incidents", "maintenance", "list"),
             ("audit",), ("satisfaction", "list"),
             # groups that only hold subcommands
             ("incidents",), ("assets",), ("incidents", "maintenance"), ("satisfaction",)}


def _config(tmp: Path) -> dict[str, Any]:
    dead = free_port()
    return {
        "site": "branch-ac",
        "web": {"api_token": TOKEN, "basic_auth_users": {"admin": HASH}},
        "ups": [{"name": "rack", "nut": {"host": "127.0.0.1", "port": dead, "ups": "u1",
                                        "username": "monitor", "password": NUT_PASSWORD,
                                        "interval": "1s", "timeout": "500ms"}},
                {"name": "card", "snmp": {"host": "127.0.0.1", "port": dead,
                                          "community": COMMUNITY, "interval": "2s",
                                          "timeout": "500ms", "retries": 0}}],
        "systems": [{"name": "erp", "checks": ["nut:rack"]}],
        "notify": {"webhooks": [{"url": f"http://127.0.0.1:{dead}/hook",
                                 "headers": {"Authorization": f"Bearer {HOOK_SECRET}"},
                                 "timeout": "1s"}],
                   "email": {"host": "127.0.0.1", "port": dead, "username": "upkeep",
                             "password": SMTP_PASSWORD, "from": "upkeep@test.invalid",
                             "to": ["it@test.invalid"], "timeout": "1s"}},
    }


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    tmp = tmp_path_factory.mktemp("access")
    proc = AgentProcess(tmp, _config(tmp))
    proc.config_path.chmod(0o600)
    proc.start(wait=False)
    wait_for(lambda: httpx.get(f"{proc.url}/healthz", timeout=1).status_code == 200,
             timeout=20, message=f"agent (log: {proc.log_text()[-1500:]})")
    # something to act on: one incident and one maintenance window, made with authority
    created = httpx.post(f"{proc.url}/api/v1/incidents", headers=GOOD, timeout=10,
                         json={"system": "erp", "started_at": time.time() - 600})
    assert created.status_code == 201, created.text
    window = httpx.post(f"{proc.url}/api/v1/maintenance", headers=BASIC_OK, timeout=10,
                        json={"starts_at": time.time() - 60, "ends_at": time.time() + 60,
                              "reason": "ups swap"})
    assert window.status_code == 201, window.text
    Path(data_dir(proc)).chmod(0o700)
    # the dead UPS makes system erp down: let the detector open its incident first
    wait_for(lambda: len(httpx.get(f"{proc.url}/api/v1/incidents", headers=GOOD,
                                   timeout=5).json()["incidents"]) >= 2,
             timeout=20, message="the detector's incident for erp")
    try:
        yield proc
    finally:
        proc.stop()


def data_dir(agent: AgentProcess) -> str:
    return str(agent.config["data_dir"])


#: tables only people write (the agent's own bookkeeping - checklist assessments, detector
#: state, discovered assets, UPS state - changes by itself and is left out)
PEOPLE_TABLES = ("incident", "incident_event", "maintenance_window", "checklist_attestation",
                 "asset_import")


def db_fingerprint(agent: AgentProcess) -> str:
    """The rows of the tables people write (read through SQLite, so WAL content counts);
    and no trace of the would-be intruder anywhere."""
    # closing(): `with connect()` alone never closes (a ResourceWarning since Python 3.13)
    with contextlib.closing(sqlite3.connect(f"file:{data_dir(agent)}/upkeep.db?mode=ro",
                                            uri=True)) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        assert set(PEOPLE_TABLES) <= set(tables), tables
        digest = hashlib.sha256()
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY 1'):  # noqa: S608
                assert "EVIL" not in repr(row) and "mallory" not in repr(row), (table, row)
                if table in PEOPLE_TABLES:
                    digest.update(repr((table, row)).encode())
    return digest.hexdigest()


def app_routes() -> list[tuple[str, str, bool]]:
    """(method, path, in schema) of every route, walking included routers."""
    from upkeep.agents.app import create_app
    from upkeep.agents.runtime import Agent
    from upkeep.config import parse_config

    app = create_app(Agent(parse_config("site: x")), manage_lifecycle=False)

    def walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str, bool]]:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                context = getattr(route, "include_context", None)
                yield from walk(original.routes, prefix + (getattr(context, "prefix", "") or ""))
                continue
            for method in sorted(getattr(route, "methods", None) or ()):
                yield method, prefix + route.path, bool(getattr(route, "include_in_schema", 1))

    return sorted(set(walk(app.routes)))


def write_routes() -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in app_routes() if m not in ("GET", "HEAD", "OPTIONS")]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_write_route_is_found() -> None:
    found = {p for _, p in write_routes()}
    # the ones that exist today must be among what the walk finds (the walk itself works)
    assert {"/api/v1/incidents", "/api/v1/incidents/{incident_id}/ack",
            "/api/v1/maintenance", "/api/v1/checklist/attest", "/api/v1/assets/import",
            "/api/v1/sd/reload"} <= found, found


@pytest.mark.parametrize("method,path", write_routes())
def test_write_needs_authority_and_changes_nothing(agent: AgentProcess, method: str,
                                                   path: str) -> None:
    url = f"{agent.url}{_concrete(path)}"
    bodies: list[dict[str, Any]] = [
        {"json": {"system": "erp", "started_at": time.time(), "note": "x", "text": "x",
                  "control": "P11-WEB-02", "by": "mallory", "evidence_url": "https://x.test/",
                  "starts_at": time.time(), "ends_at": time.time() + 60}},
        {"content": b"class,serial\nups,EVIL1\n", "params": {"filename": "a.csv"}},
    ]
    before = db_fingerprint(agent)
    for kwargs in bodies:
        missing = httpx.request(method, url, timeout=10, **kwargs)
        assert missing.status_code == 401, (path, missing.status_code, missing.text)
        assert "www-authenticate" in missing.headers
        for headers in WRONG:
            wrong = httpx.request(method, url, headers=headers, timeout=10, **kwargs)
            assert wrong.status_code == 403, (path, headers, wrong.status_code, wrong.text)
    assert db_fingerprint(agent) == before, f"{method} {path} changed the database"


def test_the_right_credentials_do_write(agent: AgentProcess) -> None:
    """The control for the test above: the same calls with authority are not refused."""
    before = db_fingerprint(agent)
    for headers in (GOOD, BASIC_OK):
        answer = httpx.post(f"{agent.url}/api/v1/incidents/1/notes", headers=headers,
                            json={"text": "checked"}, timeout=10)
        assert answer.status_code == 201, answer.text
    assert db_fingerprint(agent) != before


# --- CLI --------------------------------------------------------------------------------

def cli_commands() -> set[tuple[str, ...]]:
    import argparse

    from upkeep.agents.cli import build_parser

    out: set[tuple[str, ...]] = set()

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if path:
            out.add(path)
        for action in subs:
            for name, child in action.choices.items():
                walk(child, (*path, name))

    walk(build_parser(), ())
    return out


def test_every_cli_command_is_classified() -> None:
    commands = cli_commands()
    report_kinds = {c for c in commands if c[0] == "report" and len(c) > 1}
    unclassified = commands - CLI_WRITES - CLI_READS - report_kinds
    assert not unclassified, f"classify these as read-only or state-changing: {unclassified}"
    assert commands >= CLI_WRITES


def _without_authority(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI without the data dir owner's authority: root's uid but no capabilities, so
    only file permissions decide (the data dir belongs to another uid, mode 0700) - what
    any local account that is not the agent's user gets."""
    if os.geteuid() != 0:
        skip_unless_ci("needs root to drop capabilities")
    return subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all",
                           "--no-new-privs", UPKEEP, *args],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def test_state_changing_cli_needs_the_data_dirs_owner(agent: AgentProcess,
                                                      tmp_path: Path) -> None:
    evidence = tmp_path / "evidence.txt"
    evidence.write_text("proof")
    assets = tmp_path / "assets.csv"
    assets.write_text("class,serial\nups,EVIL2\n")
    survey = tmp_path / "survey.csv"
    survey.write_text("ประทับเวลา,1. ความพึงพอใจต่อระบบ\n1,5\n2,4\n", encoding="utf-8")
    directory = Path(data_dir(agent))
    os.chown(directory, 4242, 4242)  # the agent's own account (the agent runs as root here)
    public = agent.config_path
    attempts = {
        ("checklist", "attest"): ("P11-WEB-02", "--evidence", str(evidence), "--by", "mallory"),
        ("assets", "import"): (str(assets),),
        ("incidents", "add"): ("--system", "erp", "--started", "2025-01-01T00:00:00"),
        ("incidents", "ack"): ("1",),
        ("incidents", "resolve"): ("1",),
        ("incidents", "note"): ("1", "evil"),
        ("incidents", "edit"): ("1", "--cause", "evil"),
        ("incidents", "maintenance", "add"): ("--start", "2025-01-01T00:00:00",
                                              "--end", "2025-01-01T01:00:00"),
        ("incidents", "maintenance", "approve"): ("1", "--note", "evil"),
        ("incidents", "rebuild"): ("--prometheus", f"http://127.0.0.1:{free_port()}",
                                   "--system", "erp", "--from", "2025-01-01T00:00:00",
                                   "--to", "2025-01-02T00:00:00"),
        ("incidents", "void"): ("1", "--reason", "evil"),
        ("satisfaction", "import"): (str(survey), "--system", "erp", "--fiscal-year", "2568"),
        ("satisfaction", "record"): ("--system", "erp", "--fiscal-year", "2568",
                                     "--respondents", "10", "--mean", "4.5",
                                     "--evidence", str(evidence)),
    }
    assert set(attempts) == CLI_WRITES
    before = db_fingerprint(agent)
    for command, extra in attempts.items():
        result = _without_authority(*command, *extra, "-c", str(public), cwd=tmp_path)
        assert result.returncode != 0, (command, result.stdout, result.stderr)
        assert "usage:" not in result.stderr, (command, result.stderr)  # refused, not misused
        assert "Traceback" not in result.stderr, (command, result.stderr[-2000:])
        assert result.stderr.strip(), f"{command}: failed without saying why"
        _assert_no_secret(result.stdout + result.stderr, f"CLI {command}")
    assert db_fingerprint(agent) == before
    # the control: with the owner's authority the same kind of command works
    allowed = run_cli("incidents", "note", "1", "allowed", "-c", str(public))
    assert allowed.returncode == 0, allowed.stderr
    assert db_fingerprint(agent) != before
    os.chown(directory, 0, 0)


# --- secrets ------------------------------------------------------------------------------

def _assert_no_secret(text: str, where: str) -> None:
    for pattern in _SECRET_PATTERNS:
        assert not re.search(pattern, text), f"a secret ({pattern[:12]}...) appears in {where}"


def test_secrets_never_leave_the_agent(agent: AgentProcess, tmp_path: Path) -> None:
    # let the dead NUT/SNMP/notify targets fail a few times (their errors get logged)
    def polled() -> bool:
        items = httpx.get(f"{agent.url}/api/v1/targets", headers=GOOD, timeout=5).json()
        return any(t["target"] == "rack" and not t["ok"] for t in items["targets"])

    wait_for(polled, timeout=15, message="nut:rack polled")
    outputs: dict[str, str] = {}
    for method, path, _ in app_routes():
        if method != "GET" or "{" in path:
            continue
        for headers in (GOOD, {}, WRONG[0]):
            answer = httpx.get(f"{agent.url}{path}", headers=headers, timeout=20)
            outputs[f"GET {path} {headers}"] = answer.text + str(answer.headers)
    for page in ("overview", "ups", "websites", "incidents", "checklist", "assets", "kpi",
                 "fleet", "x"):
        outputs[f"/ui/{page}"] = httpx.get(f"{agent.url}/ui/{page}", headers=GOOD,
                                           timeout=20).text
    for kind in ("kpi", "checklist", "assets"):
        for fmt in ("csv", "json"):
            outputs[f"report {kind}.{fmt}"] = httpx.get(
                f"{agent.url}/ui/reports/{kind}.{fmt}", headers=GOOD, timeout=30).text
    # error messages: bad bodies, bad ids, bad JSON, with authority
    for path, body in (("/api/v1/incidents", b"{bad json"), ("/api/v1/incidents/999/ack", b"{}"),
                       ("/api/v1/checklist/attest", b'{"control": 1}'),
                       ("/api/v1/sd/reload", b"")):
        answer = httpx.post(f"{agent.url}{path}", headers={**GOOD, "content-type":
                                                            "application/json"},
                            content=body, timeout=10)
        assert answer.status_code < 500, (path, answer.status_code, answer.text)
        outputs[f"POST {path}"] = answer.text
    outputs["metrics"] = agent.get("/metrics", headers=GOOD).text
    assert "upkeep_up" in outputs["metrics"]
    # CLI outputs (they read the same config file, with the secrets in it)
    for args in (("incidents", "list"), ("assets", "list"), ("checklist",),
                 ("checklist", "history"), ("probe",)):
        result = run_cli(args[0], "-c", str(agent.config_path), *args[1:], timeout=90)
        outputs[f"cli {args}"] = result.stdout + result.stderr
    for kind in ("kpi", "checklist", "assets"):  # report files, as the CLI writes them
        for fmt in ("csv", "json"):
            out = tmp_path / f"{kind}.{fmt}"
            result = run_cli("report", kind, "-c", str(agent.config_path), "-o", str(out),
                             "--lang", "en", timeout=90)
            assert result.returncode == 0, (kind, result.stderr[-1000:])
            outputs[f"cli report {kind}.{fmt}"] = (result.stdout + result.stderr
                                                   + out.read_text(errors="replace"))
    # check-config on a broken file that also holds the secrets
    broken = dict(agent.config)
    broken["ups"] = [*agent.config["ups"], {"name": "bad", "nut": {"password": NUT_PASSWORD}}]
    broken_path = tmp_path / "broken.yml"
    broken_path.write_text(yaml.safe_dump(broken))
    result = run_cli("check-config", "--no-bind", str(broken_path))
    assert result.returncode == 2
    outputs["check-config error"] = result.stdout + result.stderr
    time.sleep(1.5)  # a second round of failing polls and notification attempts in the log
    outputs["agent log"] = agent.log_text()
    assert '"target":"rack"' in outputs[f"GET /api/v1/targets {GOOD}"]
    for where, text in outputs.items():
        _assert_no_secret(text, where.replace(TOKEN, "<token>"))


# --- config file permissions ----------------------------------------------------------

def test_config_readable_by_others_is_warned(agent: AgentProcess, tmp_path: Path) -> None:
    config = tmp_path / "open.yml"
    config.write_text(agent.config_path.read_text())
    config.chmod(0o644)
    result = run_cli("check-config", "--no-bind", str(config))
    assert result.returncode == 0, result.stderr
    assert "readable by every local user" in result.stderr and str(config) in result.stderr
    _assert_no_secret(result.stderr, "check-config warning")
    config.chmod(0o640)
    quiet = run_cli("check-config", "--no-bind", str(config))
    assert "readable by every local user" not in quiet.stderr
    # secrets only by reference (_file): the config may be public, the secret file not
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    secret.chmod(0o644)
    by_file = tmp_path / "by-file.yml"
    by_file.write_text(yaml.safe_dump({"site": "x", "web": {"api_token_file": str(secret)}}))
    by_file.chmod(0o644)
    result = run_cli("check-config", "--no-bind", str(by_file))
    assert f"{secret} holds a secret" in result.stderr
    assert f"{by_file} holds secrets" not in result.stderr
    secret.chmod(0o600)
    assert "readable" not in run_cli("check-config", "--no-bind", str(by_file)).stderr


def test_run_warns_about_an_open_config(tmp_path: Path) -> None:
    proc = AgentProcess(tmp_path, {"site": "open", "web": {"api_token": TOKEN}})
    proc.config_path.chmod(0o604)
    proc.start()
    try:
        assert "readable by every local user" in proc.log_text()
        assert stat.S_IMODE(proc.config_path.stat().st_mode) == 0o604  # warned, not changed
    finally:
        proc.stop()


# --- bodies ---------------------------------------------------------------------------------

def test_oversized_and_malformed_bodies(agent: AgentProcess) -> None:
    before = db_fingerprint(agent)
    url = f"{agent.url}/api/v1/incidents/1/notes"
    huge = b'{"text": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    answer = httpx.post(url, headers={**GOOD, "content-type": "application/json"}, content=huge,
                        timeout=30)
    assert answer.status_code == 413, answer.text[:200]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"text": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    answer = httpx.post(url, headers={**GOOD, "content-type": "application/json"},
                        content=chunks(), timeout=30)
    assert answer.status_code == 413, answer.text[:200]
    big_assets = httpx.post(f"{agent.url}/api/v1/assets/import", params={"filename": "a.csv"},
                            headers=GOOD, content=b"class,serial\n" + b"ups,S\n" * 4_000_000,
                            timeout=60)
    assert big_assets.status_code == 413
    for body in (b"{", b"[]", b'{"text": 5}', b'{"text": "x", "extra": 1}', b"\xff\xfe",
                 b'{"text": "' + b"\\ud800" + b'"}', b"null", b"1e999999",
                 b"[" * 50000 + b"]" * 50000):
        answer = httpx.post(url, headers={**GOOD, "content-type": "application/json"},
                            content=body, timeout=30)
        assert answer.status_code in (400, 422), (body[:40], answer.status_code, answer.text)
    wrong_type = httpx.post(url, headers={**GOOD, "content-type": "text/plain"},
                            content=b'{"text": "x"}', timeout=10)
    assert wrong_type.status_code in (415, 422), wrong_type.status_code
    assert db_fingerprint(agent) == before
    assert agent.get("/healthz").status_code == 200
