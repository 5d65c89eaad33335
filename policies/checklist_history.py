"""Assessment history: every change of a control's status for a subject, append-only.

The checklist itself is always judged from current readings; this ledger answers "since
when has TLS-02 failed on the office website?" for audits and the report. Only changes are
written (one row per control and subject per change), so a steady agent writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from upkeep.kit.db import Database, Migration
from upkeep.policies.checklist import ChecklistResult

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS checklist_assessment (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    control TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS checklist_assessment_key
    ON checklist_assessment (control, subject, id);
CREATE TRIGGER IF NOT EXISTS checklist_assessment_no_update
    BEFORE UPDATE ON checklist_assessment
    BEGIN SELECT RAISE(ABORT, 'assessments are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checklist_assessment_no_delete
    BEFORE DELETE ON checklist_assessment
    BEGIN SELECT RAISE(ABORT, 'assessments are append-only'); END;
"""
#: the checklist_assessment room's schema steps (upkeep.kit.db): version 1 is the 0.1.0 DDL; append a
#: step to change a table, never edit a released one
MIGRATIONS: tuple[Migration, ...] = (SCHEMA_V1,)


@dataclass(frozen=True)
class Assessment:
    control: str
    subject: str
    status: str
    detail: str
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"control": self.control, "subject": self.subject or None,
                "status": self.status, "detail": self.detail, "at": self.at}


def _waiting(status: str, detail: str) -> bool:
    # right after a start nothing has been polled yet: not a finding worth recording
    return status == "error" and detail.startswith("no reading")


class AssessmentLedger:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.ensure_schema("checklist_assessment", MIGRATIONS)
        self._last = {(r["control"], r["subject"]): r["status"] for r in db.query(
            "SELECT control, subject, status FROM checklist_assessment WHERE id IN "
            "(SELECT MAX(id) FROM checklist_assessment GROUP BY control, subject)")}

    def record(self, result: ChecklistResult) -> int:
        """Append the subjects whose status changed; returns how many."""
        changes = []
        for row in result.controls:
            for s in row.subjects:
                key = (row.control.id, s.subject)
                if self._last.get(key) != s.status and not _waiting(s.status, s.detail):
                    changes.append((row.control.id, s.subject, s.status, s.detail, result.time))
        if changes:
            with self.db.transaction() as conn:
                conn.executemany("INSERT INTO checklist_assessment (control, subject, status, "
                                 "detail, at) VALUES (?,?,?,?,?)", changes)
            for control, subject, status, _, _ in changes:
                self._last[(control, subject)] = status
        return len(changes)

    def history(self, control: str | None = None, limit: int = 1000) -> list[Assessment]:
        where, params = ("WHERE control = ?", [control]) if control else ("", [])
        rows = self.db.query(f"SELECT control, subject, status, detail, at FROM "
                             f"checklist_assessment {where} ORDER BY id DESC LIMIT ?",
                             [*params, limit])
        return [Assessment(r["control"], r["subject"], r["status"], r["detail"], r["at"])
                for r in reversed(rows)]
