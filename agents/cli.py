"""The ``upkeep`` command line.

Exit codes: 0 success, 1 something monitored is down (``probe``), 2 bad config or usage
(the conventions, shared by every room's commands, are in ``upkeep.kit.cli``). Each subcommand
lives in a module with ``add_parser(subparsers)``; the list is explicit.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import import_module

from upkeep import __version__
from upkeep.config import ConfigError, load_config
from upkeep.kit.cli import EXIT_CONFIG, EXIT_OK, print_config_error, run_command

#: modules contributing subcommands, in help order
COMMAND_MODULES = [
    "upkeep.agents.cmd_run",
    "upkeep.agents.cmd_probe",
    "upkeep.agents.cmd_sd",
    "upkeep.agents.cmd_audit",
    "upkeep.policies.cmd_checklist",
    "upkeep.policies.cmd_assets",
    "upkeep.policies.cmd_report",
    "upkeep.policies.cmd_incidents",
    "upkeep.policies.cmd_satisfaction",
]


def setup_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # a chatty library: fontTools logs every PDF font-subsetting step
    logging.getLogger("fontTools").setLevel(logging.WARNING)


def _check_config(args: argparse.Namespace) -> int:
    from upkeep.agents.config_security import warn_if_exposed
    from upkeep.config import check_listen

    try:
        config = load_config(args.file)
        if args.bind:
            check_listen(config)
    except ConfigError as err:
        print_config_error(err, args.file)
        return EXIT_CONFIG
    warn_if_exposed(args.file, config)
    print(f"{args.file}: OK (site {config.site}, listen {config.listen})")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="upkeep", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"upkeep {__version__}")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser("check-config", help="validate a config file (exit 2 when invalid)")
    check.add_argument("file")
    check.add_argument("--no-bind", dest="bind", action="store_false",
                       help="do not check that the listen address can be bound")
    check.set_defaults(func=_check_config)
    for name in COMMAND_MODULES:
        import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_CONFIG
    setup_logging(args.log_level)
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
