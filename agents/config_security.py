"""Warn when a file holding secrets can be read by every local user.

An agent in a branch office shares its host with other accounts (a backup job, a vendor's
support user). The config may carry the API token, NUT and SMTP passwords, SNMP communities
and v3 keys; ``web.config_file`` carries bcrypt hashes that can be attacked offline; files
named by ``password_file:``-style keys and TLS private keys are secrets by definition. Any of
them readable by "others" (mode ``o+r``) is worth a warning at start-up and in
``check-config``; it is not refused, because the operator may have reasons (a container with
one user) and refusing would stop monitoring.

POSIX only: on Windows ``os.stat`` makes the mode up from the read-only attribute (every
readable file looks ``0o444``/``0o666``) and who may read a file is an ACL question, so the
check would fire on every file there and is not made (docs/deployment.md, "Windows").
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr

from upkeep.config import Config

log = logging.getLogger(__name__)

#: keys whose value is a path to a secret (``password_file``, TLS ``key_file``, ...)
_SECRET_PATH_SUFFIXES = ("password_file", "token_file", "community_file", "key_file",
                         "secret_file")


def _secrets(node: Any) -> Iterator[str]:
    """Every secret value in the validated config (to see whether the file holds it)."""
    if isinstance(node, SecretStr):
        value = node.get_secret_value()
        if value:
            yield value
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _secrets(getattr(node, name))
    elif isinstance(node, dict):
        for value in node.values():
            yield from _secrets(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _secrets(value)


def _secret_paths(node: Any, base: Path) -> Iterator[Path]:
    if isinstance(node, dict):
        for key, value in node.items():
            if (isinstance(key, str) and key.endswith(_SECRET_PATH_SUFFIXES)
                    and isinstance(value, str) and value):
                path = Path(value)
                yield path if path.is_absolute() else base / path
            else:
                yield from _secret_paths(value, base)
    elif isinstance(node, list):
        for value in node:
            yield from _secret_paths(value, base)


def _world_readable(path: Path) -> bool:
    if sys.platform == "win32":  # no "others" bits there, only ACLs (see the docstring)
        return False
    try:
        return bool(os.stat(path).st_mode & stat.S_IROTH)
    except OSError:
        return False


def exposure_problems(path: str | os.PathLike[str] | None, config: Config) -> list[str]:
    """Readable-by-others files that hold secrets, as messages (no secret in them)."""
    if not path:
        return []
    config_path = Path(path)
    problems: list[str] = []
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    if _world_readable(config_path) and any(s in text for s in _secrets(config)):
        problems.append(f"{config_path} holds secrets (passwords, tokens or keys) and is "
                        f"readable by every local user; chmod o-r {config_path}")
    try:
        raw = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        raw = None
    candidates = list(_secret_paths(raw, config_path.parent)) if raw else []
    if config.web.config_file:
        candidates.append(Path(config.web.config_file))
    for secret_path in dict.fromkeys(candidates):
        if _world_readable(secret_path):
            problems.append(f"{secret_path} holds a secret (named in {config_path}) and is "
                            f"readable by every local user; chmod o-r {secret_path}")
    return problems


def warn_if_exposed(path: str | os.PathLike[str] | None, config: Config) -> list[str]:
    """Log each problem as a warning; returns them (for tests and ``check-config``)."""
    problems = exposure_problems(path, config)
    for problem in problems:
        log.warning("%s", problem)
    return problems
