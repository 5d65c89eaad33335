"""Who may read and who may write, for the agent's HTTP API.

Mirrors exporter-toolkit's basic-auth handler: bcrypt hashes, a comparison against a dummy
hash for unknown users (so timing does not reveal which names exist), one bcrypt check at a
time, and successful checks cached on ``(user, hash, sha256(password))`` so a scrape every
15 s does not pay ~70 ms of bcrypt each time. upkeep adds a bearer ``api_token``.

- Read (``Reader``): open when ``reads_are_public``; otherwise a valid basic-auth user or the
  token, else 401 with ``WWW-Authenticate: Basic``.
- Write (``Writer``): always a valid user or the token. No credentials: 401; credentials
  that are not valid: 403.

``WebSecurity`` also holds the effective toolkit config, re-read from ``web.config_file``
when the file changes, and installs the response headers and the rate limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import threading
import time
from functools import cache

from upkeep.config.web import WebConfig, WebToolkitConfig, load_web_config_file

log = logging.getLogger(__name__)


@cache
def _dummy_hash() -> bytes:
    """Compared against when the user is unknown, so both paths cost one bcrypt check.

    Made on first use: bcrypt (and ~70 ms of hashing) is paid only by an agent whose web
    config has users, not by every agent at import."""
    import bcrypt

    return bcrypt.hashpw(b"upkeep-dummy", bcrypt.gensalt(rounds=10))


_CACHE_MAX = 256
#: how often the web-config file's mtime is looked at, at most
_STAT_EVERY = 1.0


class WebSecurity:
    """The agent's HTTP security state (one per app)."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self._toolkit = config.toolkit()
        self._mtime = self._file_mtime()
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._bcrypt_lock = threading.Lock()
        self._ok_cache: dict[tuple[str, str, bytes], float] = {}
        self._bucket_tokens = -1.0  # full on first use
        self._bucket_time = time.monotonic()
        if self._toolkit.basic_auth_users:
            _dummy_hash()  # at start-up, not on the first request of an unknown user

    # --- the toolkit part, re-read when its file changes -----------------------------------
    def _file_mtime(self) -> float | None:
        if self.config.config_file is None:
            return None
        try:
            return os.stat(self.config.config_file).st_mtime
        except OSError:
            return None

    def toolkit(self) -> WebToolkitConfig:
        if self.config.config_file is None:
            return self._toolkit
        now = time.monotonic()
        if now - self._checked < _STAT_EVERY:
            return self._toolkit
        with self._lock:
            self._checked = now
            mtime = self._file_mtime()
            if mtime is not None and mtime != self._mtime:
                try:
                    self._toolkit = load_web_config_file(self.config.config_file)
                    log.info("re-read %s", self.config.config_file)
                except ValueError as err:
                    # keep serving with the last good file rather than locking everyone out
                    log.error("%s; keeping the previous web config", err)
                self._mtime = mtime
        return self._toolkit

    # --- credentials ----------------------------------------------------------------------
    def _check_user(self, user: str, password: str) -> bool:
        users = self.toolkit().basic_auth_users
        hashed = users.get(user)
        hash_text = hashed.get_secret_value() if hashed is not None else ""
        key = (user, hash_text, hashlib.sha256(password.encode("utf-8")).digest())
        if hashed is not None and key in self._ok_cache:
            return True
        target = hash_text.encode("ascii", "replace") if hashed is not None else _dummy_hash()
        import bcrypt  # only agents with basic-auth users get here

        with self._bcrypt_lock:  # one bcrypt at a time bounds what a flood of guesses costs
            try:
                ok = bcrypt.checkpw(password.encode("utf-8"), target)
            except ValueError:
                ok = False
        ok = ok and hashed is not None
        if ok:
            if len(self._ok_cache) >= _CACHE_MAX:
                self._ok_cache.clear()
            self._ok_cache[key] = time.monotonic()
        return ok

    def _basic_user(self, header: str) -> str | None:
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        user, sep, password = raw.partition(":")
        if not sep:
            return None
        return user if self._check_user(user, password) else None

    def _token_ok(self, header: str) -> bool:
        token = self.config.api_token
        if token is None:
            return False
        given = header[7:].strip().encode("utf-8")
        return hmac.compare_digest(given, token.get_secret_value().encode("utf-8"))

    def identify(self, header: str) -> str | None:
        """The identity (``"token"`` or a user name) an ``Authorization`` header proves, or None.

        A basic-auth check not seen before costs one bcrypt (~70 ms): call it off the loop."""
        scheme = header[:7].lower()
        if scheme == "bearer ":
            return "token" if self._token_ok(header) else None
        if scheme.startswith("basic "):
            return self._basic_user(header)
        return None

    def reads_are_public(self) -> bool:
        return self.config.reads_are_public(self.toolkit())

    # --- rate limit (token bucket over all requests, as the toolkit's rate_limit) ---------
    def allow_request(self) -> bool:
        limit = self.toolkit().rate_limit
        if limit is None:
            return True
        with self._lock:
            now = time.monotonic()
            if self._bucket_tokens < 0:
                self._bucket_tokens = float(limit.burst)
            refill = (now - self._bucket_time) / limit.interval
            self._bucket_tokens = min(float(limit.burst), self._bucket_tokens + refill)
            self._bucket_time = now
            if self._bucket_tokens >= 1.0:
                self._bucket_tokens -= 1.0
                return True
            return False
