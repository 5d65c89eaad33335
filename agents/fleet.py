"""Prometheus service discovery from the fleet inventory, and the agent's runtime self-check.

- ``target_groups(inventory, kind)``: the ``file_sd`` / ``http_sd`` JSON (both formats are the
  same list of ``{"targets": [...], "labels": {...}}``). ``kind="agents"``: one group per
  pulled site, the agents' addresses with ``site``/``region``/``office_type`` labels.
  ``kind="probes"``: the multi-target pattern, one group per (site, module); the probed
  thing is the target and ``__meta_upkeep_agent`` names the agent that probes it (the scrape
  config relabels it into ``__address__``).
- ``GET /api/v1/sd?kind=agents|probes`` (http_sd, needs read access) serves the central
  agent's inventory (``inventory: FILE``), re-read when the file changes. On a broken file it
  answers 503 and Prometheus keeps the last good list, which is http_sd's documented
  behaviour. ``POST /api/v1/sd/reload`` (write access) re-reads it now.
- ``GET /api/v1/debug/runtime`` (read access): RSS, open fds, threads and asyncio tasks, for
  the soak benchmark and for "is it leaking?" questions in the field.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from upkeep.config.fleet import Inventory, load_inventory
from upkeep.kit.auth import Writer, require_reader

log = logging.getLogger(__name__)

Kind = Literal["agents", "probes"]
#: http_sd clients honour this header for their refresh interval (prometheus.io http_sd)
REFRESH_SECONDS = 60


def target_groups(inventory: Inventory, kind: Kind = "agents", *,
                  include_push: bool = False) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for entry in inventory.sites:
        labels = inventory.site_labels(entry)
        if kind == "agents":
            if entry.push and not include_push:
                continue
            groups.append({"targets": [inventory.address(a) for a in entry.agents],
                           "labels": labels})
            continue
        if not entry.probes:
            continue
        agent = inventory.address(entry.agents[0])
        modules: dict[str, list[str]] = {}
        for probe in entry.probes:
            modules.setdefault(probe.module, []).append(probe.target)
        for module, targets in modules.items():
            groups.append({"targets": targets,
                           "labels": {**labels, "__param_module": module,
                                      "__meta_upkeep_agent": agent}})
    return groups


def render(groups: list[dict[str, Any]]) -> str:
    return json.dumps(groups, indent=2, ensure_ascii=False) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Temp file + rename: Prometheus watches file_sd files with inotify and must never see
    half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class InventoryFile:
    """An inventory file, re-read when its mtime changes; the last good one is kept."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self.inventory: Inventory | None = None
        self.error: str | None = None

    def get(self, *, force: bool = False) -> Inventory:
        with self._lock:
            try:
                mtime = os.stat(self.path).st_mtime
            except OSError as err:
                self.error = f"cannot read {self.path}: {err.strerror}"
                mtime = None
            if mtime is not None and (force or mtime != self._mtime):
                self._mtime = mtime
                try:
                    self.inventory, self.error = load_inventory(self.path), None
                except ValueError as err:
                    self.error = str(err)
                    log.error("inventory %s is invalid: %s", self.path, err)
            if self.error is not None:
                raise ValueError(self.error)
            assert self.inventory is not None
            return self.inventory


router = APIRouter()


def _inventory(request: Request) -> InventoryFile:
    path: str | None = getattr(request.app.state.agent.config, "inventory", None)
    if not path:
        raise HTTPException(404, "this agent has no fleet inventory (config key: inventory)")
    current: InventoryFile | None = getattr(request.app.state, "fleet_inventory", None)
    if current is None or current.path != path:
        current = InventoryFile(path)
        request.app.state.fleet_inventory = current
    return current


@router.get("/api/v1/sd", dependencies=[Depends(require_reader)])
def http_sd(request: Request, kind: Kind = "agents", include_push: bool = False
            ) -> JSONResponse:
    source = _inventory(request)
    try:
        inventory = source.get()
    except ValueError as err:
        raise HTTPException(503, str(err)) from None
    return JSONResponse(target_groups(inventory, kind, include_push=include_push),
                        headers={"X-Prometheus-Refresh-Interval-Seconds": str(REFRESH_SECONDS)})


@router.post("/api/v1/sd/reload")
def reload_inventory(request: Request, who: Writer) -> dict[str, Any]:
    source = _inventory(request)
    try:
        inventory = source.get(force=True)
    except ValueError as err:
        raise HTTPException(422, str(err)) from None
    log.info("inventory %s re-read on request of %s", source.path, who)
    return {"sites": len(inventory.sites),
            "agents": sum(len(s.agents) for s in inventory.sites)}


def process_stats(pid: int | None = None) -> dict[str, Any]:
    """RSS, high-water mark, threads and open fds from /proc (Linux) or psutil."""
    pid = pid or os.getpid()
    out: dict[str, Any] = {"pid": pid}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[f"{key.lower()}_bytes"] = int(value.split()[0]) * 1024
                elif key == "Threads":
                    out["threads"] = int(value)
        out["open_fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        import psutil

        proc = psutil.Process(pid)
        out["vmrss_bytes"] = proc.memory_info().rss
        out["threads"] = proc.num_threads()
        out["open_fds"] = proc.num_fds() if hasattr(proc, "num_fds") else None
    return out


@router.get("/api/v1/debug/runtime", dependencies=[Depends(require_reader)])
async def runtime(request: Request) -> dict[str, Any]:
    stats = process_stats()
    stats["asyncio_tasks"] = len(asyncio.all_tasks())
    stats["targets"] = len(list(request.app.state.agent.store.states()))
    return stats
