"""``GET /api/v1/events`` (read access): the recorded power events, newest first.

``ups=`` (repeatable), ``since=`` and ``until=`` (Unix seconds or ISO 8601), ``limit=``
(1-1000, default 100). The recording itself is ``upkeep.agents.events``; this module is only
its HTTP face, loaded with the rest of the API when the first non-``/metrics`` request comes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from upkeep.agents.events import find_recorder
from upkeep.kit.auth import require_reader

router = APIRouter()


def parse_time(text: str | None, name: str) -> float | None:
    """Unix seconds or ISO 8601 (a naive time is taken as UTC)."""
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise HTTPException(422, f"{name}: not Unix seconds or ISO 8601: {text!r}") from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@router.get("/api/v1/events", dependencies=[Depends(require_reader)])
async def list_events(request: Request, ups: list[str] = Query(default=[]),  # noqa: B008
                      since: str | None = None, until: str | None = None,
                      limit: int = Query(default=100, ge=1, le=1000)) -> Mapping[str, Any]:
    agent = request.app.state.agent
    recorder = find_recorder(agent)
    if recorder is None:
        raise HTTPException(503, f"power events are not recorded: {agent.db_error or 'no database'}")
    events = recorder.events(ups=ups, since=parse_time(since, "since"),
                             until=parse_time(until, "until"), limit=limit)
    return {"events": [e.to_json() for e in events]}
