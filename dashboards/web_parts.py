"""Adapters from other rooms' parts (events, incidents, KPI, checklist, assets, reports) to the
plain dicts the pages render.

Each adapter imports its part lazily through ``web_data.optional``: a part not in this build
shows as "not available" on its page, the rest of the UI keeps working.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from upkeep.dashboards import web_data as data
from upkeep.dashboards.web_data import Part, optional

if TYPE_CHECKING:
    from upkeep.kit.agent import AgentView as Agent

FORMATS = ("pdf", "xlsx", "csv", "json")
#: report kind -> label key; "status" is the UI's own snapshot of what the agent sees now
REPORT_KINDS = {"status": "report.status", "kpi": "nav.incidents",
                "checklist": "nav.checklist", "assets": "nav.assets"}


def _service(agent: Agent, name: str) -> Any:
    for service in agent.services:
        if getattr(service, "name", None) == name:
            return service
    raise LookupError(agent.db_error or f"the {name} service is not running")


def events(agent: Agent) -> Part:
    def load(mod: Any) -> list[dict[str, Any]]:
        recorder = mod.find_recorder(agent)
        if recorder is None:
            raise LookupError(agent.db_error or "power events are not recorded")
        return [e.to_json() for e in recorder.events(limit=50)]
    return optional("agents.events", "power events (agents/events.py)", load)


def _kpi_year(agent: Agent, mod: Any) -> Any:
    """The current fiscal year graded (incidents with their levels, per-system results)."""
    from upkeep.kit.thai import fiscal_year

    service = _service(agent, "kpi")
    if service.ledger is None:
        raise LookupError(agent.db_error or "the incident ledger is not open")
    now = time.time()
    names = [s.name for s in agent.config.systems]
    return mod.grade_year(service.ledger, agent.config.policies.kpi, fiscal_year(now), now,
                          names)


def incidents(agent: Agent) -> Part:
    def load(mod: Any) -> list[dict[str, Any]]:
        view = _kpi_year(agent, mod)
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
    return optional("policies.incidents", "incidents (policies/incidents.py)", load)


def systems(agent: Agent) -> Part:
    def load(mod: Any) -> list[dict[str, Any]]:
        return [{"name": name, "up": up} for name, up in _service(agent, "kpi").up.items()]
    return optional("policies.kpi_service", "systems (policies/kpi_service.py)", load)


def kpi(agent: Agent) -> Part:
    def load(mod: Any) -> list[dict[str, Any]]:
        view = _kpi_year(agent, mod)
        results = [*view.systems.values(), view.office]
        return [{"system": r.system or "_office", "fiscal_year": r.fiscal_year,
                 "level": r.level, "worst_seconds": r.worst_seconds,
                 "incidents": r.incidents, "provisional": r.provisional} for r in results]
    return optional("policies.incidents", "KPI (policies/incidents.py)", load)


def kpi_thresholds(agent: Agent) -> list[tuple[int, float]] | None:
    """(level, hours) of the scale in force this fiscal year, best level first."""
    try:
        from upkeep.kit.thai import fiscal_year
        from upkeep.policies.kpi import scale_for, scales_from_config

        scale = scale_for(fiscal_year(time.time()),
                          scales_from_config(agent.config.policies.kpi))
    except (ImportError, AttributeError, LookupError, ValueError):
        return None
    return [(level, seconds / 3600) for level, seconds in
            sorted(scale.thresholds.items(), reverse=True)]


def checklist_level(agent: Agent) -> int | None:
    """The project-11 ladder step reached (0-5), or None when the checklist is not running."""
    try:
        result = _service(agent, "checklist").current()
    except LookupError:
        return None
    return None if result is None else int(result.level)


def checklist(agent: Agent) -> Part:
    def load(mod: Any) -> list[dict[str, Any]]:
        service = _service(agent, "checklist")
        result = service.current()
        if result is None:
            raise LookupError(f"checklist catalogue: {service.catalogue_error}")
        out = []
        for item in result.to_json()["controls"]:
            evidence = [s["attestation"] for s in item["subjects"] if s.get("attestation")]
            details = [f"{s['subject']}: {s['detail']}" if s.get("subject") else s["detail"]
                       for s in item["subjects"] if s.get("detail")]
            out.append({"id": item["id"], "title": item["title"], "status": item["status"],
                        "evidence": evidence, "details": details,
                        "next_step": item["next_step"]})
        return out
    return optional("policies.checklist_service", "security checklist", load)


def assets(agent: Agent) -> Part:
    def load(mod: Any) -> list[dict[str, Any]]:
        service = _service(agent, "assets")
        config = agent.config.policies.assets
        today = mod.today_bangkok()
        fy = mod.date_fiscal_year(today)
        out = []
        for asset in service.register.assets():
            eol = mod.end_of_life(asset, config)
            out.append({"tag": asset.name, "class": asset.asset_class,
                        "site": asset.get("site"), "model": " ".join(
                            x for x in (asset.get("manufacturer"), asset.get("model")) if x),
                        "serial": asset.serial, "in_service": eol.started,
                        "end_of_life": eol.due, "state": mod.classify(eol.due, fy, today),
                        "conflicts": len(asset.conflicts)})
        return out
    return optional("policies.assets", "asset register (policies/assets.py)", load)


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

        ledger = _service(agent, "kpi").ledger
        if ledger is None:
            raise LookupError(agent.db_error or "the incident ledger is not open")
        return kpi_report.build_report(agent.config, ledger, fiscal_year(now), now)
    if kind == "checklist":
        from upkeep.policies import checklist_report

        service = _service(agent, "checklist")
        result = service.current()
        if result is None:
            raise LookupError(f"checklist catalogue: {service.catalogue_error}")
        return checklist_report.build_report(result, agent.config)
    if kind == "assets":
        from upkeep.policies import assets_report
        from upkeep.policies.assets import date_fiscal_year, today_bangkok

        today = today_bangkok(now)
        register = _service(agent, "assets").register
        return assets_report.build_report(register.assets(), agent.config,
                                          date_fiscal_year(today), today, now)
    raise LookupError(f"no {kind} report")


def report_available(agent: Agent, kind: str) -> bool:
    if kind == "status":
        return True
    try:
        _service(agent, {"kpi": "kpi", "checklist": "checklist", "assets": "assets"}[kind])
    except LookupError:
        return False
    return True


def report_bytes(agent: Agent, kind: str, fmt: str, lang: str) -> bytes:
    """Render a report; ``LookupError`` when its part is not running in this agent."""
    from upkeep.policies.render import render_bytes

    try:
        report = build_report(agent, kind)
    except ImportError as err:
        raise LookupError(f"{kind} report ({err})") from None
    return bytes(render_bytes(report, fmt, lang))
