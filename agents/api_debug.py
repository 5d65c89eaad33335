"""``GET /api/v1/debug/runtime``: the agent's own resource counts, read-only.

Asyncio tasks, threads and open file descriptors, so a test (or an operator chasing a leak)
can see growth without attaching a debugger. Needs what ``/metrics`` needs.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from fastapi import APIRouter, Depends
from upkeep.agents.auth import require_reader

router = APIRouter(prefix="/api/v1/debug", dependencies=[Depends(require_reader)])


def _fd_count() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


@router.get("/runtime")
async def runtime() -> dict[str, Any]:
    tasks = asyncio.all_tasks()
    names: dict[str, int] = {}
    for task in tasks:
        coro = task.get_coro()
        key = getattr(coro, "__qualname__", type(coro).__name__)
        names[key] = names.get(key, 0) + 1
    return {"tasks": len(tasks), "threads": threading.active_count(), "fds": _fd_count(),
            "task_kinds": dict(sorted(names.items(), key=lambda kv: -kv[1])[:20])}
