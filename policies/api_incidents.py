"""JSON API for the incident ledger: ``/api/v1/incidents``, ``/api/v1/maintenance``, KPI.

Reads follow the agent's read policy; writes need the API token (``Writer``) and record the
caller ("token" or the basic-auth user) as who did it. Times are Unix seconds or ISO-8601
strings (Asia/Bangkok when no zone is given).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from upkeep.errors import StoreError
from upkeep.kit.auth import Writer, require_reader
from upkeep.kit.thai import (
    DateInputError,
    fiscal_year,
    fiscal_year_bounds,
    parse_fiscal_year,
    parse_typed_datetime,
)
from upkeep.policies.incidents import (
    Incident,
    Ledger,
    LedgerError,
    all_windows,
    grade_year,
    incident_row,
    refuse_future,
)

router = APIRouter(prefix="/api/v1")


def _time(value: Any) -> Any:
    """Unix seconds, or a time as people type it (ISO, day-first, BE or CE year, Bangkok
    unless a zone is given). Whether it may lie in the future is the ledger's call."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        try:
            return parse_typed_datetime(value, allow_future=True)
        except DateInputError as err:
            raise ValueError(str(err)) from None
    raise ValueError("a time is Unix seconds or a string like 2025-03-02 08:10")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: the person acting (the UI asks for a name); recorded beside the credential used
    by: str | None = Field(default=None, min_length=1, max_length=100)


def _actor(who: str, body: _Body) -> str:
    return f"{body.by} (via {who})" if body.by else who


class NewIncident(_Body):
    system: str
    started_at: float
    restored_at: float | None = None
    cause_category: str = "unknown"
    cause_text: str = ""
    fix_text: str = ""

    _times = field_validator("started_at", "restored_at", mode="before")(_time)


class Ack(_Body):
    note: str = ""


class Resolve(_Body):
    restored_at: float | None = None
    cause_category: str | None = None
    cause_text: str | None = None
    fix_text: str | None = None

    _times = field_validator("restored_at", mode="before")(_time)


class Edit(_Body):
    started_at: float | None = None
    restored_at: float | None = None
    cause_category: str | None = None
    cause_text: str | None = None
    fix_text: str | None = None

    _times = field_validator("started_at", "restored_at", mode="before")(_time)


class Note(_Body):
    text: str


class Void(_Body):
    reason: str = Field(min_length=1, max_length=500)


class NewWindow(_Body):
    system: str | None = None
    starts_at: float
    ends_at: float
    reason: str = ""
    approved_by: str = ""

    _times = field_validator("starts_at", "ends_at", mode="before")(_time)


class Correction(_Body):
    note: str


def _ledger(request: Request) -> Ledger:
    agent = request.app.state.agent
    if agent.db is None:
        raise HTTPException(503, f"the agent's database is unavailable: {agent.db_error}")
    try:
        return Ledger(agent.db)
    except StoreError as err:
        raise HTTPException(503, str(err)) from err


def _systems(request: Request) -> list[str]:
    return [s.name for s in request.app.state.agent.config.systems]


def _view(request: Request, ledger: Ledger, incident: Incident, now: float) -> dict[str, Any]:
    kpi = request.app.state.agent.config.policies.kpi
    return incident_row(incident, kpi, now, all_windows(ledger, kpi))


def _fiscal_year(value: int) -> int:
    """A BE fiscal year; a Gregorian one is refused (422) naming the BE year it means."""
    try:
        return parse_fiscal_year(value)
    except DateInputError as err:
        raise HTTPException(422, str(err)) from err


def _fail(err: Exception) -> HTTPException:
    text = str(err)
    return HTTPException(404 if text.startswith("no ") else 400, text)


@router.get("/incidents", dependencies=[Depends(require_reader)])
async def list_incidents(request: Request, system: str | None = None,
                         fiscal_year: int | None = None, status: str | None = None
                         ) -> dict[str, Any]:
    ledger = _ledger(request)
    since = until = None
    if fiscal_year is not None:
        since, until = fiscal_year_bounds(_fiscal_year(fiscal_year))
    now = time.time()
    items = [_view(request, ledger, i, now)
             for i in ledger.incidents(system, since=since, until=until, status=status)]
    return {"incidents": items}


@router.get("/incidents/{incident_id}", dependencies=[Depends(require_reader)])
async def show_incident(request: Request, incident_id: int) -> dict[str, Any]:
    ledger = _ledger(request)
    try:
        incident = ledger.get(incident_id)
    except LedgerError as err:
        raise _fail(err) from err
    timeline = [{"at": e.at, "actor": e.actor, "kind": e.kind, "payload": e.payload}
                for e in ledger.timeline(incident_id)]
    return {**_view(request, ledger, incident, time.time()), "timeline": timeline}


@router.post("/incidents", status_code=201)
async def add_incident(request: Request, body: NewIncident, who: Writer) -> dict[str, Any]:
    if body.system not in _systems(request):
        raise HTTPException(400, f"unknown system {body.system!r}")
    ledger = _ledger(request)
    try:
        refuse_future(time.time(), started_at=body.started_at, restored_at=body.restored_at)
        iid = ledger.add(body.system, body.started_at, restored_at=body.restored_at, actor=_actor(who, body),
                         at=time.time(), cause_category=body.cause_category,
                         cause_text=body.cause_text, fix_text=body.fix_text)
    except LedgerError as err:
        raise _fail(err) from err
    request.app.state.agent.store.changed()
    return {"id": iid}


