"""``GET /api/v1/history`` (read access): one series of a target over 24h, 7d or 90d.

The sampling and storage are ``upkeep.policies.history``; this module is only its HTTP face.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from upkeep.kit.agent import AgentView
from upkeep.kit.auth import require_reader
from upkeep.parts import PartMissing
from upkeep.policies.history import HistoryService

router = APIRouter()


@router.get("/api/v1/history", dependencies=[Depends(require_reader)])
async def history(request: Request, kind: str, target: str, series: str,
                  range: str = Query(default="24h", pattern="^(24h|7d|90d)$")  # noqa: A002
                  ) -> Mapping[str, Any]:
    agent: AgentView = request.app.state.agent
    try:
        service = agent.service(HistoryService)
    except PartMissing as err:
        raise HTTPException(503, f"no history is kept: {err}") from None
    window = service.points(kind, target, series, range)
    return {"kind": kind, "target": target, "series": series, "range": range,
            "start": window.start, "end": window.end, "step": window.step,
            "points": [[t, v] for t, v in window.points]}
