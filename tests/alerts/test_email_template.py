"""alerts/templates/upkeep.tmpl: e-mail in English and Thai, rendered by amtool and delivered by a
real Alertmanager to a real SMTP server.

The alerts fed to the template carry the annotations exactly as Prometheus renders them: the
expected annotations of the promtool cases in alerts/tests/ (promtool checks those against the
rules), so a template that drops summary_th or description_th fails here.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.alerts.stack import (
    ALERTS,
    SmtpSink,
    WebhookReceiver,
    alertmanager_config,
    running_alertmanager,
)
from tests.support import need_binary, wait_for

TEMPLATE_GLOB = str(ALERTS / "templates" / "*.tmpl")
ANNOTATIONS = ("summary", "summary_th", "description", "description_th", "runbook_url")
STARTS = datetime(2026, 11, 25, 20, 5, tzinfo=UTC)  # 26/11/2569 03:05 in Bangkok


def promtool_case(alertname: str, **labels: str) -> dict[str, Any]:
    """The first firing promtool expectation for ``alertname`` (labels and annotations)."""
    for path in sorted((ALERTS / "tests").glob("*.test.yml")):
        for case in yaml.safe_load(path.read_text()).get("tests", []):
            for check in case.get("alert_rule_test", []):
                for exp in check.get("exp_alerts") or []:
                    if check["alertname"] == alertname and \
                            labels.items() <= exp["exp_labels"].items():
                        return {"labels": {"alertname": alertname, **exp["exp_labels"]},
                                "annotations": exp["exp_annotations"]}
    raise LookupError(alertname)


def template_data(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    """Alertmanager's template.Data for one group (grouped by alertname and site)."""
    items = [{"status": status, "labels": a["labels"], "annotations": a["annotations"],
              "startsAt": STARTS.isoformat(),
              "endsAt": (STARTS + timedelta(hours=1)).isoformat() if status == "resolved"
              else "0001-01-01T00:00:00Z",
              "generatorURL": "http://prometheus.example.invalid/graph", "fingerprint": "1"}
             for a in alerts]

    def common(key: str) -> dict[str, str]:
        first = items[0][key]
        return {k: v for k, v in first.items() if all(i[key].get(k) == v for i in items)}

    labels = items[0]["labels"]
    return {"receiver": "it-admins-email", "status": status, "alerts": items,
            "groupLabels": {"alertname": labels["alertname"], "site": labels["site"]},
            "commonLabels": common("labels"), "commonAnnotations": common("annotations"),
            "externalURL": "http://alertmanager.example.invalid"}


