"""``upkeep sd``: Prometheus service discovery (file_sd JSON) from the fleet inventory.

    upkeep sd --inventory fleet.yml -o /etc/prometheus/file_sd/upkeep.json
    upkeep sd --inventory fleet.yml --kind probes -o /etc/prometheus/file_sd/upkeep-probes.json
    upkeep sd --inventory fleet.yml --check

The output file is replaced atomically, so a Prometheus watching it never reads half a file.
Exit 0 on success, 2 when the inventory is invalid (every problem is named).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from upkeep.config.fleet import load_inventory
from upkeep.kit.cli import EXIT_CONFIG, EXIT_OK


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sd", help="write Prometheus file_sd JSON from the fleet inventory")
    parser.add_argument("--inventory", "-i", required=True, metavar="FILE",
                        help="fleet inventory YAML (sites, agents, labels)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="file_sd JSON to write (atomically); default: stdout")
    parser.add_argument("--kind", choices=["agents", "probes"], default="agents",
                        help="agents: scrape each agent's /metrics; probes: the /probe "
                             "multi-target list (default: agents)")
    parser.add_argument("--include-push", action="store_true",
                        help="also list sites marked push: true (behind NAT)")
    parser.add_argument("--check", action="store_true",
                        help="only validate the inventory")
    parser.set_defaults(func=sd)


def sd(args: argparse.Namespace) -> int:
    from upkeep.agents.fleet import (  # FastAPI: not at import
        render,
        target_groups,
        write_atomically,
    )

    try:
        inventory = load_inventory(args.inventory)
    except ValueError as err:
        print(f"upkeep sd: invalid inventory: {err}", file=sys.stderr)
        return EXIT_CONFIG
    groups = target_groups(inventory, args.kind, include_push=args.include_push)
    targets = sum(len(g["targets"]) for g in groups)
    if args.check:
        print(f"{args.inventory}: OK ({len(inventory.sites)} sites, {targets} {args.kind} "
              "targets)")
        return EXIT_OK
    text = render(groups)
    if args.output:
        try:
            write_atomically(Path(args.output), text)
        except OSError as err:
            print(f"upkeep sd: cannot write {args.output}: {err.strerror}", file=sys.stderr)
            return EXIT_CONFIG
        print(f"wrote {args.output}: {len(groups)} groups, {targets} targets", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK
