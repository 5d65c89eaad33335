"""Platforms psutil supports but we cannot run here (Windows, the BSDs, macOS).

The only fakes in this module are *platform facts*: ``sys.platform``, a function ``os`` does
not have there (``os.statvfs``, ``os.uname``), a module that does not exist there (``pwd``).
Everything else is real: real files, a real SQLite open, a real event loop. Each test also
checks the POSIX side, so a guard that silenced the check everywhere would fail too.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
import yaml

from upkeep.agents import cmd_run
from upkeep.agents.config_security import exposure_problems
from upkeep.config import load_config
from upkeep.errors import StoreError
from upkeep.kit.db import Database
from upkeep.policies.cmd_incidents import actor

TOKEN = "platform-test-token-0123456789"


def _open_config(tmp_path: Path) -> tuple[Path, Path]:
    """A config with an inline secret and one secret file, both mode 0644 (o+r)."""
    secret = tmp_path / "snmp-auth"
    secret.write_text("snmp-auth-secret-value\n")
    secret.chmod(0o644)
    config = tmp_path / "upkeep.yml"
    config.write_text(yaml.safe_dump({
        "site": "x", "web": {"api_token": TOKEN},
        "ups": [{"name": "rack", "snmp": {
            "host": "127.0.0.1", "version": "3", "user": "upkeep",
            "auth": {"protocol": "SHA256", "password_file": str(secret)}}}]}))
    config.chmod(0o644)
    return config, secret


def test_readable_by_others_is_a_posix_warning_only(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """Windows has no "others" bits: os.stat reports every readable file as 0o666/0o444,
    so the check would fire on every file there. POSIX still warns, and only for o+r."""
    config, secret = _open_config(tmp_path)
    cfg = load_config(config)
    posix = exposure_problems(config, cfg)
    assert len(posix) == 2 and any(str(secret) in p for p in posix)
    config.chmod(0o600)
    secret.chmod(0o600)
    assert exposure_problems(config, cfg) == []
    config.chmod(0o644)
    secret.chmod(0o644)
    monkeypatch.setattr(sys, "platform", "win32")
    assert exposure_problems(config, cfg) == []


def test_database_error_without_statvfs_is_a_store_error(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """The data dir cannot be created (a file is in the way): on a platform without
    os.statvfs the agent must still say so as a StoreError, not die of AttributeError."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.delattr(os, "statvfs")
    with pytest.raises(StoreError, match="cannot open the agent's database"):
        Database(blocker / "upkeep.sqlite")
    db = Database(tmp_path / "ok" / "upkeep.sqlite")  # and a good data dir just works
    db.close()


def test_incident_actor_without_pwd_or_login_variables(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    """getpass.getuser() falls back to the pwd module, which Windows lacks (Python 3.11
    raises ImportError there, 3.13 OSError): the actor is "unknown", not a crash."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(sys.modules, "pwd", None)  # "import pwd" raises ImportError
    assert actor() == "unknown"
    monkeypatch.setenv("USERNAME", "somchai")
    assert actor() == "somchai"


def test_reload_signal_only_where_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGHUP reloads the config on POSIX; Windows has no SIGHUP: the agent runs without
    the reload (restart it to apply a new config)."""
    async def install() -> bool:
        loop = asyncio.get_running_loop()
        installed = cmd_run.install_reload_signal(loop, lambda: None)
        if installed:
            assert loop.remove_signal_handler(signal.SIGHUP)
        return installed

    assert asyncio.run(install()) is True
    monkeypatch.delattr(signal, "SIGHUP")
    assert asyncio.run(install()) is False

