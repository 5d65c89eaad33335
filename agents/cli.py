"""The ``upkeep`` command line.

Exit codes: 0 success, 1 something monitored is down (``probe``), 2 bad config or usage.
Each subcommand lives in a module with ``add_parser(subparsers)``; the list is explicit.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from upkeep import __version__
from upkeep.config import Config, ConfigError, default_config, load_config

#: modules contributing subcommands, in help order
COMMAND_MODULES = [
    "upkeep.agents.cmd_run",
    "upkeep.agents.cmd_probe",
    "upkeep.agents.cmd_sd",
    "upkeep.policies.cmd_checklist",
    "upkeep.policies.cmd_assets",
    "upkeep.policies.cmd_report",
    "upkeep.policies.cmd_incidents",
]

EXIT_OK, EXIT_DOWN, EXIT_CONFIG = 0, 1, 2


def setup_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # chatty libraries: APScheduler logs every run, fontTools every PDF font-subsetting step
    for name in ("apscheduler", "fontTools"):
        logging.getLogger(name).setLevel(logging.WARNING)


def print_config_error(err: ConfigError, source: str) -> None:
    print(f"upkeep: invalid configuration in {source}:", file=sys.stderr)
    for location, message in err.problems:
        print(f"  {location}: {message}" if location else f"  {message}", file=sys.stderr)


def config_from_args(args: argparse.Namespace) -> Config:
    """Load ``-c FILE`` or the embedded default; raises ConfigError."""
    path = getattr(args, "config", None)
    return load_config(path) if path else default_config()


def add_config_arg(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument("-c", "--config", metavar="FILE", required=required,
                        help="YAML config file (default: the embedded default config)")


def with_config(func: Callable[[argparse.Namespace, Config], int]
                ) -> Callable[[argparse.Namespace], int]:
    """Wrap a command: load the config first, exit 2 naming every problem when invalid."""

    def run(args: argparse.Namespace) -> int:
        try:
            config = config_from_args(args)
        except ConfigError as err:
            print_config_error(err, getattr(args, "config", None) or "<embedded default>")
            return EXIT_CONFIG
        return func(args, config)

    return run


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
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
