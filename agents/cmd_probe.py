"""``upkeep probe``: poll every configured target once and print what was seen."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from upkeep.agents.runtime import poll_target
from upkeep.collectors.base import build_collectors
from upkeep.config import Config
from upkeep.kit.cli import EXIT_DOWN, EXIT_OK, add_config_arg, with_config
from upkeep.reading import Reading


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("probe", help="poll every target once now and print a table "
                                          "(exit 1 when any is down)")
    add_config_arg(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=with_config(probe))


async def _poll_all(config: Config, progress: bool) -> list[Reading]:
    collectors = build_collectors(config)
    jobs = [(c, t) for c in collectors for t in c.targets()]
    done = 0
    results: list[Reading] = []

    async def one(collector: object, target: object) -> None:
        nonlocal done
        results.extend(await poll_target(collector, target))  # type: ignore[arg-type]
        done += 1
        if progress:
            print(f"\rpolling {done}/{len(jobs)} targets ...", end="", file=sys.stderr, flush=True)

    try:
        if progress:
            print(f"polling {len(jobs)} targets ...", end="", file=sys.stderr, flush=True)
        await asyncio.gather(*(one(c, t) for c, t in jobs))
    finally:
        if progress:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
        for collector in collectors:
            await collector.aclose()
    return sorted(results, key=lambda r: r.key)


def format_table(readings: Sequence[Reading]) -> str:
    rows = [("KIND", "TARGET", "STATE", "DETAILS")]
    for r in readings:
        state = "up" if r.ok else f"DOWN ({r.reason})"
        details = str(r.info.get("summary", "")) if r.ok else (r.message or r.reason)
        rows.append((r.kind, r.target, state, details))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row))
             for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def probe(args: argparse.Namespace, config: Config) -> int:
    readings = asyncio.run(_poll_all(config, progress=sys.stderr.isatty() and not args.json))
    if args.json:
        print(json.dumps([r.to_json() for r in readings], indent=2, ensure_ascii=False))
    else:
        print(format_table(readings))
    return EXIT_OK if all(r.ok for r in readings) else EXIT_DOWN
