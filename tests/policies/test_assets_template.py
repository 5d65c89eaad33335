"""``upkeep assets template``: an empty register with Thai and English headers and the
allowed values, which ``upkeep assets import`` reads back once filled in."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from tests.support import run_cli
from upkeep.config.policy_assets import ASSET_CLASSES
from upkeep.policies.assets_import import ASSET_STATUSES, COLUMNS

ROWS = [
    {"asset_tag": "7440-001-0001", "class": "ups", "site": "hq", "manufacturer": "APC",
     "model": "Smart-UPS 1500", "serial": "AS1", "in_service": "15/11/2559", "price": "25000",
     "capacity_kva": "1.5", "status": "in_use"},
    {"asset_tag": "7440-001-0002", "class": "ups_battery", "site": "hq", "serial": "",
     "parent_serial": "AS1", "in_service": "01/06/2564", "replacement_price": "3500",
     "status": "spare", "notes": "สำรองไว้ที่ห้องเครื่อง"},
]


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "upkeep.yml"
    path.write_text(yaml.safe_dump({"site": "hq", "data_dir": str(tmp_path / "data")}),
                    encoding="utf-8")
    return path


def english(heading: str) -> str:
    """The import column a template heading names (the part after the slash)."""
    return heading.split(" / ", 1)[1].split(" [", 1)[0]


def check_import(tmp_path: Path, sheet: Path) -> None:
    config = config_file(tmp_path)
    done = run_cli("assets", "import", "-c", str(config), str(sheet), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["added"] == 2 and not result["rejected"], result
    listing = json.loads(run_cli("assets", "list", "-c", str(config), "--json").stdout)
    by_tag = {a["tag"]: a for a in listing}
    assert by_tag["7440-001-0001"]["end_of_life"] == "2026-11-15"  # 15/11/2559 BE + 10 y
    battery = by_tag["7440-001-0002"]["values"]
    assert battery["class"] == "ups_battery" and battery["status"] == "spare"
    assert battery["replacement_price_thb"] == "3500.00"
    assert by_tag["7440-001-0002"]["ref"] == "battery:AS1"  # parent_serial: the UPS it sits in
    assert "สำรองไว้ที่ห้องเครื่อง" in json.dumps(by_tag["7440-001-0002"], ensure_ascii=False)


def test_csv_template_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "register.csv"
    done = run_cli("assets", "template", "-o", str(out))
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # Excel opens it as UTF-8
    header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(header) == len(COLUMNS)
    assert header[0] == "เลขครุภัณฑ์ / asset_tag"
    klass = next(h for h in header if h.startswith("ประเภท"))
    status = next(h for h in header if h.startswith("สถานะ"))
    assert all(c in klass for c in ASSET_CLASSES) and all(s in status for s in ASSET_STATUSES)
    assert "วันที่เริ่มใช้งาน / in_service [วว/ดด/ปปปป]" in header
    # fill it in as an office would, keeping the template's header row as it is
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in ROWS:
        writer.writerow([row.get(english(h), "") for h in header])
    out.write_text(buf.getvalue(), encoding="utf-8-sig")
    check_import(tmp_path, out)


def test_xlsx_template_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "register.xlsx"
    done = run_cli("assets", "template", "--format", "xlsx", "-o", str(out))
    assert done.returncode == 0, done.stderr
    book = load_workbook(out)
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[1] == f"ประเภท / class [{', '.join(ASSET_CLASSES)}]"
    lists = {str(v.sqref).split(":")[0]: v.formula1 for v in sheet.data_validations.dataValidation}
    assert lists["B2"] == f'"{",".join(ASSET_CLASSES)}"'
    assert any(f == f'"{",".join(ASSET_STATUSES)}"' for f in lists.values())
    guide = book.worksheets[1]
    assert any("ups_battery = แบตเตอรี่ UPS" in str(c.value) for row in guide.iter_rows()
               for c in row)
    for r, row in enumerate(ROWS, start=2):
        for col, heading in enumerate(header, start=1):
            sheet.cell(row=r, column=col, value=row.get(english(str(heading))))
    book.save(out)
    check_import(tmp_path, out)


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "register.ods"], "give --format csv|xlsx"),
    (["-o", "exists.csv"], "never overwrites"),
])
def test_template_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "exists.csv").write_text("keep me", encoding="utf-8")
    done = run_cli("assets", "template", *args, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert (tmp_path / "exists.csv").read_text(encoding="utf-8") == "keep me"
