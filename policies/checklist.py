"""The security-policy checklist: a catalogue of controls judged against what the agent saw.

Controls are data (``catalogue.yml``, overridable by the office). Automated controls are
judged from the *current* readings in the state store, never by probing again; manual ones
from the newest attestation; hybrid ones need both; ``auto-or-manual`` ones (the ITA pages)
are judged automatically when the office configured what to check and by attestation when it
did not (their evaluator answers ``manual``). Statuses follow OSCAL/XCCDF practice:

    pass, fail, partial, manual-pending, expired, not-applicable, error

per subject (each website, the site, the organisation) and per control. The plan's five-step
ladder for project 11 is the highest step whose controls (and every lower step's) all pass.
Everything here is pure: the caller passes readings, attestations and the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from upkeep.config import Config
from upkeep.config.policy_checklist import ChecklistConfig
from upkeep.errors import ConfigError
from upkeep.kit.messages import MESSAGES, T, text
from upkeep.kit.thai import format_date, to_bangkok
from upkeep.policies import checklist_checks as checks
from upkeep.policies.attestations import Attestation, AttestationError
from upkeep.reading import Reading

log = logging.getLogger(__name__)

STATUSES = ("pass", "fail", "partial", "manual-pending", "expired", "not-applicable", "error")
CHECK_TYPES = ("automated", "manual", "hybrid", "auto-or-manual")
SUBJECT_KINDS = ("websites", "site", "org")
#: when subjects disagree and none is partly met, the most telling status wins
_PRIORITY = ("fail", "expired", "error", "manual-pending")


@dataclass(frozen=True)
class Control:
    id: str
    title: Mapping[str, str]
    requirement: Mapping[str, str]
    source: Mapping[str, str]
    check: str
    subjects: str = "org"
    evaluator: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    review_days: int = 365
    owner: str = ""
    project11_level: int | None = None
    parent: str | None = None
    next_step: Mapping[str, str] = field(default_factory=dict)

    def text(self, key: str, lang: str) -> str:
        value: Mapping[str, str] = getattr(self, key)
        return value.get(lang) or value.get("en") or value.get("th") or ""


@dataclass(frozen=True)
class Catalogue:
    version: str
    controls: tuple[Control, ...]

    def get(self, control_id: str) -> Control | None:
        return next((c for c in self.controls if c.id == control_id), None)

    def children(self, control_id: str) -> list[Control]:
        return [c for c in self.controls if c.parent == control_id]


def _bilingual(raw: Any, where: str, *, required: bool = True) -> dict[str, str]:
    if raw is None and not required:
        return {}
    if isinstance(raw, str):
        return {"th": raw, "en": raw}
    if not isinstance(raw, dict) or not any(raw.get(k) for k in ("th", "en")):
        raise ValueError(f"{where}: give {{th: ..., en: ...}}")
    extra = [str(k) for k in raw if k not in ("th", "en")]
    if extra:
        # YAML's flow style splits an unquoted "a, b" into a second key: say so
        raise ValueError(f"{where}: unexpected key(s) {', '.join(extra)} (quote texts that "
                         "contain a comma)")
    return {k: str(v) for k, v in raw.items() if k in ("th", "en") and v}


def parse_control(raw: Any, where: str) -> Control:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a control is a mapping")
    known = {"id", "title", "requirement", "source", "check", "subjects", "evaluator", "params",
             "review_days", "owner", "project11_level", "parent", "next_step"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    cid = raw.get("id")
    if not isinstance(cid, str) or not cid.strip():
        raise ValueError(f"{where}: id is required")
    where = f"{where} ({cid})"
    check = raw.get("check")
    if check not in CHECK_TYPES:
        raise ValueError(f"{where}: check must be one of {', '.join(CHECK_TYPES)}")
    subjects = raw.get("subjects", "org")
    if subjects not in SUBJECT_KINDS:
        raise ValueError(f"{where}: subjects must be one of {', '.join(SUBJECT_KINDS)}")
    evaluator = raw.get("evaluator")
    if check in ("automated", "hybrid", "auto-or-manual"):
        if evaluator not in checks.EVALUATORS:
            raise ValueError(f"{where}: evaluator must be one of "
                             f"{', '.join(sorted(checks.EVALUATORS))}")
        if checks.EVALUATORS[evaluator].subjects != subjects:
            raise ValueError(f"{where}: evaluator {evaluator} judges "
                             f"{checks.EVALUATORS[evaluator].subjects}, not {subjects}")
    elif evaluator is not None:
        raise ValueError(f"{where}: a manual control has no evaluator")
    level = raw.get("project11_level")
    if level is not None and level not in (1, 2, 3, 4, 5):
        raise ValueError(f"{where}: project11_level must be 1-5")
    review = raw.get("review_days", 365)
    if not isinstance(review, int) or review < 1:
        raise ValueError(f"{where}: review_days must be a positive number of days")
    source = raw.get("source") or {}
    if not isinstance(source, dict) or set(source) - {"document", "item", "version"}:
        raise ValueError(f"{where}: source is {{document, item, version}} (quote texts that "
                         "contain a comma)")
    return Control(
        id=cid.strip(), title=_bilingual(raw.get("title"), f"{where}.title"),
        requirement=_bilingual(raw.get("requirement"), f"{where}.requirement"),
        source={k: str(v) for k, v in source.items()}, check=check, subjects=subjects,
        evaluator=evaluator, params=dict(raw.get("params") or {}), review_days=review,
        owner=str(raw.get("owner", "")), project11_level=level, parent=raw.get("parent"),
        next_step=_bilingual(raw.get("next_step"), f"{where}.next_step", required=False))


def _read_catalogue(text: str, source: str) -> tuple[str, list[Control]]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError([("policies.checklist.catalogue", f"{source}: invalid YAML: {err}")]
                          ) from None
    if not isinstance(data, dict) or not isinstance(data.get("controls", []), list):
        raise ConfigError([("policies.checklist.catalogue",
                            f"{source}: expected {{version, controls: [...]}}")])
    controls: list[Control] = []
    problems: list[tuple[str, str]] = []
    for index, raw in enumerate(data.get("controls", [])):
        try:
            controls.append(parse_control(raw, f"{source}: controls[{index}]"))
        except ValueError as err:
            problems.append(("policies.checklist.catalogue", str(err)))
    if problems:
        raise ConfigError(problems)
    return str(data.get("version", "")), controls


def default_catalogue_text() -> str:
    return resources.files("upkeep.policies").joinpath("catalogue.yml").read_text("utf-8")


def load_catalogue(config: ChecklistConfig | None = None) -> Catalogue:
    """The shipped catalogue, then the office's override (same id replaces), minus ``disable``."""
    version, controls = _read_catalogue(default_catalogue_text(), "catalogue.yml")
    merged = {c.id: c for c in controls}
    if config is not None and config.catalogue:
        path = Path(config.catalogue)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError([("policies.checklist.catalogue", f"cannot read {path}: {err}")]
                              ) from None
        office_version, office = _read_catalogue(text, str(path))
        version = f"{version}+{office_version or path.name}"
        for control in office:
            merged[control.id] = control
    for cid in (config.disable if config else []):
        merged.pop(cid, None)
    problems = [("policies.checklist.catalogue", f"{c.id}: parent {c.parent} is not in the "
                 "catalogue") for c in merged.values() if c.parent and c.parent not in merged]
    if problems:
        raise ConfigError(problems)
    return Catalogue(version, tuple(merged.values()))


