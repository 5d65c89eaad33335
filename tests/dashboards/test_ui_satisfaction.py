"""The KPI page shows both indicators: the recovery KPI and user satisfaction per system and
website for the current fiscal year, from the survey ledger in a real SQLite file."""

from __future__ import annotations

import re
import time
from fractions import Fraction
from pathlib import Path

from tests.dashboards.test_ui_pages import TestClient, make_agent
from upkeep.agents.app import create_app
from upkeep.kit.db import Database
from upkeep.kit.thai import fiscal_year
from upkeep.policies.satisfaction_service import SatisfactionService
from upkeep.policies.surveys import SurveyLedger

EXTRA = ("systems:\n  - {name: jfs, checks: ['web:portal']}\n  - {name: mis, checks: "
         "['web:portal']}\nwebsites:\n  - {name: portal, url: 'https://127.0.0.1:9/'}\n")


def _rows(body: str) -> list[list[str]]:
    section = body[body.index("ความพึงพอใจของผู้ใช้งาน — "):]
    table = section[:section.index("</table>")]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S) if "<td>" in row]


def test_kpi_page_shows_satisfaction_per_system_and_website(tmp_path: Path) -> None:
    agent = make_agent(EXTRA)
    service = SatisfactionService(agent)
    service.ledger = SurveyLedger(Database(tmp_path / "upkeep.db"), tmp_path / "evidence")
    agent.services.append(service)
    evidence = tmp_path / "report.pdf"
    evidence.write_bytes(b"%PDF-1.4")
    fy = fiscal_year(time.time())
    service.ledger.add_aggregate("jfs", fy, respondents=40, mean_score=Fraction("4.35"),
                                 percent=None, evidence=evidence, by="t")
    service.ledger.add_aggregate("web:portal", fy, respondents=12, mean_score=None,
                                 percent=Fraction("82.99"), evidence=evidence, by="t")
    service.ledger.add_aggregate("mis", fy - 1, respondents=9, mean_score=None,
                                 percent=Fraction(90), evidence=evidence, by="t")  # last year
    client = TestClient(create_app(agent, manage_lifecycle=False))
    body = client.get("/ui/incidents?lang=th").text
    assert f"ความพึงพอใจของผู้ใช้งาน — ปีงบประมาณ พ.ศ. {fy}" in body
    assert _rows(body) == [["jfs", "40", "87.00", "5"],
                           ["mis", "–", "–", "ยังไม่มีผลสำรวจ"],
                           ["web:portal", "12", "82.99", "0 (ไม่ผ่าน)"]]
    english = client.get("/ui/incidents?lang=en").text
    assert "User satisfaction" in english and "no survey yet" in english


def test_kpi_page_without_the_survey_ledger_says_so() -> None:
    client = TestClient(create_app(make_agent(EXTRA), manage_lifecycle=False))
    body = client.get("/ui/incidents?lang=en").text
    assert "User satisfaction" in body and "satisfaction service is not running" in body
