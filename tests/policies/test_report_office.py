"""``policies.reports``: the office above every report's title and, per report kind, who
prepares, reviews and approves it, printed in the PDF's signature block with a date line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import need_binary, run_cli

CONFIG: dict[str, Any] = {
    "site": "jfo-hq",
    "systems": [{"name": "jfs", "title_th": "ระบบสารสนเทศกองทุนยุติธรรม",
                 "title_en": "Justice Fund information system", "checks": ["web:jfs"]}],
    "policies": {"reports": {
        "organisation": {"th": "สำนักงานกองทุนยุติธรรม", "en": "Justice Fund Office"},
        "unit": {"th": "กลุ่มเทคโนโลยีสารสนเทศ"},
        "signatures": {"kpi": [
            {"role": "prepared", "name": "นางสาวสมศรี ใจดี", "position": "นักวิชาการคอมพิวเตอร์"},
            {"role": "reviewed", "name": "นายสมชาย รักงาน", "position": "หัวหน้ากลุ่มเทคโนโลยีสารสนเทศ"},
            {"role": "approved", "name": "นายใหญ่ ยิ่งยง", "position": "ผู้อำนวยการ"},
        ]},
    }},
}


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "upkeep.yml"
    path.write_text(yaml.safe_dump({**config, "data_dir": str(tmp_path / "data")},
                                   allow_unicode=True), encoding="utf-8")
    return path


def squash(text: str) -> str:
    return "".join(text.split())


def test_kpi_pdf_names_the_office_and_the_signers(tmp_path: Path) -> None:
    need_binary("pdftotext")
    config = write_config(tmp_path, CONFIG)
    pdf = tmp_path / "kpi.pdf"
    done = run_cli("report", "kpi", "-c", str(config), "--fiscal-year", "2568", "-o", str(pdf))
    assert done.returncode == 0, done.stderr
    text = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=30).stdout
    flat = squash(text)
    for words in ("สำนักงานกองทุนยุติธรรม", "กลุ่มเทคโนโลยีสารสนเทศ", "ผู้จัดทำ", "ผู้ตรวจสอบ",
                  "ผู้อนุมัติ", "(นางสาวสมศรีใจดี)", "(นายสมชายรักงาน)", "(นายใหญ่ยิ่งยง)",
                  "ตำแหน่งนักวิชาการคอมพิวเตอร์", "ตำแหน่งผู้อำนวยการ", "ลงชื่อ", "วันที่"):
        assert words in flat, words
    # the office comes before the title, the signers after the last section
    assert flat.index("กลุ่มเทคโนโลยีสารสนเทศ") < flat.index("รายงานผลตัวชี้วัด")
    assert flat.index("(นายใหญ่ยิ่งยง)") > flat.index("สรุป")

    out = tmp_path / "kpi.json"
    done = run_cli("report", "kpi", "-c", str(config), "--fiscal-year", "2568", "--lang", "en",
                   "-o", str(out))
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["organisation"] == "Justice Fund Office"
    assert doc["unit"] == "กลุ่มเทคโนโลยีสารสนเทศ"  # no English name given: the Thai one
    assert doc["signatures"][2] == {"role": "Approved by", "name": "นายใหญ่ ยิ่งยง",
                                    "position": "ผู้อำนวยการ"}


def test_unconfigured_kind_gets_blank_lines(tmp_path: Path) -> None:
    need_binary("pdftotext")
    config = write_config(tmp_path, {**CONFIG, "policies": {}})
    pdf = tmp_path / "kpi.pdf"
    done = run_cli("report", "kpi", "-c", str(config), "--fiscal-year", "2568", "-o", str(pdf))
    assert done.returncode == 0, done.stderr
    flat = squash(subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True,
                                 text=True, check=True, timeout=30).stdout)
    assert flat.count("ลงชื่อ....") == 3 and flat.count("วันที่") >= 3
    assert flat.count("ตำแหน่ง....") == 3


@pytest.mark.parametrize(("reports", "field"), [
    ({"signatures": {"kpi": [{"role": "boss", "name": "ก", "position": "ข"}]}},
     "policies.reports.signatures.kpi[0].role"),
    ({"signatures": {"assets": [{"role": "approved", "position": "ข"}]}},
     "policies.reports.signatures.assets[0].name"),
    ({"signatures": {"checklist": [{"role": "approved", "name": "ก", "position": " "}]}},
     "policies.reports.signatures.checklist[0].position"),
    ({"signatures": {"kpi": [{"role": "approved", "name": "ก", "position": "ข"},
                             {"role": "approved", "name": "ค", "position": "ง"}]}},
     "role 'approved' is given more than once"),
    ({"organisation": {"en": "Justice Fund Office"}}, "policies.reports.organisation.th"),
    ({"unit": "กลุ่มเทคโนโลยีสารสนเทศ"}, "policies.reports.unit"),
    ({"signatures": {"budget": []}}, "policies.reports.signatures.budget"),
])
def test_bad_values_exit_2_naming_the_field(tmp_path: Path, reports: dict[str, Any],
                                            field: str) -> None:
    config = write_config(tmp_path, {**CONFIG, "policies": {"reports": reports}})
    done = run_cli("report", "kpi", "-c", str(config), "-o", str(tmp_path / "x.pdf"))
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert field in done.stderr, done.stderr
