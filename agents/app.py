"""The agent's API and UI: ``/healthz``, ``/api/v1/...``, ``/probe``, the pages.

``/metrics`` is answered before this application, by ``upkeep.agents.front.AgentFront``,
which builds this one on the first request for anything else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request

from upkeep import __version__
from upkeep.agents import api_events, api_probe, fleet
from upkeep.agents.limits import BodyLimit
from upkeep.agents.runtime import Agent
from upkeep.dashboards import web
from upkeep.kit.auth import require_reader
from upkeep.policies import api_history, api_incidents, api_policies

log = logging.getLogger(__name__)
core = APIRouter()


@core.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    agent: Agent = request.app.state.agent
    return {"status": "ok", "version": __version__, "site": agent.config.site,
            "uptime_seconds": round(time.time() - agent.started_at, 3),
            "database": "ok" if agent.db is not None else (agent.db_error or "closed")}


@core.get("/api/v1/targets", dependencies=[Depends(require_reader)])
async def targets(request: Request) -> dict[str, Any]:
    agent: Agent = request.app.state.agent
    now = time.time()
    out = []
    for state in sorted(agent.store.states(), key=lambda s: s.latest.key):
        item = state.latest.to_json()
        item["up"] = state.latest.ok
        item["last_success"] = state.last_success
        item["age_seconds"] = round(now - state.latest.time, 3)
        item["consecutive_failures"] = state.failures
        out.append(item)
    return {"site": agent.config.site, "targets": out}


def extra_routers() -> list[APIRouter]:
    """The routers of the agent's own parts and of the rooms below it (an explicit list, no
    scanning); they see the agent as ``upkeep.kit.agent.AgentView``."""
    return [
        fleet.router,  # /api/v1/sd, /api/v1/debug/runtime
        api_events.router,  # /api/v1/events
        api_history.router,  # /api/v1/history
        api_incidents.router,  # /api/v1/incidents, /api/v1/kpi, /api/v1/maintenance
        api_probe.router,  # /probe (websites, the multi-target pattern)
        api_policies.router,  # /api/v1/checklist, /api/v1/assets
        web.router,  # the UI at /
    ]


def create_app(agent: Agent, *, manage_lifecycle: bool = True,
               on_started: Callable[[], None] | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await agent.start()
        if on_started is not None:
            on_started()
        try:
            yield
        finally:
            if manage_lifecycle:
                await agent.stop()
                log.info("upkeep stopped")

    app = FastAPI(title="upkeep", version=__version__, lifespan=lifespan,
                  docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    app.state.agent = agent
    app.add_middleware(BodyLimit)  # 413 for oversized bodies, 422 for malformed JSON
    app.include_router(core)
    for router in extra_routers():
        app.include_router(router)
    return app
