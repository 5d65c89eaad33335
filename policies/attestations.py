"""Manual attestations: who says a control is met, with what evidence, until when.

Append-only history in the agent's SQLite file (triggers refuse UPDATE and DELETE, so an
attestation can only be superseded by a newer one, never edited away). Evidence is a URL or
a file copied into the evidence directory under its SHA-256, so the stored copy can be
checked against the digest later.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from upkeep.errors import UpkeepError
from upkeep.kit.db import Database, Migration

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS checklist_attestation (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    control TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    attested_by TEXT NOT NULL,
    attested_at REAL NOT NULL,
    valid_until TEXT NOT NULL,
    evidence_kind TEXT NOT NULL,
    evidence TEXT NOT NULL,
    sha256 TEXT,
    evidence_name TEXT,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS checklist_attestation_control
    ON checklist_attestation (control, subject, id);
CREATE TRIGGER IF NOT EXISTS checklist_attestation_no_update
    BEFORE UPDATE ON checklist_attestation
    BEGIN SELECT RAISE(ABORT, 'attestations are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checklist_attestation_no_delete
    BEFORE DELETE ON checklist_attestation
    BEGIN SELECT RAISE(ABORT, 'attestations are append-only'); END;
"""
#: the checklist_attestation room's schema steps (upkeep.kit.db): version 1 is the 0.1.0 DDL; append a
#: step to change a table, never edit a released one
MIGRATIONS: tuple[Migration, ...] = (SCHEMA_V1,)

#: what an attestation may state; "fail" is recorded by not attesting
ATTEST_STATUSES = ("pass", "partial", "not-applicable")
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)


class AttestationError(UpkeepError):
    """A bad attestation request (unknown control, unreadable evidence ...)."""


@dataclass(frozen=True)
class Attestation:
    id: int
    control: str
    subject: str
    status: str
    by: str
    at: float
    valid_until: date
    evidence_kind: str  # "file" or "url"
    evidence: str  # stored path (relative to the evidence dir) or the URL
    sha256: str | None
    evidence_name: str | None
    note: str

    def expired(self, today: date) -> bool:
        """Valid through ``valid_until`` inclusive (a date in Asia/Bangkok)."""
        return today > self.valid_until

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "control": self.control, "subject": self.subject or None,
                "status": self.status, "by": self.by, "at": self.at,
                "valid_until": self.valid_until.isoformat(), "evidence_kind": self.evidence_kind,
                "evidence": self.evidence, "sha256": self.sha256,
                "evidence_name": self.evidence_name, "note": self.note}


def _row(row: object) -> Attestation:
    r = dict(row)  # type: ignore[call-overload]
    return Attestation(r["id"], r["control"], r["subject"], r["status"], r["attested_by"],
                       r["attested_at"], date.fromisoformat(r["valid_until"]),
                       r["evidence_kind"], r["evidence"], r["sha256"], r["evidence_name"],
                       r["note"])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def store_evidence(evidence_dir: Path, source: Path, name: str | None = None
                   ) -> tuple[str, str]:
    """Copy ``source`` into ``evidence_dir`` under its SHA-256; (relative path, digest)."""
    if not source.is_file():
        raise AttestationError(f"evidence {source} is neither a readable file nor an "
                               "http(s) URL")
    try:
        digest = sha256_file(source)
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name or source.name)[-80:] or "evidence"
        relative = f"{digest[:2]}/{digest}-{safe}"
        target = evidence_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            partial = target.with_suffix(target.suffix + ".part")
            shutil.copyfile(source, partial)
            partial.replace(target)
    except OSError as err:
        raise AttestationError(f"cannot store evidence {source}: {err.strerror}") from err
    return relative, digest


class AttestationLedger:
    def __init__(self, db: Database, evidence_dir: str | Path) -> None:
        self.db = db
        self.evidence_dir = Path(evidence_dir)
        db.ensure_schema("checklist_attestation", MIGRATIONS)

    def attest(self, control: str, *, by: str, valid_until: date, evidence: str,
               note: str = "", subject: str = "", status: str = "pass",
               evidence_name: str | None = None, at: float | None = None) -> Attestation:
        """Record one attestation. ``evidence`` is a URL or a path to a readable file."""
        if status not in ATTEST_STATUSES:
            raise AttestationError(f"status must be one of {', '.join(ATTEST_STATUSES)}")
        if not by.strip():
            raise AttestationError("say who attests (--by NAME)")
        when = time.time() if at is None else at
        if _URL.match(evidence):
            kind, stored, digest, name = "url", evidence, None, None
        else:
            kind = "file"
            stored, digest = self._store_file(Path(evidence), evidence_name)
            name = evidence_name or Path(evidence).name
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO checklist_attestation (control, subject, status, attested_by, "
                "attested_at, valid_until, evidence_kind, evidence, sha256, evidence_name, note)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (control, subject, status, by.strip(), when, valid_until.isoformat(), kind,
                 stored, digest, name, note))
            new_id = cur.lastrowid
        return self.get(int(new_id or 0))

    def _store_file(self, source: Path, name: str | None) -> tuple[str, str]:
        return store_evidence(self.evidence_dir, source, name)

    def get(self, attestation_id: int) -> Attestation:
        rows = self.db.query("SELECT * FROM checklist_attestation WHERE id = ?",
                             (attestation_id,))
        if not rows:
            raise AttestationError(f"no attestation {attestation_id}")
        return _row(rows[0])

    def history(self, control: str | None = None) -> list[Attestation]:
        if control is None:
            rows = self.db.query("SELECT * FROM checklist_attestation ORDER BY id")
        else:
            rows = self.db.query("SELECT * FROM checklist_attestation WHERE control = ? "
                                 "ORDER BY id", (control,))
        return [_row(r) for r in rows]

    def latest(self) -> dict[tuple[str, str], Attestation]:
        """The newest attestation per (control, subject): the one that counts."""
        out: dict[tuple[str, str], Attestation] = {}
        for item in self.history():
            out[(item.control, item.subject)] = item
        return out

    def evidence_path(self, item: Attestation) -> Path | None:
        return self.evidence_dir / item.evidence if item.evidence_kind == "file" else None
