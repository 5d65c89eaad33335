"""The CLI conventions: a command's error is ``upkeep: <message>`` on stderr and its exit code
(1 failed or down, 2 bad config or usage), whichever room the command lives in."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from upkeep.agents.cli import main
from upkeep.config import Config
from upkeep.kit.cli import (
    EXIT_CONFIG,
    EXIT_DOWN,
    EXIT_FAIL,
    CommandError,
    Failed,
    TargetDown,
    UsageError,
    with_config,
)


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "upkeep.yml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "systems": [
        {"name": "jfs", "checks": ["web:jfs"]}]}), encoding="utf-8")
    return str(path)


def test_exit_codes_are_carried_by_the_error_classes() -> None:
    assert (EXIT_DOWN, EXIT_FAIL, EXIT_CONFIG) == (1, 1, 2)
    assert TargetDown.exit_code == Failed.exit_code == CommandError.exit_code == 1
    assert UsageError.exit_code == 2


@pytest.mark.parametrize(("error", "code"), [(UsageError("bad --x"), 2), (Failed("bad --x"), 1),
                                            (TargetDown("bad --x"), 1)])
def test_with_config_turns_a_raised_error_into_message_and_code(
        capsys: pytest.CaptureFixture[str], config: str, error: CommandError, code: int) -> None:
    def command(args: argparse.Namespace, cfg: Config) -> int:
        raise error

    assert with_config(command)(argparse.Namespace(config=config)) == code
    out, err = capsys.readouterr()
    assert (out, err) == ("", "upkeep: bad --x\n")


@pytest.mark.parametrize(("args", "code", "message"), [
    (["report", "kpi", "--system", "nope", "-o", "x.pdf"], 2, "upkeep: unknown system 'nope'\n"),
    (["report", "kpi", "-o", "x.bin"], 2,
     "upkeep: cannot tell the format from 'x.bin': give --format\n"),
    (["checklist", "attest", "NO-SUCH", "--evidence", "ev.pdf", "--by", "me"],
     2, "upkeep: no control 'NO-SUCH' in the catalogue (known: "),
    (["incidents", "edit", "99"], 2, "upkeep: nothing to change\n"),
    (["incidents", "note", "99", "hello"], 1, "upkeep: no incident 99"),
])
def test_policies_commands_keep_their_messages_and_codes(
        capsys: pytest.CaptureFixture[str], config: str, args: list[str], code: int,
        message: str) -> None:
    assert main([*args, "-c", config]) == code
    out, err = capsys.readouterr()
    assert err.startswith(message), err
    assert err.count("upkeep: ") == 1
