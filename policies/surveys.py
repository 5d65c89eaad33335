"""The satisfaction-survey ledger in the agent's SQLite file.

``satisfaction_survey`` holds one row per imported survey file or recorded aggregate, for a
subject (a system's name, or ``web:NAME`` for a website) and a Buddhist-Era fiscal year.
It is append-only like the attestations (triggers refuse UPDATE and DELETE): a corrected
survey is a newer row, and the newest row of a subject and year is the one graded. The
source file (the export, or the survey report behind an aggregate) is copied into the
evidence directory under its SHA-256.

Imports keep per-question counts of each rating, not the responses, so the scoring rule can
change without re-importing; respondent ids are only used to find duplicates and are not
kept. Comments are kept, and printed only when asked (they may contain personal data).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from upkeep.config import Config
from upkeep.errors import UpkeepError
from upkeep.kit.db import Database, db_path
from upkeep.policies.attestations import AttestationError, store_evidence
from upkeep.policies.satisfaction import (
    SatisfactionResult,
    level_for,
    percent_from_histogram,
    question_means,
    scale_for,
    scales_from_config,
)
from upkeep.policies.survey_import import ParsedSurvey

SCHEMA = """
CREATE TABLE IF NOT EXISTS satisfaction_survey (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    fiscal_year INTEGER NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('import', 'record')),
    respondents INTEGER NOT NULL,
    histogram TEXT,
    mean_score TEXT,
    percent TEXT,
    blank_answers INTEGER NOT NULL DEFAULT 0,
    rejected TEXT NOT NULL DEFAULT '[]',
    comments TEXT NOT NULL DEFAULT '[]',
    evidence TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    evidence_name TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS satisfaction_survey_subject
    ON satisfaction_survey (subject, fiscal_year, id);
CREATE TRIGGER IF NOT EXISTS satisfaction_survey_no_update
    BEFORE UPDATE ON satisfaction_survey
    BEGIN SELECT RAISE(ABORT, 'satisfaction surveys are append-only'); END;
CREATE TRIGGER IF NOT EXISTS satisfaction_survey_no_delete
    BEFORE DELETE ON satisfaction_survey
    BEGIN SELECT RAISE(ABORT, 'satisfaction surveys are append-only'); END;
