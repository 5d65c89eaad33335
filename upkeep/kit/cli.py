"""The command line's conventions, shared by every room that adds ``upkeep`` subcommands.

Exit codes: 0 success, 1 something monitored is down or an operation failed, 2 bad config
or usage. As in click, a command that cannot go on raises a ``CommandError`` subclass whose
class carries the ``exit_code``; the wrapper (``with_config``, and the agent's ``main``) prints
``upkeep: <message>`` on stderr and exits with it. The ``EXIT_*`` numbers are those classes'
codes, for the commands that finish normally with a verdict (``probe``: 1 when a target is
down).

Each room's subcommand module has ``add_parser(subparsers)``; the agent lists them explicitly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from upkeep.config import Config, ConfigError, default_config, load_config

__all__ = [
    "EXIT_CONFIG", "EXIT_DOWN", "EXIT_FAIL", "EXIT_OK", "CommandError", "Failed", "TargetDown",
    "UsageError", "add_config_arg", "config_from_args", "print_config_error", "run_command",
    "with_config",
]


class CommandError(Exception):
    """A command cannot do its work: ``upkeep: <message>`` on stderr, exit ``exit_code``."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def show(self) -> None:
        print(f"upkeep: {self.message}", file=sys.stderr)


class TargetDown(CommandError):
    """Something monitored is down (or a check failed): exit 1."""

    exit_code = 1


class Failed(CommandError):
    """An operation failed on good input (a write, a file that cannot be made): exit 1."""

    exit_code = 1


class UsageError(CommandError):
    """Bad config, bad arguments, or data the command cannot use: exit 2."""

    exit_code = 2


EXIT_OK = 0
EXIT_DOWN = TargetDown.exit_code
EXIT_FAIL = Failed.exit_code
EXIT_CONFIG = UsageError.exit_code


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


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command, turning a ``CommandError`` into its message and exit code."""
    try:
        return func(args)
    except CommandError as err:
        err.show()
        return err.exit_code


def with_config(func: Callable[[argparse.Namespace, Config], int]
                ) -> Callable[[argparse.Namespace], int]:
    """Wrap a command: load the config first, exit 2 naming every problem when invalid; a
    ``CommandError`` the command raises becomes its message and exit code."""

    def run(args: argparse.Namespace) -> int:
        try:
            config = config_from_args(args)
        except ConfigError as err:
            print_config_error(err, getattr(args, "config", None) or "<embedded default>")
            return EXIT_CONFIG
        return run_command(lambda a: func(a, config), args)

    return run
