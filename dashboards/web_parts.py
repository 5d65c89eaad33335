"""Adapters from other rooms' parts (events, incidents, KPI, checklist, assets, reports) to the
plain dicts the pages render.

Each adapter reaches its part through ``agent.service(Kind)`` (``upkeep.parts``): a part that
is not running raises ``PartMissing`` and shows as "not available" on its page, the rest of the
UI keeps working. Any other error inside a part is a bug and is not hidden.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from upkeep.dashboards import web_data as data
from upkeep.dashboards.web_data import Part, part
from upkeep.events import PowerEventLog
from upkeep.kit.thai import fiscal_year
from upkeep.parts import PartMissing
from upkeep.policies import assets as assets_mod
from upkeep.policies.assets_service import AssetsService
from upkeep.policies.checklist import ChecklistResult
from upkeep.policies.checklist_service import ChecklistService
from upkeep.policies.incidents import YearView, grade_year
from upkeep.policies.kpi import scale_for, scales_from_config
from upkeep.policies.kpi_service import KpiService
from upkeep.policies.satisfaction import percent_text
from upkeep.policies.satisfaction_service import SatisfactionService
from upkeep.policies.surveys import grade as grade_survey
from upkeep.policies.surveys import subjects

if TYPE_CHECKING:
    from upkeep.kit.agent import AgentView as Agent

FORMATS = ("pdf", "xlsx", "csv", "json")
#: report kind -> label key; "status" is the UI's own snapshot of what the agent sees now
REPORT_KINDS = {"status": "report.status", "kpi": "nav.incidents",
                "checklist": "nav.checklist", "assets": "nav.assets"}
#: report kind -> the service it is built from
REPORT_SERVICES: dict[str, type[Any]] = {"kpi": KpiService, "checklist": ChecklistService,
                                         "assets": AssetsService}


def events(agent: Agent) -> Part:
    def load() -> list[dict[str, Any]]:
        try:
            recorder = agent.service(PowerEventLog)
        except PartMissing:
            raise PartMissing(agent.db_error or "power events are not recorded") from None
        return [e.to_json() for e in recorder.events(limit=50)]
    return part("power events (agents/events.py)", load)


def _ledger(agent: Agent) -> Any:
    ledger = agent.service(KpiService).ledger
    if ledger is None:
        raise PartMissing(agent.db_error or "the incident ledger is not open")
    return ledger


def _kpi_year(agent: Agent) -> YearView:
    """The current fiscal year graded (incidents with their levels, per-system results)."""
    ledger = _ledger(agent)
    now = time.time()
    try:
        scale_for(fiscal_year(now), scales_from_config(agent.config.policies.kpi))
    except ValueError as err:  # no configured scale covers this fiscal year
        raise PartMissing(str(err)) from None
    names = [s.name for s in agent.config.systems]
    return grade_year(ledger, agent.config.policies.kpi, fiscal_year(now), now, names)


def incidents(agent: Agent) -> Part:
    def load() -> list[dict[str, Any]]:
        view = _kpi_year(agent)
        out = []
        for incident, grade in sorted(view.graded, key=lambda p: -p[0].started_at):
            out.append({"id": incident.id, "system": incident.system,
                        "started": incident.started_at, "restored": incident.restored_at,
                        "open": incident.restored_at is None,
                        "duration_seconds": grade.effective_seconds, "level": grade.level,
                        "acknowledged": incident.acknowledged_at,
                        "acknowledged_by": incident.acknowledged_by,
                        "cause": " ".join(x for x in (incident.cause_category,
                                                      incident.cause_text) if x),
                        "review": grade.needs_review})
        return out
    return part("incidents (policies/incidents.py)", load)


def systems(agent: Agent) -> Part:
    def load() -> list[dict[str, Any]]:
        return [{"name": name, "up": up} for name, up in agent.service(KpiService).up.items()]
    return part("systems (policies/kpi_service.py)", load)


def kpi(agent: Agent) -> Part:
    def load() -> list[dict[str, Any]]:
        view = _kpi_year(agent)
        results = [*view.systems.values(), view.office]
        return [{"system": r.system or "_office", "fiscal_year": r.fiscal_year,
                 "level": r.level, "worst_seconds": r.worst_seconds,
                 "incidents": r.incidents, "provisional": r.provisional} for r in results]
    return part("KPI (policies/incidents.py)", load)


def _surveys(agent: Agent) -> Any:
    ledger = agent.service(SatisfactionService).ledger
    if ledger is None:
        raise PartMissing(agent.db_error or "the survey ledger is not open")
    return ledger


def satisfaction(agent: Agent) -> Part:
    """The user-satisfaction KPI of the current fiscal year per system and website (a
    subject without a survey shows as such; older years are in the KPI report)."""
    def load() -> list[dict[str, Any]]:
        fy = fiscal_year(time.time())
        latest = _surveys(agent).latest(fy)
        names = subjects(agent.config)
        names += sorted(s for s, _ in latest if s not in names)
        out = []
        for name in names:
            survey = latest.get((name, fy))
            try:
                result = grade_survey(agent.config, survey, name, fy)
            except ValueError as err:  # no configured scale covers this fiscal year
                raise PartMissing(str(err)) from None
            out.append({"system": name, "fiscal_year": fy, "level": result.level,
                        "percent": None if result.percent is None
                        else percent_text(result.percent),
                        "respondents": result.respondents if survey else None,
                        "rule": result.rule})
        return out
    return part("satisfaction (policies/surveys.py)", load)


def kpi_thresholds(agent: Agent) -> list[tuple[int, float]] | None:
    """(level, hours) of the scale in force this fiscal year, best level first; None when no
    configured scale covers this fiscal year (``scale_for``'s ValueError)."""
    try:
        scale = scale_for(fiscal_year(time.time()),
                          scales_from_config(agent.config.policies.kpi))
    except ValueError:
        return None
    return [(level, seconds / 3600) for level, seconds in
            sorted(scale.thresholds.items(), reverse=True)]


def _checklist_result(agent: Agent) -> ChecklistResult:
    service = agent.service(ChecklistService)
    result = service.current()
    if result is None:
        raise PartMissing(f"checklist catalogue: {service.catalogue_error}")
    return result


def checklist_level(agent: Agent) -> int | None:
    """The project-11 ladder step reached (0-5), or None when the checklist is not running."""
    try:
        result = agent.service(ChecklistService).current()
    except PartMissing:
        return None
    return None if result is None else int(result.level)


def checklist(agent: Agent) -> Part:
    def load() -> list[dict[str, Any]]:
        out = []
        for item in _checklist_result(agent).to_json()["controls"]:
            evidence = [s["attestation"] for s in item["subjects"] if s.get("attestation")]
            details = [f"{s['subject']}: {s['detail']}" if s.get("subject") else s["detail"]
                       for s in item["subjects"] if s.get("detail")]
            out.append({"id": item["id"], "title": item["title"], "status": item["status"],
                        "evidence": evidence, "details": details,
                        "next_step": item["next_step"]})
        return out
    return part("security checklist", load)


def assets(agent: Agent) -> Part:
    def load() -> list[dict[str, Any]]:
        service = agent.service(AssetsService)
        config = agent.config.policies.assets
        today = assets_mod.today_bangkok()
        fy = assets_mod.date_fiscal_year(today)
        out = []
        for asset in service.register.assets():
            eol = assets_mod.end_of_life(asset, config)
            out.append({"tag": asset.name, "class": asset.asset_class,
                        "site": asset.get("site"), "model": " ".join(
                            x for x in (asset.get("manufacturer"), asset.get("model")) if x),
                        "serial": asset.serial, "in_service": eol.started,
                        "end_of_life": eol.due,
                        "state": assets_mod.classify(eol.due, fy, today),
                        "conflicts": len(asset.conflicts)})
        return out
    return part("asset register (policies/assets.py)", load)


# --- reports -----------------------------------------------------------------------------------

def status_report(agent: Agent) -> Any:
    """A snapshot of every target the agent polls, in the shared report model."""
    from upkeep.dashboards import i18n
    from upkeep.policies.render import Column, Line, Report, Section, T, Table

    now = time.time()
    rows: list[dict[str, Any]] = []
    for row in data.rows(agent):
        rows.append({"kind": row.kind, "target": row.name,
                     "status": T("ปกติ", "up") if row.ok else T("ขัดข้อง", "down"),
                     "reason": row.reason or "", "summary": str(row.info.get("summary", "")),
                     "last_th": i18n.datetime(row.last_success, "th"),
                     "last_en": i18n.datetime(row.last_success, "en")})
    for item in rows:
        item["last"] = T(item.pop("last_th"), item.pop("last_en"))
    table = Table([Column("kind", "ประเภท", "Kind", 0.6), Column("target", "เป้าหมาย", "Target"),
                   Column("status", "สถานะ", "Status", 0.6), Column("reason", "สาเหตุ", "Reason",
                                                                     0.7),
                   Column("summary", "สรุป", "Summary", 2.2),
                   Column("last", "สำเร็จล่าสุด", "Last success", 1.2)], rows)
    return Report(
        kind="status", title=T("รายงานสถานะปัจจุบัน", "Current status report"),
        meta=[Line(T("ไซต์", "Site"), agent.config.site),
              Line(T("ณ เวลา", "As of"), T(i18n.datetime(now, "th"), i18n.datetime(now, "en")))],
        sections=[Section(T("เป้าหมายที่ตรวจวัด", "Monitored targets"), table)],
        summary=[Line(T("จำนวนเป้าหมาย", "Targets"), len(rows)),
                 Line(T("ขัดข้อง", "Down"), sum(1 for r in data.rows(agent) if not r.ok))],
        signatures=False)


def build_report(agent: Agent, kind: str) -> Any:
    """The ``Report`` of ``kind`` for the current fiscal year, from the running services."""
    now = time.time()
    if kind == "status":
        return status_report(agent)
    if kind == "kpi":
        from upkeep.kit.thai import fiscal_year
        from upkeep.policies import kpi_report

        try:
            surveys = _surveys(agent)
        except PartMissing:  # the recovery KPI still reports without the survey ledger
            surveys = None
        return kpi_report.build_report(agent.config, _ledger(agent), fiscal_year(now), now,
                                       surveys=surveys)
    if kind == "checklist":
        from upkeep.policies import checklist_report

        return checklist_report.build_report(_checklist_result(agent), agent.config)
    if kind == "assets":
        from upkeep.policies import assets_report
        from upkeep.policies.assets import date_fiscal_year, today_bangkok

        today = today_bangkok(now)
        register = agent.service(AssetsService).register
        return assets_report.build_report(register.assets(), agent.config,
                                          date_fiscal_year(today), today, now)
    raise LookupError(f"no {kind} report")


def report_available(agent: Agent, kind: str) -> bool:
    if kind == "status":
        return True
    try:
        agent.service(REPORT_SERVICES[kind])
    except PartMissing:
        return False
    return True


def report_bytes(agent: Agent, kind: str, fmt: str, lang: str) -> bytes:
    """Render a report; ``PartMissing`` (a ``LookupError``) when its part is not running."""
    from upkeep.policies.render import render_bytes

    return bytes(render_bytes(build_report(agent, kind), fmt, lang))
