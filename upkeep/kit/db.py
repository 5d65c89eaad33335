"""The agent's SQLite file, shared by every room that keeps data (``upkeep.db`` in ``data_dir``).

``Database``: WAL journal, ``synchronous=FULL`` so a committed transaction survives a killed
process and a power cut. ``db_path`` is the one place that names the file.

Versioned schemas
-----------------
Several rooms share the one file (power events, the notifier's outbox, the incident ledger,
attestations, assessments, the asset register), and each evolves on its own schedule. So each
room keeps **its own ordered list of migrations** and its own version, in a small table
``schema_versions(room, version)``; ``PRAGMA user_version`` is the version of the file's
layout itself (``FILE_VERSION``: 1 = the rooms' versions live in ``schema_versions``). One
global version would make every room's change a change of the others' numbering, and a CLI
command that opens only the ledger would have to know every room's migrations.

A room calls ``db.ensure_schema(room, [v1, v2, ...])`` (or ``Database.register_schema`` for
every database opened later in the process). ``migrations[i]`` brings the room from version
``i`` to ``i + 1``: a SQL script (split into statements; ``CREATE TRIGGER ... END`` is fine)
or a callable given the connection. Each step runs in its own ``BEGIN IMMEDIATE`` transaction
together with the version bump, re-reading the version inside it, so two processes opening the
file at once (agent and CLI) never run a step twice, and a crash mid-step leaves the previous
version. Files written before versioning (0.1.0) have every room at version 0; their version 1
is the 0.1.0 DDL (``CREATE ... IF NOT EXISTS``), a no-op on their existing tables. A later
step changes a table the ordinary SQLite way (``ALTER TABLE ... ADD COLUMN ... DEFAULT``, or
create-copy-drop-rename). A file or a room at a version above what this code knows was
written by a newer release: it is refused with a ``StoreError`` (never silently downgraded).
Never edit a released step: append a new one.

Writes off the event loop
-------------------------
``Database.submit(fn, *args)`` runs ``fn`` on the database's one writer thread (in order, one
at a time) and returns a ``concurrent.futures.Future``. Rooms that write because a reading
arrived (power events, incidents) use it, so a slow fsync never stalls the agent's event loop;
they tell the loop (listeners, metrics) only after the write committed. ``barrier()`` is a
future done once everything submitted before it ran.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from upkeep.config import Config
from upkeep.errors import StoreError

#: the database's file name inside ``data_dir``
DB_FILE = "upkeep.db"
#: ``PRAGMA user_version`` of a file whose rooms keep their versions in ``schema_versions``
#: (0: a file from before versioned schemas, every room at version 0)
FILE_VERSION = 1

#: one step of a room's schema: a SQL script, or a callable given the connection (inside the
#: step's transaction; it must not commit)
Migration = str | Callable[[sqlite3.Connection], None]
_T = TypeVar("_T")


def statements(script: str) -> list[str]:
    """A SQL script split into its statements (``executescript`` would commit: a migration
    step must run inside its transaction)."""
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\n;"):
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip():  # the last one without its semicolon (SQLite judges the rest)
        out.append(buffer.strip())
    return out


def _steps(migrations: str | Sequence[Migration]) -> tuple[Migration, ...]:
    """A bare script is a room's version 1 (the form of 0.1.0's one-shot DDL)."""
    return (migrations,) if isinstance(migrations, str) else tuple(migrations)


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

    _schemas: dict[str, tuple[Migration, ...]] = {}

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
        self._writer: ThreadPoolExecutor | None = None
        self._writer_lock = threading.Lock()
        try:
            self._versioned()
            for room, migrations in list(self._schemas.items()):
                self._migrate(room, migrations)
        except BaseException:
            self._conn.close()
            raise

    # --- schemas ---------------------------------------------------------------------------
    @classmethod
    def register_schema(cls, room: str, migrations: str | Sequence[Migration]) -> None:
        """Register a room's migrations, applied to every database opened from now on."""
        cls._schemas[room] = _steps(migrations)

    def ensure_schema(self, room: str, migrations: str | Sequence[Migration]) -> None:
        """Register a room's migrations and bring this database's room up to date."""
        self.register_schema(room, migrations)
        self._migrate(room, _steps(migrations))

    def schema_version(self, room: str) -> int:
        """The room's schema version in this file (0: never created, or a 0.1.0 file)."""
        rows = self.query("SELECT version FROM schema_versions WHERE room = ?", (room,))
        return int(rows[0][0]) if rows else 0

    def _newer(self, what: str, found: int, known: int) -> StoreError:
        return StoreError(
            f"{self.path}: {what} is at schema version {found}, but this upkeep knows only "
            f"up to {known}: the file was written by a newer release. Run that release (or "
            f"newer), or restore a backup made for this one; it is not downgraded.")

    def _versioned(self) -> None:
        """The file's own layout: ``schema_versions`` exists and ``user_version`` says so."""
        found = int(self.query("PRAGMA user_version")[0][0])
        if found > FILE_VERSION:
            raise self._newer("the file", found, FILE_VERSION)
        if found == FILE_VERSION:
            return
        with self.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_versions ("
                         "room TEXT PRIMARY KEY, version INTEGER NOT NULL)")
            conn.execute(f"PRAGMA user_version = {FILE_VERSION}")

    def _migrate(self, room: str, migrations: tuple[Migration, ...]) -> None:
        known = len(migrations)
        current = self.schema_version(room)
        while True:
            if current > known:
                raise self._newer(f"the {room} room", current, known)
            if current == known:
                return
            with self._lock:
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    # again inside the transaction: another process may have run this step
                    row = self._conn.execute("SELECT version FROM schema_versions WHERE "
                                             "room = ?", (room,)).fetchone()
                    current = int(row[0]) if row else 0
                    if current < known:
                        step = migrations[current]
                        if isinstance(step, str):
                            for statement in statements(step):
                                self._conn.execute(statement)
                        else:
                            step(self._conn)
                        current += 1
                        self._conn.execute(
                            "INSERT INTO schema_versions (room, version) VALUES (?, ?) "
                            "ON CONFLICT (room) DO UPDATE SET version = excluded.version",
                            (room, current))
                    self._conn.execute("COMMIT")
                except sqlite3.Error as err:
                    self._safe_rollback()
                    raise StoreError(f"cannot bring the {room} tables in {self.path} to "
                                     f"schema version {current + 1}: {err}"
                                     f"{_storage_hint(self.path.parent)}") from err
                except BaseException:
                    self._safe_rollback()
                    raise

    # --- the writer thread -----------------------------------------------------------------
    def submit(self, fn: Callable[..., _T], /, *args: Any) -> Future[_T]:
        """Run ``fn(*args)`` on the database's one writer thread, after everything submitted
        before it (so writes keep the order in which readings arrived)."""
        with self._writer_lock:  # not self._lock: the writer holds that while it waits
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="upkeep-db-writer")
            return self._writer.submit(fn, *args)

    def barrier(self) -> Future[None]:
        """Done once everything submitted before it has run."""
        return self.submit(lambda: None)

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
        """Finish the writes already submitted, then close the file."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)
        with self._lock:
            self._conn.close()
