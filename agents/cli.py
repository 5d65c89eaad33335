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

#: each subcommand and the module that contributes it, in help order. A command line that
#: names one imports only its module: ``upkeep run`` does not carry the report, import and
#: export code of the other commands (~1 MiB of a host agent's resident memory)
COMMANDS = {
    "run": "upkeep.agents.cmd_run",
    "probe": "upkeep.agents.cmd_probe",
    "sd": "upkeep.agents.cmd_sd",
    "audit": "upkeep.agents.cmd_audit",
    "checklist": "upkeep.policies.cmd_checklist",
    "assets": "upkeep.policies.cmd_assets",
    "report": "upkeep.policies.cmd_report",
    "incidents": "upkeep.policies.cmd_incidents",
    "satisfaction": "upkeep.policies.cmd_satisfaction",
}
COMMAND_MODULES = list(dict.fromkeys(COMMANDS.values()))
CHECK_CONFIG = "check-config"  # built in here: it needs no command module


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


def named_command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names, found without building the parser; None when help or
    the version is asked for first, or nothing known is named (the full parser answers)."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--log-level":
            next(tokens, None)
        elif not token.startswith("--log-level="):
            return token if token in COMMANDS or token == CHECK_CONFIG else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every command, or with ``only`` just that one (``check-config`` is always there)."""
    parser = argparse.ArgumentParser(prog="upkeep", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"upkeep {__version__}")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser(CHECK_CONFIG, help="validate a config file (exit 2 when invalid)")
    check.add_argument("file")
    check.add_argument("--no-bind", dest="bind", action="store_false",
                       help="do not check that the listen address can be bound")
    check.set_defaults(func=_check_config)
    modules = (COMMAND_MODULES if only is None else [COMMANDS[only]] if only in COMMANDS
               else [])
    for name in modules:
        import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(named_command(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_CONFIG
    setup_logging(args.log_level)
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
