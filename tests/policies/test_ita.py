"""ITA disclosure controls against real local HTTPS pages (tests/web_rig.py, 127.0.0.1) that
appear, change and disappear; items without a URL stay manual with attestation."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import date
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import metric, parse_metrics, run_cli, running_agent, wait_for
from tests.web_rig import Pki, Route, Server, WebRig
from upkeep.config import Config, parse_config
from upkeep.kit.db import Database
from upkeep.policies.attestations import AttestationLedger
from upkeep.policies.checklist import evaluate, load_catalogue
from upkeep.policies.ita import ItaPages

DAY = 86400.0
STRUCTURE = "<html><body><h1>โครงสร้างหน่วยงาน</h1><p>สำนักงานกองทุนยุติธรรม</p></body></html>"


class Pages:
    def __init__(self, rig: WebRig, pki: Pki) -> None:
        self.pki = pki
        # served live: tests add, change and remove pages (non-empty: the rig replaces an
        # empty table by its default one)
        self.routes: dict[str, Route] = {"/": Route()}
        self.server: Server = rig.https(pki.leaf("valid"), routes=self.routes,
                                        families=("ipv4",))

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.server.port}{path}"

    def config(self, tmp: Path, **pages: Any) -> Config:
        return parse_config(yaml.safe_dump({
            "site": "hq", "data_dir": str(tmp), "host": {"enabled": False}, "ups": [],
            "policies": {"ita": {"assessment_year": 2568, "max_age": "90d", "timeout": "2s",
                                 "ca_file": self.pki.ca_file, "pages": pages}}},
            allow_unicode=True))


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    pki = Pki(tmp_path_factory.mktemp("pki"))
    with WebRig() as rig:
        yield Pages(rig, pki)


def service(config: Config, db: Database) -> ItaPages:
    return ItaPages(config, db)


def judge(config: Config, ita: ItaPages, now: float,
          ledger: AttestationLedger | None = None) -> dict[str, tuple[str, str]]:
    asyncio.run(ita.check_all())
    result = evaluate(load_catalogue(config.policies.checklist), config, ita.readings(),
                      ledger.latest() if ledger else {}, now)
    return {row.control.id: (row.status, row.subjects[0].detail) for row in result.controls
            if row.control.id.startswith("ITA-")}


def test_page_appears_changes_and_disappears(pages: Pages, tmp_path: Path) -> None:
    config = pages.config(tmp_path, O1={"url": pages.url("/structure")})
    ita = service(config, Database(tmp_path / "upkeep.db"))
    status, detail = judge(config, ita, time.time())["ITA-O1"]
    assert status == "fail" and "HTTP 404" in detail, detail          # not published yet
    recent = formatdate(time.time() - 10 * DAY, usegmt=True)
    pages.routes["/structure"] = Route(headers=[("Last-Modified", recent)],
                                       body=STRUCTURE.encode())
    status, detail = judge(config, ita, time.time())["ITA-O1"]
    assert status == "pass", detail                                     # appears
    assert "updated 10 days ago (Last-Modified)" in detail
    pages.routes["/structure"] = Route(headers=[("Last-Modified", recent)],
                                       body="<html><h1>หน้าหลัก</h1></html>".encode())
    status, detail = judge(config, ita, time.time())["ITA-O1"]
    assert status == "fail" and "without the heading 'โครงสร้าง'" in detail  # changes
    stale = formatdate(time.time() - 200 * DAY, usegmt=True)
    pages.routes["/structure"] = Route(headers=[("Last-Modified", stale)],
                                       body=STRUCTURE.encode())
    status, detail = judge(config, ita, time.time())["ITA-O1"]
    assert status == "fail" and "not updated for 200 days" in detail     # too old
    del pages.routes["/structure"]
    status, detail = judge(config, ita, time.time())["ITA-O1"]
    assert status == "fail" and "HTTP 404" in detail                      # disappears


def test_without_last_modified_freshness_counts_from_first_seen_content(
        pages: Pages, tmp_path: Path) -> None:
    config = pages.config(tmp_path, O5={"url": pages.url("/contact"),
                                        "expect_text": "ติดต่อเรา"})
    db = Database(tmp_path / "upkeep.db")
    pages.routes["/contact"] = Route(body="<h1>ติดต่อเรา</h1> โทร 02".encode())
    first = service(config, db)
    assert judge(config, first, time.time())["ITA-O5"][0] == "pass"
    seen = first.results["O5"].info["updated_at"]
    # a restarted agent keeps when it first saw this content: 100 days on it is stale
    again = service(config, db)
    status, detail = judge(config, again, time.time() + 100 * DAY)["ITA-O5"]
    assert again.results["O5"].info["updated_at"] == seen
    assert status == "fail" and "content unchanged since" in detail
    pages.routes["/contact"] = Route(body="<h1>ติดต่อเรา</h1> โทร 02 141 0000".encode())
    asyncio.run(again.check_all())
    assert again.results["O5"].info["updated_at"] > seen


def test_untrusted_certificate_fails(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                     pages: Pages) -> None:
    config = pages.config(tmp_path, O7={"url": pages.url("/news")})
    config = config.model_copy(update={"policies": config.policies.model_copy(update={
        "ita": config.policies.ita.model_copy(update={"ca_file": None})})})
    pages.routes["/news"] = Route(body="<h1>ข่าวประชาสัมพันธ์</h1>".encode())
    status, detail = judge(config, service(config, Database(tmp_path / "u.db")), time.time())[
        "ITA-O7"]
    assert status == "fail" and "CERTIFICATE_VERIFY_FAILED" in detail, detail


def test_items_without_url_are_manual_with_attestation(pages: Pages, tmp_path: Path) -> None:
    config = pages.config(tmp_path, O1={"url": pages.url("/structure")})
    db = Database(tmp_path / "upkeep.db")
    ledger = AttestationLedger(db, tmp_path / "evidence")
    ita = service(config, db)
    status, detail = judge(config, ita, time.time(), ledger)["ITA-O2"]
    assert status == "manual-pending"
    assert "no URL configured for O2 (policies.ita.pages)" in detail
    ledger.attest("ITA-O2", by="director", valid_until=date(2099, 9, 30),
                  evidence="https://jfo.moj.go.th/executives")
    assert judge(config, ita, time.time(), ledger)["ITA-O2"][0] == "pass"


def test_checklist_cli_fetches_the_pages_itself(pages: Pages, tmp_path: Path) -> None:
    """``upkeep checklist`` outside the agent: the ITA pages are fetched on the spot."""
    pages.routes["/laws"] = Route(headers=[("Last-Modified", formatdate(usegmt=True))],
                                  body="<h1>กฎหมายที่เกี่ยวข้อง</h1>".encode())
    config = pages.config(tmp_path, O6={"url": pages.url("/laws")})
    path = tmp_path / "upkeep.yml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True),
                    encoding="utf-8")
    done = run_cli("checklist", "-c", str(path), "--json")
    controls = {c["id"]: c for c in json.loads(done.stdout)["controls"]}
    assert controls["ITA-O6"]["status"] == "pass", controls["ITA-O6"]
    assert controls["ITA-O3"]["status"] == "manual-pending"


def test_running_agent_judges_the_pages(pages: Pages, tmp_path: Path) -> None:
    pages.routes["/authority"] = Route(headers=[("Last-Modified", formatdate(usegmt=True))],
                                       body="<h1>อำนาจหน้าที่</h1>".encode())
    ita = {"max_age": "90d", "timeout": "2s", "ca_file": pages.pki.ca_file,
           "pages": {"O3": {"url": pages.url("/authority")}}}
    with running_agent(tmp_path, {"site": "hq", "host": {"enabled": False}, "ups": [],
                                  "policies": {"ita": ita}}) as agent:
        def status(control: str, value: str) -> float | None:
            return metric(parse_metrics(agent.metrics()), "upkeep_checklist_control_status",
                          control=control, status=value)

        wait_for(lambda: status("ITA-O3", "pass") == 1, timeout=20,
                 message="ITA-O3 pass on /metrics")
        assert status("ITA-O1", "manual-pending") == 1
