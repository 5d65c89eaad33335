"""``upkeep assets import|list`` and ``upkeep report assets`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.support import need_binary, run_cli

LIST = ("เลขครุภัณฑ์,ประเภท,สถานที่,ยี่ห้อ,รุ่น,หมายเลขเครื่อง,วันที่เริ่มใช้งาน,ราคา\n"
        "7440-001-0001,ups,hq,APC,Smart-UPS 1500,AS1,15/11/2559,25000\n"
        "7440-001-0002,ups_battery,hq,APC,RBC7,,01/06/2564,4500\n"
        "7440-001-0003,pc,hq,Dell,OptiPlex,DL1,31/02/2562,21000\n")


def test_import_list_report(tmp_path: Path) -> None:
    config = tmp_path / "upkeep.yml"
    config.write_text(yaml.safe_dump({
        "site": "hq", "data_dir": str(tmp_path / "data"),
        "policies": {"assets": {"life": {"ups_battery": {"years": 4, "source": "office"}}}}}),
        encoding="utf-8")
    sheet = tmp_path / "list.csv"
    sheet.write_text(LIST, encoding="utf-8-sig")  # Excel's "CSV UTF-8" has a BOM
    first = run_cli("assets", "import", "-c", str(config), str(sheet))
    assert first.returncode == 1  # one row rejected
    assert "2 added, 0 updated, 0 unchanged, 1 rejected" in first.stdout
    assert "row 4: rejected: in_service: '31/02/2562' is not a valid date" in first.stdout
    again = run_cli("assets", "import", "-c", str(config), str(sheet), "--json")
    assert json.loads(again.stdout)["unchanged"] == 2
    listing = json.loads(run_cli("assets", "list", "-c", str(config), "--json",
                                 "--fiscal-year", "2568").stdout)
    eol = {a["tag"]: (a["end_of_life"], a["state"]) for a in listing}
    assert eol["7440-001-0001"][0] == "2026-11-15"
    assert eol["7440-001-0002"][0] == "2025-06-01"
    table = run_cli("assets", "list", "-c", str(config)).stdout
    assert "7440-001-0002" in table and "2568" in table
    pdf = tmp_path / "assets.pdf"
    done = run_cli("report", "assets", "-c", str(config), "--fiscal-year", "2568",
                   "--as-of", "2025-07-01", "-o", str(pdf))
    assert done.returncode == 0, done.stderr
    assert "fontTools" not in done.stderr  # no font-subsetting chatter at INFO
    text = "".join(subprocess.run([need_binary("pdftotext"), "-raw", str(pdf), "-"],
                                  capture_output=True, text=True, check=True,
                                  timeout=60).stdout.split())
    # the battery (1 Jun 2025, FY 2568) is past its life in a report dated 1 Jul 2025
    assert "ครุภัณฑ์ที่เกินอายุการใช้งานแล้ว" in text
    assert "1มิ.ย.2568" in text and "7440-001-0002" in text
    assert "1,500.00บาท" in text  # default battery reference price
    assert "หนึ่งพันห้าร้อยบาทถ้วน" in text


def test_unreadable_file_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "upkeep.yml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}), encoding="utf-8")
    done = run_cli("assets", "import", "-c", str(config), str(tmp_path / "missing.xlsx"))
    assert done.returncode == 2 and "cannot read" in done.stderr