def render(tmp: Path, name: str, data: dict[str, Any], kind: str = "text") -> str:
    (tmp / "data.json").write_text(json.dumps(data, ensure_ascii=False))
    result = subprocess.run(
        [need_binary("amtool"), "template", "render", f"--template.glob={TEMPLATE_GLOB}",
         f"--template.data={tmp / 'data.json'}", f"--template.type={kind}",
         f"--template.text={{{{ template \"upkeep.email.{name}\" . }}}}"],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize(("alertname", "labels"), [
    ("UpsOnBattery", {}),
    ("TlsCertExpiringSoon", {"severity": "critical"}),
    ("ChecklistAttestationExpiring", {"subject": "www"}),
    ("HostFilesystemAlmostFull", {"severity": "warning"}),
])
def test_text_and_html_show_every_annotation(tmp_path: Path, alertname: str,
                                             labels: dict[str, str]) -> None:
    alert = promtool_case(alertname, **labels)
    text = render(tmp_path, "text", template_data(alert))
    html = render(tmp_path, "html", template_data(alert), kind="html")
    for key in ANNOTATIONS:
        value = alert["annotations"][key]
        assert value in text, (key, text)
        # html/template escapes what it must; none of our annotations has <, > or &
        assert value.replace("'", "&#39;").replace('"', "&#34;") in html, (key, html)
    assert f'<a href="{alert["annotations"]["runbook_url"]}">' in html
    assert '<meta charset="utf-8">' in html
    assert f"สาขา (site): {alert['labels']['site']}" in text
    # the start in UTC and in Thai time with a Buddhist-Era year
    assert "2026-11-25 20:05 UTC / 26/11/2569 03:05 น. (เวลาประเทศไทย)" in text
    assert "กำลังแจ้งเตือน / FIRING" in text


def test_subject_and_resolved(tmp_path: Path) -> None:
    alert = promtool_case("UpsOnBattery")
    subject = render(tmp_path, "subject", template_data(alert))
    assert subject == (f"[FIRING:1] UpsOnBattery {alert['labels']['site']} "
                       "UPS is running on battery. / UPS ทำงานด้วยแบตเตอรี่")
    resolved = render(tmp_path, "text", template_data(alert, status="resolved"))
    assert "กลับสู่ปกติแล้ว / RESOLVED" in resolved
    assert "RESOLVED / กลับสู่ปกติแล้ว" in resolved
    assert "Resolved / กลับสู่ปกติเมื่อ: 2026-11-25 21:05 UTC / 26/11/2569 04:05 น." in resolved


def test_subject_leaves_out_summaries_a_group_does_not_share(tmp_path: Path) -> None:
    """warning and critical of one alert at one site share a group but not a summary."""
    warning = promtool_case("TlsCertExpiringSoon", severity="warning")
    critical = promtool_case("TlsCertExpiringSoon", severity="critical")
    subject = render(tmp_path, "subject", template_data(warning, critical))
    assert subject == f"[FIRING:2] TlsCertExpiringSoon {warning['labels']['site']}"


def test_buddhist_era_year_table(tmp_path: Path) -> None:
    """BE = CE + 543 for every year the table covers; outside it, the CE year is labelled."""
    years = list(range(2024, 2047))
    text = "".join(f'{{{{ template "upkeep.be_year" {y} }}}},' for y in years)
    (tmp_path / "data.json").write_text(json.dumps(template_data(promtool_case("UpsOnBattery"))))
    result = subprocess.run(
        [need_binary("amtool"), "template", "render", f"--template.glob={TEMPLATE_GLOB}",
         f"--template.data={tmp_path / 'data.json'}", f"--template.text={text}"],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    got = result.stdout.rstrip(",").split(",")
    assert got[:-1] == [str(y + 543) for y in years[:-1]]
    assert got[-1] == "ค.ศ. 2046"


def _parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): str(part.get_content())
            for part in message.walk() if not part.is_multipart()}


def test_alertmanager_mails_english_and_thai(tmp_path: Path) -> None:
    """The shipped alertmanager.yml, a real Alertmanager, a real SMTP server: the mail has both
    languages in its subject, text and HTML parts."""
    alert = promtool_case("UpsOnBattery")
    now = datetime.now(UTC)
    posted = {"labels": alert["labels"], "annotations": alert["annotations"],
              "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()}
    with WebhookReceiver() as hook, SmtpSink() as smtp, \
            running_alertmanager(tmp_path, alertmanager_config(hook.url, smtp.port)) as am:
        httpx.post(f"{am}/api/v2/alerts", json=[posted], timeout=5).raise_for_status()
        # the sink appends the envelope, then the message (another thread): look for the pair
        # inside the wait, where a moment with one list longer than the other is retried
        message = wait_for(lambda: next(
            (m for (_, rcpts), m in zip(smtp.envelopes, smtp.messages, strict=True)
             if "it-admins@example.invalid" in rcpts), None), timeout=15,
            message="mail to it-admins")
        assert isinstance(message, EmailMessage)
        assert str(message["Subject"]).endswith(
            "UPS is running on battery. / UPS ทำงานด้วยแบตเตอรี่")
        parts = _parts(message)
        assert set(parts) == {"text/plain", "text/html"}
        for key in ANNOTATIONS:
            assert alert["annotations"][key] in parts["text/plain"], key
            assert alert["annotations"][key] in parts["text/html"], key
        # the webhook gets the same annotations in its JSON
        wait_for(lambda: hook.payloads, timeout=15, message="webhook notification")
        assert hook.payloads[0]["alerts"][0]["annotations"] == alert["annotations"]
