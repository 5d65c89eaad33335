"""Every report's XLSX opens in LibreOffice, and its recalculated totals equal the report's
(issue 14: procurement works in the spreadsheet, so the formulas must be right)."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import date
from pathlib import Path

import pytest

from tests.policies.test_asset_budget import CONFIG, LIST
from tests.support import need_binary
from upkeep.kit.db import Database
from upkeep.policies.assets import AssetRegister
from upkeep.policies.assets_report import build_report
from upkeep.policies.render import render


def _recalculated_csv(xlsx: Path, out_dir: Path) -> list[list[str]]:
    soffice = need_binary("soffice")
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{out_dir}/lo-profile",
                    "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,"
                    "true,false", "--outdir", str(out_dir), str(xlsx)],
                   check=True, capture_output=True, timeout=180)
    text = (out_dir / (xlsx.stem + ".csv")).read_text(encoding="utf-8")
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("lang", ["th", "en"])
def test_assets_xlsx_totals_recalculate_in_libreoffice(tmp_path: Path, lang: str) -> None:
    db = Database(tmp_path / "upkeep.db")
    try:
        register = AssetRegister(db)
        (tmp_path / "list.csv").write_text(LIST, encoding="utf-8")
        register.import_file(tmp_path / "list.csv")
        assets = register.assets()
    finally:
        db.close()
    report = build_report(assets, CONFIG, 2569, date(2026, 3, 15), 1_750_000_000.0)
    xlsx = render(report, "xlsx", lang, tmp_path / f"budget-{lang}.xlsx")
    rows = _recalculated_csv(xlsx, tmp_path)
    label = "รวมงบประมาณที่ขอ" if lang == "th" else "Budget requested"
    budget_row = next(r for r in rows if r and r[0] == label)
    amount = float(budget_row[4].replace(",", ""))
    assert amount == report.data["budget_thb"]
    assert float(budget_row[2].replace(",", "")) == 5  # the quantity total is a formula too
    # dates shown in the Buddhist Era by the Thai number format, CE in English
    pc = next(r for r in rows if len(r) > 6 and r[2] == "PC-1")
    assert pc[5:7] == (["30 ก.ย. 2563", "30 ก.ย. 2568"] if lang == "th"
                       else ["30 Sep 2020", "30 Sep 2025"])
    section_totals = [float(r[11].replace(",", "")) for r in rows  # the amount column
                      if r and r[0] in ("รวมทั้งสิ้น", "Total")]
    assert section_totals[0] + section_totals[1] == pytest.approx(report.data["budget_thb"])