def check_attestable(control: Control) -> None:
    """Refuse attesting an automated control: ``evaluate`` ignores attestations of those (the
    readings alone decide), so recording one would only mislead whoever reads the ledger."""
    if control.check == "automated":
        raise AttestationError(
            f"{control.id} is an automated control: its status comes from what the agent "
            f"measures ({control.evaluator}), never from an attestation; only manual and "
            "hybrid controls can be attested")


# --- evaluation ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubjectResult:
    subject: str
    status: str
    #: in English (the API, the UI, the history); ``detail_th`` is the Thai one for reports
    detail: str = ""
    attestation: Attestation | None = None
    detail_th: str = ""

    def said(self) -> T:
        return T(self.detail_th or self.detail, self.detail)


@dataclass(frozen=True)
class ControlResult:
    control: Control
    status: str
    subjects: tuple[SubjectResult, ...]
    children: tuple[str, ...] = ()

    def to_json(self, lang: str = "en") -> dict[str, Any]:
        c = self.control
        return {
            "id": c.id, "title": dict(c.title), "check": c.check, "status": self.status,
            "source": dict(c.source), "owner": c.owner, "project11_level": c.project11_level,
            "parent": c.parent, "children": list(self.children), "review_days": c.review_days,
            "requirement": dict(c.requirement), "next_step": dict(c.next_step),
            "subjects": [{"subject": s.subject or None, "status": s.status, "detail": s.detail,
                          "attestation": s.attestation.to_json() if s.attestation else None}
                         for s in self.subjects],
        }


@dataclass(frozen=True)
class ChecklistResult:
    time: float
    catalogue_version: str
    controls: tuple[ControlResult, ...]
    level: int
    levels: Mapping[int, str]

    def status_of(self, control_id: str) -> str:
        return next(r.status for r in self.controls if r.control.id == control_id)

    def to_json(self) -> dict[str, Any]:
        counts = {s: sum(1 for r in self.controls if r.status == s) for s in STATUSES}
        return {"time": self.time, "catalogue_version": self.catalogue_version,
                "project11_level": self.level,
                "levels": {str(k): v for k, v in self.levels.items()},
                "counts": counts, "controls": [r.to_json() for r in self.controls]}


def combine(statuses: Iterable[str]) -> str:
    """Many subject (or child) statuses into one."""
    present = [s for s in statuses if s != "not-applicable"]
    if not present:
        return "not-applicable"
    if all(s == "pass" for s in present):
        return "pass"
    if any(s in ("pass", "partial") for s in present):
        return "partial"
    return next(s for s in _PRIORITY if s in present)


