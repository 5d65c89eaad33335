"""The agent's SQLite file, shared by every room that keeps data (``upkeep.db`` in ``data_dir``).

``Database``: WAL journal, ``synchronous=FULL`` so a committed transaction survives a killed
process and a power cut. Rooms register their schema with ``register_schema`` (idempotent
``CREATE ... IF NOT EXISTS`` statements). ``db_path`` is the one place that names the file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from upkeep.config import Config
from upkeep.errors import StoreError

#: the database's file name inside ``data_dir``
DB_FILE = "upkeep.db"


def db_path(where: Config | str | os.PathLike[str]) -> Path:
    """The agent's database file: ``upkeep.db`` in the config's ``data_dir`` (or in the data
    dir given as a path). The agent and the CLI commands open the same file (WAL allows it)."""
    data_dir = where.data_dir if isinstance(where, Config) else where
    return Path(data_dir) / DB_FILE


def _storage_hint(directory: Path) -> str:
    """Why a data dir may refuse writes, in words an operator acts on (SQLite only says
    "unable to open database file")."""
    statvfs = getattr(os, "statvfs", None)  # POSIX only: Windows gets the permission hint
    if statvfs is not None:
        try:
            stats = statvfs(directory)
        except OSError:
            return ""
        if stats.f_flag & os.ST_RDONLY:
            return f" ({directory} is on a read-only file system)"
        if stats.f_bavail * stats.f_frsize < 64 * 1024:
            return f" ({directory}: the disk is full)"
    if not os.access(directory, os.W_OK):
        return f" (no write permission on {directory})"
    return ""


class Database:
    """The agent's SQLite file. Thread-safe; every ``transaction()`` commits or rolls back."""

    _schemas: dict[str, str] = {}

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10,
                                         isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot open the agent's database {self.path}: {err}"
                             f"{_storage_hint(self.path.parent)}") from err
        self._lock = threading.RLock()
        for name, ddl in self._schemas.items():
            self._apply(name, ddl)

    @classmethod
    def register_schema(cls, name: str, ddl: str) -> None:
        """Register DDL applied to every database opened from now on (idempotent DDL only)."""
        cls._schemas[name] = ddl

    def ensure_schema(self, name: str, ddl: str) -> None:
        self.register_schema(name, ddl)
        self._apply(name, ddl)

    def _apply(self, name: str, ddl: str) -> None:
        try:
            with self._lock:
                self._conn.executescript(ddl)
        except sqlite3.Error as err:
            raise StoreError(f"cannot create the {name} tables in {self.path}: {err}") from err

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.Error as err:
                self._safe_rollback()
                raise StoreError(f"write to {self.path} failed: {err}") from err
            except BaseException:
                self._safe_rollback()
                raise

    def _safe_rollback(self) -> None:
        with suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

    def query(self, sql: str, params: Iterable[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, tuple(params)))
            except sqlite3.Error as err:
                raise StoreError(f"read from {self.path} failed: {err}") from err

    def integrity_check(self) -> str:
        return str(self.query("PRAGMA integrity_check")[0][0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
