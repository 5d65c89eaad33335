"""``upkeep incidents ...``: writes go to the ledger in data_dir, as the OS user."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
import yaml

from upkeep.agents.cli import main
from upkeep.policies.cmd_incidents import parse_when
from upkeep.policies.incidents import Ledger


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "upkeep.yml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "systems": [
        {"name": "jfs", "title_th": "ระบบสารสนเทศกองทุนยุติธรรม", "checks": ["web:jfs"]}]},
        allow_unicode=True), encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_ack_note_resolve_show(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "incidents", "add", "-c", config, "--system", "jfs",
                       "--started", "2025-03-15 22:10", "--cause", "ไฟดับทั้งอาคาร",
                       "--cause-category", "power_ups")
    assert code == 0
    iid = out.strip()
    assert run(capsys, "incidents", "ack", iid, "-c", config, "--note", "รับเรื่อง")[0] == 0
    assert run(capsys, "incidents", "note", iid, "เดินเครื่องปั่นไฟ", "-c", config)[0] == 0
    assert run(capsys, "incidents", "resolve", iid, "-c", config, "--restored",
               "2025-03-16 12:30", "--fix", "ไฟฟ้ากลับมา")[0] == 0
    code, out, _ = run(capsys, "incidents", "show", iid, "-c", config, "--json")
    shown = json.loads(out)
    user = getpass.getuser()
    assert (shown["status"], shown["level"], shown["duration_seconds"]) == ("closed", 4, 51_600)
    assert shown["started_at"] == parse_when("2025-03-15T15:10:00Z")
    assert [(e["kind"], e["actor"]) for e in shown["timeline"]] == [
        ("opened", user), ("ack", user), ("note", user), ("resolve", user)]
    code, out, _ = run(capsys, "incidents", "list", "-c", config, "--lang", "th",
                       "--fiscal-year", "2568")
    assert "15 มี.ค. 2568 22:10" in out and "14 ชั่วโมง 20 นาที" in out


def test_maintenance_window_added_late_then_approved(config: str,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    _, out, _ = run(capsys, "incidents", "add", "-c", config, "--system", "jfs", "--started",
                    "2025-03-15 22:10", "--restored", "2025-03-16 12:30")
    iid = out.strip()
    code, out, _ = run(capsys, "incidents", "maintenance", "add", "-c", config, "--system",
                       "jfs", "--start", "2025-03-15 22:00", "--end", "2025-03-16 02:00",
                       "--reason", "ย้ายตู้แร็ค")
    assert code == 0
    wid = out.strip()
    shown = json.loads(run(capsys, "incidents", "show", iid, "-c", config, "--json")[1])
    assert (shown["level"], shown["review"]) == (4, ["maintenance_after_start"])
    code, _, err = run(capsys, "incidents", "maintenance", "approve", wid, "-c", config,
                       "--note", " ")
    assert code == 1 and "justification" in err
    assert run(capsys, "incidents", "maintenance", "approve", wid, "-c", config, "--note",
               "บันทึกข้อความ 12/2568")[0] == 0
    shown = json.loads(run(capsys, "incidents", "show", iid, "-c", config, "--json")[1])
    assert (shown["level"], shown["duration_seconds"], shown["review"]) == (5, 37_800, [])
    windows = json.loads(run(capsys, "incidents", "maintenance", "list", "-c", config,
                             "--json")[1])
    assert windows[0]["correction"] is True and windows[0]["requested_by"] == getpass.getuser()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["add", "--system", "nope", "--started", "now"], 2, "unknown system 'nope'"),
    (["ack", "42"], 1, "no incident 42"),
    (["add", "--system", "jfs", "--started", "2025-03-16 10:00", "--restored",
      "2025-03-16 09:00"], 1, "before the start"),
    (["note", "1", " "], 1, "no incident 1"),
])
def test_bad_input(config: str, capsys: pytest.CaptureFixture[str], args: list[str],
                   code: int, message: str) -> None:
    result, _, err = run(capsys, "incidents", *args, "-c", config)
    assert result == code and message in err


def test_bad_time_is_a_usage_error(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["incidents", "add", "-c", config, "--system", "jfs", "--started", "yesterday"])
    assert exit_info.value.code == 2
    assert "not a date and time like 2025-03-02 08:10" in capsys.readouterr().err


def test_cli_and_agent_share_the_file(config: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "incidents", "add", "-c", config, "--system", "jfs", "--started", "now")
    ledger = Ledger.open(tmp_path / "data")
    try:
        [incident] = ledger.incidents("jfs")
        assert (incident.source, incident.status) == ("manual", "open")
    finally:
        ledger.close()


def test_edit_settles_a_data_gap(config: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Scenario 7: worst case 12 h 11 m (L4) vs best 11 h 30 m (L5): review, then the
    server's logs show the outage began at 08:41, and the incident is L5 without review."""
    ledger = Ledger.open(tmp_path / "data")
    iid = ledger.add("jfs", parse_when("2025-03-10 08:41"),
                     started_earliest=parse_when("2025-03-10 08:00"),
                     restored_at=parse_when("2025-03-10 20:11"), actor="agent", at=1.0,
                     source="auto")
    ledger.close()
    shown = json.loads(run(capsys, "incidents", "show", str(iid), "-c", config, "--json")[1])
    assert (shown["level"], shown["review"]) == (4, ["data_gap"])
    assert run(capsys, "incidents", "edit", str(iid), "-c", config, "--started",
               "2025-03-10 08:41")[0] == 0
    shown = json.loads(run(capsys, "incidents", "show", str(iid), "-c", config, "--json")[1])
    assert (shown["level"], shown["review"], shown["duration_seconds"]) == (5, [], 41_400)
    assert shown["timeline"][-1]["kind"] == "edit"
    assert shown["timeline"][-1]["payload"]["before"]["started_earliest"] == parse_when(
        "2025-03-10 08:00")
    assert run(capsys, "incidents", "edit", str(iid), "-c", config)[0] == 2