def manual_status(attestation: Attestation | None, today: date) -> tuple[str, T]:
    if attestation is None:
        return "manual-pending", MESSAGES["checklist.no_attestation"]
    until = attestation.valid_until
    key = "checklist.attested_expired" if attestation.expired(today) else "checklist.attested"
    said = T(text(key, "th", by=attestation.by, until=format_date(until, "th")),
             text(key, "en", by=attestation.by, until=until.isoformat()))
    return ("expired" if attestation.expired(today) else attestation.status), said


def _hybrid(auto: str, auto_detail: T, manual: str, manual_detail: T) -> tuple[str, T]:
    detail = checks.join([auto_detail, manual_detail])
    if auto in ("fail", "error", "not-applicable", "partial"):
        return auto, detail
    return manual, detail


def _subjects(control: Control, config: Config) -> list[tuple[str, str | None]]:
    """(subject, reason it is exempt or None)."""
    if control.subjects == "websites":
        exempt = config.policies.checklist.exempt_websites
        return [(w.name, exempt.get(w.name)) for w in config.websites]
    if control.subjects == "site":
        return [(config.site, None)]
    return [("", None)]


def _attestation_for(attestations: Mapping[tuple[str, str], Attestation], control: str,
                     subject: str) -> Attestation | None:
    # an attestation for this subject wins; an organisation-wide one covers every subject
    return attestations.get((control, subject)) or attestations.get((control, ""))


def evaluate(catalogue: Catalogue, config: Config, readings: Sequence[Reading],
             attestations: Mapping[tuple[str, str], Attestation], now: float) -> ChecklistResult:
    today = to_bangkok(now).date()
    ctx = checks.Context(config=config, now=now,
                         readings={(r.kind, r.target): r for r in readings})
    own: dict[str, ControlResult] = {}
    for control in catalogue.controls:
        results: list[SubjectResult] = []
        subjects = _subjects(control, config)
        if not subjects:
            results.append(SubjectResult("", "not-applicable", "no websites configured",
                                         detail_th="ไม่ได้ตั้งค่าเว็บไซต์"))
        for subject, exempt in subjects:
            if exempt is not None:
                results.append(SubjectResult(subject, "not-applicable", f"exempt: {exempt}",
                                             detail_th=f"ได้รับยกเว้น: {exempt}"))
                continue
            attestation = _attestation_for(attestations, control.id, subject)
            if control.check == "manual":
                status, detail = manual_status(attestation, today)
            else:
                status, detail = _run_check(control, ctx, subject)
                if status == checks.MANUAL and control.check == "auto-or-manual":
                    m_status, m_detail = manual_status(attestation, today)
                    status, detail = m_status, checks.join([detail, m_detail])
                elif control.check == "hybrid":
                    m_status, m_detail = manual_status(attestation, today)
                    status, detail = _hybrid(status, detail, m_status, m_detail)
                else:
                    attestation = None
            results.append(SubjectResult(subject, status, detail.en, attestation,
                                         detail_th=detail.th))
        own[control.id] = ControlResult(control, combine(s.status for s in results),
                                        tuple(results))
    final: dict[str, ControlResult] = {}

    def resolve(cid: str) -> ControlResult:
        if cid in final:
            return final[cid]
        base = own[cid]
        kids = [resolve(k.id) for k in catalogue.children(cid)]
        if kids:
            status = combine([base.status, *(k.status for k in kids)])
            base = ControlResult(base.control, status, base.subjects,
                                 tuple(k.control.id for k in kids))
        final[cid] = base
        return base

    ordered = tuple(resolve(c.id) for c in catalogue.controls)
    level, levels = project11_level(ordered)
    return ChecklistResult(now, catalogue.version, ordered, level, levels)


def _run_check(control: Control, ctx: checks.Context, subject: str) -> tuple[str, T]:
    assert control.evaluator is not None
    try:
        verdict = checks.EVALUATORS[control.evaluator].func(ctx, subject, control.params)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        # a reading shaped unlike the documented info keys: say so, do not crash the rest
        log.warning("checklist %s on %s: cannot judge: %s", control.id, subject, err)
        why = f"{type(err).__name__}: {err}"
        return "error", T(f"ตัดสินผลจากข้อมูลที่อ่านได้ไม่ได้: {why}", f"cannot judge the reading: {why}")
    return verdict


def project11_level(results: Sequence[ControlResult]) -> tuple[int, dict[int, str]]:
    """The highest step L such that every control of steps 1..L passes (or does not apply)."""
    levels: dict[int, str] = {}
    for step in range(1, 6):
        mapped = [r.status for r in results if r.control.project11_level == step]
        levels[step] = combine(mapped) if mapped else "not-applicable"
    achieved = 0
    for step in range(1, 6):
        if levels[step] not in ("pass", "not-applicable"):
            break
        achieved = step
    return achieved, levels

