"""``upkeep checklist`` (show, attest, history) and ``upkeep report checklist`` in Thai and English."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from tests.support import REPO, free_port, need_binary, run_cli
from upkeep.config import parse_config
from upkeep.kit.db import Database
from upkeep.kit.thai import BANGKOK
from upkeep.policies.attestations import AttestationLedger
from upkeep.policies.checklist import evaluate, load_catalogue
from upkeep.policies.checklist_report import build_report
from upkeep.policies.render import render, render_bytes
from upkeep.reading import Reading

NOW = datetime(2025, 11, 20, 10, tzinfo=BANGKOK).timestamp()


def _result(tmp_path: Path):  # type: ignore[no-untyped-def]
    from tests.policies.test_checklist import good_web

    config = parse_config("site: hq\nhost: {enabled: false}\n"
                          "websites: [{name: office, url: 'https://www.example.go.th/'}]\n")
    db = Database(tmp_path / "upkeep.db")
    ledger = AttestationLedger(db, tmp_path / "evidence")
    memo = tmp_path / "memo.pdf"
    memo.write_bytes(b"%PDF signed memo")
    ledger.attest("P11-LAW-01", by="สมชาย ใจดี", valid_until=date(2026, 9, 30),
                  evidence=str(memo), note="บันทึกข้อความ ที่ 12/2568", at=NOW)
    ledger.attest("P11-WEB-01", by="สมหญิง", valid_until=date(2025, 10, 31),
                  evidence="https://intranet.example/draft", at=NOW - 90 * 86400)
    info = good_web()
    info["tls"]["chain_earliest_expiry"] = NOW + 10 * 86400
    result = evaluate(load_catalogue(), config, [Reading("web", "office", NOW, True, info=info)],
                      ledger.latest(), NOW)
    db.close()
    return config, result


def test_report_content(tmp_path: Path) -> None:
    config, result = _result(tmp_path)
    report = build_report(result, config)
    rows = list(csv.reader(io.StringIO(render_bytes(report, "csv", "en").decode("utf-8-sig"))))
    by_id = {r[0].strip(): r for r in rows if r and r[0].strip().startswith(("P11", "TLS"))}
    digest = hashlib.sha256(b"%PDF signed memo").hexdigest()
    assert by_id["P11-LAW-01"][4] == "pass"
    assert f"memo.pdf sha256:{digest}" in by_id["P11-LAW-01"][6]
    assert by_id["P11-LAW-01"][7] == ""  # nothing to do for a passed control
    assert by_id["P11-WEB-01"][4] == "attestation expired"
    assert by_id["TLS-02"][4] == "fail" and "10.0 days left" in by_id["TLS-02"][5]
    assert by_id["TLS-02"][7] == "Renew the certificate"
    assert ["Project 11 step reached", "1 of 5"] in rows
    doc = json.loads(render_bytes(report, "json", "th"))
    assert doc["data"]["checklist"]["project11_level"] == 1


def test_thai_pdf(tmp_path: Path) -> None:
    need_binary("pdftoppm")
    config, result = _result(tmp_path)
    out = REPO / "test-artifacts"
    out.mkdir(exist_ok=True)
    pdf = render(build_report(result, config), "pdf", "th", out / "checklist-th.pdf")
    text = "".join(subprocess.run([need_binary("pdftotext"), "-raw", str(pdf), "-"],
                                  capture_output=True, text=True, check=True,
                                  timeout=60).stdout.replace("\u200b", "").split())
    for words in ("รายงานผลการดำเนินงานตามนโยบายการรักษาความมั่นคงปลอดภัยสารสนเทศ",
                  "ระดับความสำเร็จโครงการที่11:1จาก5", "ศึกษากฎหมาย", "หมดอายุการรับรอง",
                  "ต่ออายุใบรับรอง", "สมชายใจดี", "ใช้ได้ถึง30ก.ย.2569", "มาตรา23(6)"):
        assert words in text, words
    subprocess.run(["pdftoppm", "-png", "-r", "90", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(out / "checklist-th")], check=True, timeout=60)
    assert (out / "checklist-th.png").stat().st_size > 10_000


def test_cli_attest_show_history_report(tmp_path: Path) -> None:
    config = {"site": "hq", "data_dir": str(tmp_path / "data"), "host": {"enabled": False},
              "ups": [], "listen": f"127.0.0.1:{free_port()}"}  # no agent there
    path = tmp_path / "upkeep.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    memo = tmp_path / "บันทึก.pdf"
    memo.write_bytes(b"memo")
    done = run_cli("checklist", "attest", "P11-LAW-01", "-c", str(path), "--evidence",
                   str(memo), "--by", "สมชาย", "--valid-until", "30/09/2599", "--note", "x")
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(b"memo").hexdigest() in done.stdout
    assert "valid until 2056-09-30" in done.stdout  # 2599 BE
    bad = run_cli("checklist", "attest", "NOPE-1", "-c", str(path), "--evidence",
                  "https://x/", "--by", "a")
    assert bad.returncode == 2 and "no control 'NOPE-1'" in bad.stderr
    past = run_cli("checklist", "attest", "P11-WEB-01", "-c", str(path), "--evidence",
                   "https://x/", "--by", "a", "--valid-until", "2020-01-01")
    assert past.returncode == 2 and "already past" in past.stderr
    unknown = run_cli("checklist", "attest", "P11-WEB-03", "-c", str(path), "--evidence",
                      "https://x/", "--by", "a", "--subject", "nosuchsite")
    assert unknown.returncode == 2 and "neither a website nor the site" in unknown.stderr
    # an automated control is judged from readings only: an attestation would be ignored,
    # so it is refused with the reason, and nothing is recorded
    automated = run_cli("checklist", "attest", "TLS-05", "-c", str(path), "--evidence",
                        "https://x/", "--by", "a")
    assert automated.returncode == 2, automated.stdout
    assert "TLS-05 is an automated control" in automated.stderr
    assert "attested" not in automated.stdout
    shown = run_cli("checklist", "-c", str(path), "--json")
    assert shown.returncode == 1  # not everything passes
    body = json.loads(shown.stdout)
    assert body["project11_level"] == 1
    assert "did not answer" in shown.stderr
    history = run_cli("checklist", "history", "-c", str(path))
    assert "P11-LAW-01" in history.stdout and "สมชาย" in history.stdout
    assert "TLS-05" not in history.stdout
    out = tmp_path / "checklist.xlsx"
    report = run_cli("report", "checklist", "-c", str(path), "--lang", "th", "-o", str(out))
    assert report.returncode == 0, report.stderr
    from openpyxl import load_workbook

    cells = [c.value for row in load_workbook(out).active.iter_rows() for c in row]
    assert "ผ่าน" in cells and "P11-LAW-01" in cells


@pytest.mark.parametrize("args", [["--fiscal-year", "69"], ["-o", "x.doc"]])
def test_report_assets_bad_arguments(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "upkeep.yml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "d")}), encoding="utf-8")
    base = ["report", "assets", "-c", str(path)]
    if "-o" not in args:
        base += ["-o", str(tmp_path / "a.csv")]
    done = run_cli(*base, *args)
    assert done.returncode == 2
    assert "Buddhist-Era" in done.stderr or "format" in done.stderr