"""

WEBSITE_PREFIX = "web:"


class SurveyError(UpkeepError):
    """A survey cannot be recorded (unknown subject, bad year, unreadable evidence ...)."""


def check_fiscal_year(fy: int) -> int:
    """A Buddhist-Era fiscal year; a Gregorian one is refused with the BE year to use."""
    if 1900 <= fy <= 2200:
        raise SurveyError(f"fiscal year {fy} looks like a Gregorian (CE) year: fiscal years "
                          f"are Buddhist Era (e.g. {fy + 543 + 1} for Oct {fy} - Sep {fy + 1})")
    if not 2400 <= fy <= 3000:
        raise SurveyError(f"fiscal year {fy} is not a Buddhist-Era year like 2568")
    return fy


def subjects(config: Config) -> list[str]:
    """Who a survey may be about: each system, and each website as ``web:NAME``."""
    return [s.name for s in config.systems] + [WEBSITE_PREFIX + w.name
                                               for w in config.websites or []]


def subject_title(config: Config, subject: str, lang: str) -> str:
    for system in config.systems:
        if system.name == subject:
            return system.title("th" if lang == "th" else "en")
    if subject.startswith(WEBSITE_PREFIX):
        return ("เว็บไซต์ " if lang == "th" else "website ") + subject[len(WEBSITE_PREFIX):]
    return subject


@dataclass(frozen=True)
class Survey:
    id: int
    subject: str
    fiscal_year: int
    source: str
    respondents: int
    histogram: dict[str, dict[int, int]] | None
    mean_score: Fraction | None
    percent: Fraction | None
    blank_answers: int
    rejected: list[str]
    comments: list[str]
    evidence: str
    sha256: str
    evidence_name: str
    recorded_by: str
    recorded_at: float
    note: str

    def score(self, rule: str) -> tuple[Fraction | None, str]:
        """(percentage, the rule actually applied)."""
        if self.histogram is not None:
            return percent_from_histogram(self.histogram, rule), rule
        if self.percent is not None:
            return self.percent, "reported"
        assert self.mean_score is not None
        return self.mean_score * 20, "mean"

    def question_means(self) -> dict[str, float | None]:
        return question_means(self.histogram) if self.histogram else {}

    def to_json(self, *, comments: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "subject": self.subject, "fiscal_year": self.fiscal_year,
            "source": self.source, "respondents": self.respondents,
            "histogram": self.histogram,
            "mean_score": None if self.mean_score is None else float(self.mean_score),
            "percent_reported": None if self.percent is None else float(self.percent),
            "blank_answers": self.blank_answers, "rejected_rows": self.rejected,
            "comment_count": len(self.comments), "evidence": self.evidence,
            "sha256": self.sha256, "evidence_name": self.evidence_name,
            "recorded_by": self.recorded_by, "recorded_at": self.recorded_at,
            "note": self.note}
        if comments:
            out["comments"] = self.comments
        return out


def _fraction(text: str | None) -> Fraction | None:
    return None if text is None else Fraction(text)


def _row(row: Any) -> Survey:
    r = dict(row)
    histogram = None
    if r["histogram"] is not None:
        histogram = {q: {int(k): int(v) for k, v in counts.items()}
                     for q, counts in json.loads(r["histogram"]).items()}
    return Survey(r["id"], r["subject"], r["fiscal_year"], r["source"], r["respondents"],
                  histogram, _fraction(r["mean_score"]), _fraction(r["percent"]),
                  r["blank_answers"], json.loads(r["rejected"]), json.loads(r["comments"]),
                  r["evidence"], r["sha256"], r["evidence_name"], r["recorded_by"],
                  r["recorded_at"], r["note"])


class SurveyLedger:
    def __init__(self, db: Database, evidence_dir: str | Path) -> None:
        self.db = db
        self.evidence_dir = Path(evidence_dir)
        db.ensure_schema("satisfaction_survey", SCHEMA)

    @classmethod
    def open(cls, config: Config, db: Database | None = None) -> SurveyLedger:
        """The ledger in the config's data dir (or in ``db``), evidence where the
        checklist's attestations keep theirs."""
        evidence = config.policies.checklist.evidence_dir or Path(config.data_dir) / "evidence"
        return cls(db if db is not None else Database(db_path(config)), evidence)

    def close(self) -> None:
        self.db.close()

    def _insert(self, values: dict[str, Any], evidence: Path) -> Survey:
        try:
            stored, digest = store_evidence(self.evidence_dir, evidence)
        except AttestationError as err:
            raise SurveyError(str(err)) from err
        values = {**values, "evidence": stored, "sha256": digest,
                  "evidence_name": evidence.name}
        columns = ", ".join(values)
        with self.db.transaction() as conn:
            cur = conn.execute(f"INSERT INTO satisfaction_survey ({columns}) VALUES "
                               f"({', '.join('?' * len(values))})", tuple(values.values()))
            new_id = int(cur.lastrowid or 0)
        return self.get(new_id)

    def add_import(self, subject: str, fy: int, parsed: ParsedSurvey, source_file: Path, *,
                   by: str, note: str = "", at: float | None = None) -> Survey:
        return self._insert({
            "subject": subject, "fiscal_year": check_fiscal_year(fy), "source": "import",
            "respondents": parsed.respondents,
            "histogram": json.dumps(parsed.histogram, ensure_ascii=False),
            "blank_answers": parsed.blank_answers,
            "rejected": json.dumps([str(r) for r in parsed.rejected], ensure_ascii=False),
            "comments": json.dumps(parsed.comments, ensure_ascii=False),
            "recorded_by": by, "recorded_at": time.time() if at is None else at,
            "note": note}, source_file)

    def add_aggregate(self, subject: str, fy: int, *, respondents: int,
                      mean_score: Fraction | None, percent: Fraction | None, evidence: Path,
                      by: str, note: str = "", at: float | None = None) -> Survey:
        if (mean_score is None) == (percent is None):
            raise SurveyError("give either the mean score or the percent satisfied")
        if respondents < 1:
            raise SurveyError("respondents must be at least 1")
        return self._insert({
            "subject": subject, "fiscal_year": check_fiscal_year(fy), "source": "record",
            "respondents": respondents,
            "mean_score": None if mean_score is None else str(mean_score),
            "percent": None if percent is None else str(percent),
            "recorded_by": by, "recorded_at": time.time() if at is None else at,
            "note": note}, evidence)

    def get(self, survey_id: int) -> Survey:
        rows = self.db.query("SELECT * FROM satisfaction_survey WHERE id = ?", (survey_id,))
        if not rows:
            raise SurveyError(f"no survey {survey_id}")
        return _row(rows[0])

    def history(self, subject: str | None = None, fy: int | None = None) -> list[Survey]:
        sql, params = "SELECT * FROM satisfaction_survey WHERE 1=1", list[object]()
        if subject is not None:
            sql, params = sql + " AND subject = ?", [*params, subject]
        if fy is not None:
            sql, params = sql + " AND fiscal_year = ?", [*params, fy]
        return [_row(r) for r in self.db.query(sql + " ORDER BY id", params)]

    def latest(self, fy: int | None = None) -> dict[tuple[str, int], Survey]:
        """The survey that counts per (subject, fiscal year): the newest."""
        return {(s.subject, s.fiscal_year): s for s in self.history(fy=fy)}


def grade(config: Config, survey: Survey | None, subject: str, fy: int) -> SatisfactionResult:
    """A subject's satisfaction result for a fiscal year (level None: no survey)."""
    rule = config.policies.satisfaction.rule
    if survey is None:
        return SatisfactionResult(subject, fy, None, None, rule, 0)
    percent, applied = survey.score(rule)
    scale = scale_for(fy, scales_from_config(config.policies.satisfaction))
    level = None if percent is None else level_for(percent, scale)
    return SatisfactionResult(subject, fy, percent, level, applied, survey.respondents,
                              survey.id)
