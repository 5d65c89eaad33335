"""JSON API of the checklist and the asset register (``/api/v1/checklist``, ``/api/v1/assets``).

Reads follow the agent's read policy; attesting and importing need the write token (or a
basic-auth user). Evidence over the API is a URL or a base64 file, stored exactly as
``upkeep checklist attest`` stores it (copied under its SHA-256).
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from upkeep.errors import StoreError
from upkeep.kit.auth import Writer, require_reader
from upkeep.parts import HasServices, PartMissing
from upkeep.policies.assets import classify, date_fiscal_year, end_of_life, today_bangkok
from upkeep.policies.assets_import import AssetFileError, parse_date
from upkeep.policies.assets_service import AssetsService
from upkeep.policies.attestations import AttestationError
from upkeep.policies.checklist import check_attestable
from upkeep.policies.checklist_service import ChecklistService

S = TypeVar("S")

router = APIRouter(prefix="/api/v1")


def _service(request: Request, kind: type[S]) -> S:
    agent: HasServices = request.app.state.agent
    try:
        return agent.service(kind)
    except PartMissing as err:
        raise HTTPException(503, str(err)) from None


@router.get("/checklist", dependencies=[Depends(require_reader)])
def checklist(request: Request) -> dict[str, Any]:
    service: ChecklistService = _service(request, ChecklistService)
    result = service.current()
    if result is None:
        raise HTTPException(503, f"checklist catalogue: {service.catalogue_error}")
    return {"site": request.app.state.agent.config.site, **result.to_json()}


@router.get("/checklist/attestations", dependencies=[Depends(require_reader)])
def attestations(request: Request, control: str | None = None) -> dict[str, Any]:
    service: ChecklistService = _service(request, ChecklistService)
    if service.ledger is None:
        raise HTTPException(503, "the agent's database is not available")
    return {"attestations": [a.to_json() for a in service.ledger.history(control)]}


@router.get("/checklist/history", dependencies=[Depends(require_reader)])
def assessment_history(request: Request, control: str | None = None,
                       limit: int = Query(1000, ge=1, le=100_000)) -> dict[str, Any]:
    """Every change of a control's status per subject (oldest first)."""
    service: ChecklistService = _service(request, ChecklistService)
    if service.assessments is None:
        raise HTTPException(503, "the agent's database is not available")
    return {"assessments": [a.to_json() for a in service.assessments.history(control, limit)]}


class AttestBody(BaseModel):
    control: str
    by: str = Field(min_length=1)
    valid_until: str | None = None
    evidence_url: str | None = None
    evidence_name: str | None = None
    evidence_base64: str | None = None
    note: str = ""
    subject: str = ""
    status: str = "pass"


@router.post("/checklist/attest", status_code=201)
def attest(request: Request, body: AttestBody, who: Writer) -> dict[str, Any]:
    service: ChecklistService = _service(request, ChecklistService)
    if service.ledger is None or service.catalogue is None:
        raise HTTPException(503, "the checklist is not available")
    control = service.catalogue.get(body.control)
    if control is None:
        raise HTTPException(404, f"no control {body.control} in the catalogue")
    try:
        check_attestable(control)
    except AttestationError as err:
        raise HTTPException(422, str(err)) from None
    try:
        until = (parse_date(body.valid_until) if body.valid_until
                 else today_bangkok() + timedelta(days=control.review_days))
    except ValueError as err:
        raise HTTPException(422, f"valid_until: {err}") from None
    if until < today_bangkok():
        raise HTTPException(422, f"valid_until {until} is already past")
    config = request.app.state.agent.config
    subjects = {"", config.site, *(w.name for w in config.websites)}
    if body.subject not in subjects:
        raise HTTPException(422, f"subject {body.subject!r} is neither a website nor the site")
    if (body.evidence_url is None) == (body.evidence_base64 is None):
        raise HTTPException(422, "give exactly one of evidence_url or evidence_base64")
    note = body.note + ("" if who in ("token", body.by) else f" (recorded by {who})")
    try:
        if body.evidence_url is not None:
            item = service.ledger.attest(control.id, by=body.by, valid_until=until,
                                         evidence=body.evidence_url, note=note.strip(),
                                         subject=body.subject, status=body.status)
        else:
            item = _attest_file(service, control.id, body, until, note.strip())
    except AttestationError as err:
        raise HTTPException(422, str(err)) from None
    except StoreError as err:
        raise HTTPException(503, str(err)) from None
    service.invalidate()
    return item.to_json()


def _attest_file(service: ChecklistService, control: str, body: AttestBody, until: date,
                 note: str) -> Any:
    assert service.ledger is not None and body.evidence_base64 is not None
    try:
        content = base64.b64decode(body.evidence_base64, validate=True)
    except (binascii.Error, ValueError):
        raise AttestationError("evidence_base64 is not valid base64") from None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "evidence"
        path.write_bytes(content)
        return service.ledger.attest(control, by=body.by, valid_until=until,
                                     evidence=str(path), note=note, subject=body.subject,
                                     status=body.status,
                                     evidence_name=body.evidence_name or "evidence")


@router.get("/assets", dependencies=[Depends(require_reader)])
def assets(request: Request,
           fiscal_year: int | None = Query(None, ge=2500, le=2700)) -> dict[str, Any]:
    service: AssetsService = _service(request, AssetsService)
    config = request.app.state.agent.config.policies.assets
    today = today_bangkok()
    fy = fiscal_year or date_fiscal_year(today)
    out = []
    for asset in service.register.assets():
        eol = end_of_life(asset, config)
        item = asset.to_json()
        item["end_of_life"] = {"due": eol.due.isoformat() if eol.due else None,
                               "reason": eol.reason, "life_years": eol.life_years,
                               "fiscal_year": date_fiscal_year(eol.due) if eol.due else None,
                               "state": classify(eol.due, fy, today)}
        out.append(item)
    return {"site": request.app.state.agent.config.site, "fiscal_year": fy, "assets": out}


@router.post("/assets/import")
async def import_assets(request: Request, who: Writer,
                        filename: str = Query(..., pattern=r"(?i)^[^/\\]+\.(csv|xlsx)$")
                        ) -> dict[str, Any]:
    service: AssetsService = _service(request, AssetsService)
    content = await request.body()
    if len(content) > 20 * 1024 * 1024:
        raise HTTPException(413, "an asset list larger than 20 MB is refused")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        path.write_bytes(content)
        try:
            result = service.register.import_file(path)
        except AssetFileError as err:
            raise HTTPException(422, str(err)) from None
        except StoreError as err:
            raise HTTPException(503, str(err)) from None
    service.invalidate()
    return result.to_json()
