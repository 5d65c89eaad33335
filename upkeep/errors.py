"""The exception hierarchy of upkeep.

::

    UpkeepError
    ├── ConfigError            bad configuration (CLI exits 2)
    ├── StoreError             the agent's own data could not be read or written
    └── CollectorError         a poll failed; ``reason`` is a short machine-readable code
        ├── TargetUnreachable  reason "unreachable" (refused, no route, DNS failure ...)
        ├── AuthFailed         reason "auth"
        ├── ProtocolError      reason "protocol" (garbage, unexpected answer)
        └── PollTimeout        reason "timeout"

A collector raises one of these (``raise ... from err``) and the scheduler turns it into a
failed ``Reading`` carrying ``reason``; any other exception is a bug, recorded as
reason "internal" and logged with its traceback.
"""

from __future__ import annotations


class UpkeepError(Exception):
    """Base class of every error upkeep raises on purpose."""


class ConfigError(UpkeepError):
    """The configuration is invalid. ``problems`` lists ``(location, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{loc}: {msg}" if loc else msg for loc, msg in problems))


class StoreError(UpkeepError):
    """The agent's SQLite store failed (full disk, read-only directory, corruption)."""


class CollectorError(UpkeepError):
    """A poll of one target failed. ``reason`` is a short code exported as a label."""

    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class TargetUnreachable(CollectorError):
    reason = "unreachable"


class AuthFailed(CollectorError):
    reason = "auth"


class ProtocolError(CollectorError):
    reason = "protocol"


class PollTimeout(CollectorError):
    reason = "timeout"
