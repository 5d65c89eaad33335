"""Dates as Thai users type them, on every input of the ledger; voids; edit says what changed;
the KPI summary's statistics cover the same incidents (issue 14)."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from upkeep.agents.cli import main
from upkeep.config import parse_config
from upkeep.kit.thai import (
    BANGKOK,
    DateInputError,
    parse_fiscal_year,
    parse_typed_date,
    parse_typed_datetime,
)
from upkeep.policies.incidents import Ledger, LedgerError, refuse_future
from upkeep.policies.kpi_report import build_report

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=BANGKOK).timestamp()
MARCH_2 = datetime(2025, 3, 2, 8, 10, tzinfo=BANGKOK).timestamp()


@pytest.mark.parametrize("typed", [
    "2025-03-02 08:10", "2568-03-02 08:10", "02/03/2568 08:10", "2/3/2025 08:10",
    "2025-03-02T08:10", "2025-03-02T01:10Z", "2568-03-02T08:10+07:00", "02.03.2568 08.10",
])
def test_be_and_ce_times_mean_the_same_instant(typed: str) -> None:
    assert parse_typed_datetime(typed, now=NOW) == MARCH_2


@pytest.mark.parametrize(("typed", "reason"), [
    ("2030-01-01 00:00", "future"), ("2573-01-01", "future"), ("yesterday", "not a date"),
    ("2025-02-30 10:00", "not a valid date"), ("31/13/2568", "not a valid date"),
    ("1970-01-01", "before 1990"), ("", "not a date"), ("2025-03-02 25:00", "not a valid"),
])
def test_bad_times_refused_with_a_reason(typed: str, reason: str) -> None:
    with pytest.raises(DateInputError, match=reason):
        parse_typed_datetime(typed, now=NOW)


def test_future_allowed_only_when_asked() -> None:
    planned = parse_typed_datetime("2569-01-01 09:00", now=NOW, allow_future=True)
    assert planned == datetime(2026, 1, 1, 9, 0, tzinfo=BANGKOK).timestamp()
    assert parse_typed_date("15/11/2559") == date(2016, 11, 15)


def test_fiscal_year_be_and_gregorian() -> None:
    assert parse_fiscal_year("2568") == 2568
    with pytest.raises(DateInputError, match="2568") as err:
        parse_fiscal_year("2025")
    assert "Gregorian" in str(err.value) and "2569" in str(err.value)
    for garbage in ("25x8", "99999", "0"):
        with pytest.raises(DateInputError):
            parse_fiscal_year(garbage)


# --- the CLI ------------------------------------------------------------------------------

@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "upkeep.yml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "systems": [
        {"name": "jfs", "checks": ["web:jfs"]}]}), encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_info:  # argparse refuses a bad argument: exit 2
        code = int(exit_info.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _show(capsys: pytest.CaptureFixture[str], config: str, iid: str) -> dict[str, object]:
    code, out, _ = run(capsys, "incidents", "show", iid, "-c", config, "--json")
    assert code == 0
    shown: dict[str, object] = json.loads(out)
    return shown


def test_cli_add_with_a_be_year(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "incidents", "add", "-c", config, "--system", "jfs",
                         "--started", "2568-03-02 08:10", "--restored", "2568-03-02 15:40")
    assert code == 0, err
    shown = _show(capsys, config, out.strip())
    assert shown["started_at"] == MARCH_2
    assert shown["fiscal_year"] == 2568


@pytest.mark.parametrize("started", ["2030-03-02 08:10", "2573-03-02 08:10", "garbage",
                                     "2025-13-01", "1900-01-01"])
def test_cli_refuses_bad_starts(config: str, capsys: pytest.CaptureFixture[str],
                                started: str) -> None:
    code, _, err = run(capsys, "incidents", "add", "-c", config, "--system", "jfs",
                       "--started", started)
    assert code == 2
    assert started in err


def test_fiscal_year_option_says_which_be_year(config: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["incidents", "list", "-c", config, "--fiscal-year", "2025"],
                 ["report", "kpi", "-c", config, "--fiscal-year", "2025", "-o",
                  str(tmp_path / "k.json")],
                 ["report", "assets", "-c", config, "--fiscal-year", "2025", "-o",
                  str(tmp_path / "a.json")],
                 ["assets", "list", "-c", config, "--fiscal-year", "2025"]):
        code, _, err = run(capsys, *args)
        assert code == 2, args
        assert "2568" in err and "Gregorian" in err, args


def test_list_defaults_to_the_current_fiscal_year(config: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "incidents", "add", "-c", config, "--system", "jfs", "--started",
        "2020-03-02 08:10", "--restored", "2020-03-02 09:10")
    run(capsys, "incidents", "add", "-c", config, "--system", "jfs", "--started", "now")
    code, out, _ = run(capsys, "incidents", "list", "-c", config, "--json")
    assert code == 0
    years = [row["fiscal_year"] for row in json.loads(out)]
    assert len(years) == 1 and years[0] >= 2568
    code, out, _ = run(capsys, "incidents", "list", "-c", config, "--json", "--all")
    assert len(json.loads(out)) == 2


def test_edit_prints_changes_and_restored_ends_an_open_incident(
        config: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "incidents", "add", "-c", config, "--system", "jfs",
                    "--started", "2025-03-02 08:10")
    iid = out.strip()
    assert _show(capsys, config, iid)["status"] == "open"
    code, out, _ = run(capsys, "incidents", "edit", iid, "-c", config, "--restored",
                       "2568-03-02 15:40", "--cause", "ISP line down")
    assert code == 0
    assert "restored_at" in out and "2 Mar 2025 15:40" in out
    assert "cause_text" in out and "ISP line down" in out
    assert "status: open -> restored" in out
    shown = _show(capsys, config, iid)
    assert shown["status"] == "restored"
    assert shown["duration_seconds"] == 7.5 * 3600
    code, out, _ = run(capsys, "incidents", "edit", iid, "-c", config, "--cause",
                       "ISP line down")
    assert code == 0 and "nothing changed" in out
    code, _, err = run(capsys, "incidents", "edit", iid, "-c", config, "--restored",
                       "2030-01-01 00:00")
    assert code == 2 and "future" in err


def test_void_is_kept_out_of_grading_and_listed(config: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "incidents", "add", "-c", config, "--system", "jfs", "--started",
                    "2025-03-02 08:10", "--restored", "2025-03-05 08:10")  # 72 h: level 0
    iid = out.strip()
    code, _, err = run(capsys, "incidents", "void", iid, "-c", config, "--reason", " ")
    assert code == 1 and "reason" in err
    code, out, _ = run(capsys, "incidents", "void", iid, "-c", config, "--reason",
                       "entered twice (see #2)")
    assert code == 0 and "void" in out
    code, _, err = run(capsys, "incidents", "void", iid, "-c", config, "--reason", "again")
    assert code == 1 and "already void" in err
    shown = _show(capsys, config, iid)
    assert shown["status"] == "void"
    assert shown["timeline"][-1]["kind"] == "void"  # type: ignore[index]
    out_file = tmp_path / "kpi.json"
    code, _, err = run(capsys, "report", "kpi", "-c", config, "--fiscal-year", "2568", "-o",
                       str(out_file), "--lang", "en")
    assert code == 0, err
    doc = json.loads(out_file.read_text(encoding="utf-8"))
    assert doc["data"]["office"]["level"] == 5 and doc["data"]["office"]["incidents"] == 0
    assert [v["reason"] for v in doc["data"]["voided"]] == ["entered twice (see #2)"]
    annex = [s for s in doc["sections"] if s["title"].startswith("Annex")]
    assert annex and annex[0]["rows"][0]["reason"] == "entered twice (see #2)"


def test_future_times_refused_for_the_api() -> None:
    with pytest.raises(LedgerError, match="started time is in the future"):
        refuse_future(NOW, started_at=NOW + 86400, restored_at=None)
    with pytest.raises(LedgerError, match="restored time is in the future"):
        refuse_future(NOW, restored_at=NOW + 3600)
    refuse_future(NOW, started_at=NOW + 60, restored_at=None)  # clock skew tolerated


def test_summary_statistics_cover_the_same_incidents(tmp_path: Path) -> None:
    config = parse_config(f"data_dir: {tmp_path}\nsystems: [{{name: jfs, checks: ['web:jfs']}}]\n")
    ledger = Ledger.open(tmp_path)
    now = datetime(2025, 6, 1, 12, 0, tzinfo=BANGKOK).timestamp()
    try:
        base = datetime(2025, 1, 5, 8, 0, tzinfo=BANGKOK).timestamp()
        for hours in (1, 2, 3, 4, 5, 6):
            start = base + hours * 86400
            ledger.add("jfs", start, restored_at=start + hours * 3600, actor="t", at=now)
        ledger.add("jfs", now - 30 * 3600, restored_at=None, actor="t", at=now)  # still open
        report = build_report(config, ledger, 2568, now)
    finally:
        ledger.close()
    office = report.data["office"]
    assert office["incidents"] == 7
    assert (office["restored"], office["open"]) == (6, 1)
    assert office["mean_seconds"] == 3.5 * 3600 and office["median_seconds"] == 3.5 * 3600
    assert office["restored_worst_seconds"] == 6 * 3600
    assert office["open_longest_seconds"] == 30 * 3600
    summary = {line.label.en: line.value for line in report.summary}
    restored_label = next(k for k in summary if k.startswith("Restored"))
    assert "6" in restored_label and summary[restored_label] == 6
    assert summary["Still open (graded provisionally on the time elapsed)"] == 1
    worst = summary["Worst time to restore"]
    assert getattr(worst, "en", worst) == "6 h 0 min"


def test_api_time_validator_takes_be_years() -> None:
    from upkeep.policies.api_incidents import NewIncident

    body = NewIncident.model_validate({"system": "jfs", "started_at": "02/03/2568 08:10"})
    assert body.started_at == MARCH_2
    with pytest.raises(ValueError, match="not a date"):
        NewIncident.model_validate({"system": "jfs", "started_at": "soon"})
    assert time.time() > MARCH_2
