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
    from upkeep.agents.runtime import Agent

FORMATS = ("pdf", "xlsx", "csv", "json")
#: report kind -> label key; "status" is the UI's own snapshot of what the agent sees now
REPORT_KINDS = {"status": "report.status", "kpi": "nav.incidents",
                "checklist": "nav.checklist", "assets": "nav.assets"}


def _db(agent: Agent) -> Any:
    if agent.db is None:
        raise LookupError(agent.db_error or "the agent's database is closed")
    return agent.db


def events(agent: Agent) -> Part:
    def load(mod: Any) -> list[dict[str, Any]]:
        items = mod.list_events(_db(agent), limit=50)
        return [e if isinstance(e, dict) else e.to_json() for e in items]
    return optional("agents.events", "power events (agents/events.py)", load)


def incidents(agent: Agent) -> Part:
    def load(mod: Any) -> list[dict[str, Any]]:
        items = mod.list_incidents(_db(agent))
        return [i if isinstance(i, dict) else i.to_json() for i in items]
    return optional("policies.incidents", "incidents (policies/incidents.py)", load)


def systems(agent: Agent) -> Part:
    def load(mod: Any) -> list[dict[str, Any]]:
        return [s if isinstance(s, dict) else s.to_json() for s in mod.system_states(agent)]
    return optional("policies.incidents", "systems (policies/incidents.py)", load)


def kpi(agent: Agent) -> Part:
    def load(mod: Any) -> list[dict[str, Any]]:
        return [k if isinstance(k, dict) else k.to_json()
                for k in mod.current_levels(agent, time.time())]
    return optional("policies.kpi", "KPI (policies/kpi.py)", load)


def kpi_thresholds(agent: Agent) -> list[tuple[int, float]] | None:
    return None


def checklist(agent: Agent) -> Part:
    def load(mod: Any) -> list[dict[str, Any]]:
        return [c if isinstance(c, dict) else c.to_json() for c in mod.evaluate_agent(agent)]
    return optional("policies.checklist", "security checklist (policies/checklist.py)", load)


def assets(agent: Agent) -> Part:
    def load(mod: Any) -> list[dict[str, Any]]:
        return [a if isinstance(a, dict) else a.to_json() for a in mod.list_assets(_db(agent))]
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


def report_bytes(agent: Agent, kind: str, fmt: str, lang: str) -> bytes:
    """Render a report; ``LookupError`` when its part is not in this build."""
    from upkeep.policies.render import render_bytes

    if kind == "status":
        return render_bytes(status_report(agent), fmt, lang)
    built = optional(f"policies.{kind}", f"{kind} report",
                     lambda mod: mod.build_report_for_agent(agent))
    if not built.available:
        raise LookupError(built.missing)
    return render_bytes(built.data, fmt, lang)