@router.post("/incidents/{incident_id}/ack")
async def ack_incident(request: Request, incident_id: int, body: Ack, who: Writer
                       ) -> dict[str, Any]:
    try:
        _ledger(request).acknowledge(incident_id, _actor(who, body), time.time(), body.note)
    except LedgerError as err:
        raise _fail(err) from err
    return {"id": incident_id, "acknowledged_by": _actor(who, body)}


@router.post("/incidents/{incident_id}/resolve")
async def resolve_incident(request: Request, incident_id: int, body: Resolve, who: Writer
                           ) -> dict[str, Any]:
    try:
        refuse_future(time.time(), restored_at=body.restored_at)
        _ledger(request).resolve(incident_id, _actor(who, body), time.time(), restored_at=body.restored_at,
                                 cause_category=body.cause_category,
                                 cause_text=body.cause_text, fix_text=body.fix_text)
    except LedgerError as err:
        raise _fail(err) from err
    request.app.state.agent.store.changed()
    return {"id": incident_id, "status": "closed"}


@router.post("/incidents/{incident_id}/edit")
async def edit_incident(request: Request, incident_id: int, body: Edit, who: Writer
                        ) -> dict[str, Any]:
    """A reviewed correction; a confirmed time also settles its data-gap bound."""
    changes: dict[str, Any] = {}
    if body.started_at is not None:
        changes["started_at"] = changes["started_earliest"] = body.started_at
    if body.restored_at is not None:
        changes["restored_at"] = changes["restored_earliest"] = body.restored_at
    for key in ("cause_category", "cause_text", "fix_text"):
        if getattr(body, key) is not None:
            changes[key] = getattr(body, key)
    if not changes:
        raise HTTPException(400, "nothing to change")
    try:
        refuse_future(time.time(), started_at=body.started_at, restored_at=body.restored_at)
        changed = _ledger(request).edit(incident_id, _actor(who, body), time.time(), **changes)
    except LedgerError as err:
        raise _fail(err) from err
    request.app.state.agent.store.changed()
    return {"id": incident_id,
            "changed": {k: {"before": b, "after": a} for k, (b, a) in changed.items()}}


@router.post("/incidents/{incident_id}/void")
async def void_incident(request: Request, incident_id: int, body: Void, who: Writer
                        ) -> dict[str, Any]:
    """Take an incident out of the KPI: kept with who and why, listed in the report's annex."""
    try:
        _ledger(request).void(incident_id, _actor(who, body), time.time(), body.reason)
    except LedgerError as err:
        raise _fail(err) from err
    request.app.state.agent.store.changed()
    return {"id": incident_id, "status": "void"}


@router.post("/incidents/{incident_id}/notes", status_code=201)
async def note_incident(request: Request, incident_id: int, body: Note, who: Writer
                        ) -> dict[str, Any]:
    try:
        _ledger(request).note(incident_id, _actor(who, body), time.time(), body.text)
    except LedgerError as err:
        raise _fail(err) from err
    return {"id": incident_id}


@router.get("/maintenance", dependencies=[Depends(require_reader)])
async def list_windows(request: Request) -> dict[str, Any]:
    return {"windows": [w.to_json() for w in _ledger(request).windows()]}


@router.post("/maintenance", status_code=201)
async def add_window(request: Request, body: NewWindow, who: Writer) -> dict[str, Any]:
    if body.system and body.system not in _systems(request):
        raise HTTPException(400, f"unknown system {body.system!r}")
    try:
        wid = _ledger(request).add_window(body.system, body.starts_at, body.ends_at, actor=_actor(who, body),
                                          at=time.time(), reason=body.reason,
                                          approved_by=body.approved_by)
    except LedgerError as err:
        raise _fail(err) from err
    return {"id": wid}


@router.post("/maintenance/{window_id}/approve")
async def approve_window(request: Request, window_id: int, body: Correction, who: Writer
                         ) -> dict[str, Any]:
    try:
        _ledger(request).approve_correction(window_id, _actor(who, body), time.time(), body.note)
    except LedgerError as err:
        raise _fail(err) from err
    request.app.state.agent.store.changed()
    return {"id": window_id, "correction": True}


@router.get("/kpi", dependencies=[Depends(require_reader)])
async def kpi(request: Request, fiscal_year: int | None = None) -> dict[str, Any]:
    agent = request.app.state.agent
    now = time.time()
    fy = _fiscal_year(fiscal_year) if fiscal_year is not None else _current_fy(now)
    view = grade_year(_ledger(request), agent.config.policies.kpi, fy, now,
                      [s.name for s in agent.config.systems if s.kpi],
                      exclude=[s.name for s in agent.config.systems if not s.kpi])
    return {"fiscal_year": fy,
            "office": {"level": view.office.level, "incidents": view.office.incidents,
                       "worst_seconds": view.office.worst_seconds,
                       "provisional": view.office.provisional},
            "systems": {n: {"level": r.level, "incidents": r.incidents,
                            "worst_seconds": r.worst_seconds,
                            "worst_incident": r.worst_incident, "provisional": r.provisional,
                            "needs_review": r.needs_review}
                        for n, r in view.systems.items()}}


def _current_fy(now: float) -> int:
    return fiscal_year(now)
