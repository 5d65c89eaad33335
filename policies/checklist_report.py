"""``upkeep report checklist``: every control, its status, its evidence and what to do next.

The same ``Report`` model as the KPI report (``render.py``): CSV, XLSX, PDF or JSON, Thai or
English. The plan's five-step ladder for project 11 comes first, as management asks
"which step are we on?" before "which control failed?".
"""

from __future__ import annotations

import argparse
import sys
import time

from upkeep.config import Config
from upkeep.errors import ConfigError, StoreError
from upkeep.kit.cli import EXIT_OK, UsageError, with_config
from upkeep.kit.thai import format_date, format_datetime
from upkeep.policies.checklist import STATUSES, ChecklistResult, ControlResult
from upkeep.policies.render import (
    Cell,
    Column,
    Line,
    RenderError,
    Report,
    Section,
    T,
    Table,
    render,
    sign_off,
)
from upkeep.policies.report_args import add_output_args, output_format

STATUS_TEXT: dict[str, T] = {
    "pass": T("ผ่าน", "pass"), "fail": T("ไม่ผ่าน", "fail"),
    "partial": T("ผ่านบางส่วน", "partial"), "manual-pending": T("รอการรับรอง", "awaiting attestation"),
    "expired": T("หมดอายุการรับรอง", "attestation expired"),
    "not-applicable": T("ไม่เกี่ยวข้อง", "not applicable"), "error": T("ตรวจสอบไม่ได้", "error"),
}

#: the five-level success ladder of project 11 in the office's Digital Action Plan
LADDER: dict[int, T] = {
    1: T("ศึกษากฎหมายและระเบียบด้านความมั่นคงปลอดภัยของระบบสารสนเทศ",
         "Study the laws and regulations on information-system security"),
    2: T("จัดทำร่างนโยบายการรักษาความมั่นคงปลอดภัยเว็บไซต์และนโยบายคุ้มครองข้อมูลส่วนบุคคล",
         "Draft the website security policy and the personal-data-protection policy"),
    3: T("นโยบายทั้งสองฉบับประกาศใช้", "Both policies in force"),
    4: T("เผยแพร่นโยบายบนเว็บไซต์และติดตามผล", "Both published on the website and followed up"),
    5: T("ระบบสารสนเทศและเว็บไซต์มีความปลอดภัยของข้อมูลขั้นสูงด้วย SSL",
         "Information systems and the website secured with SSL/TLS"),
}


def _evidence(row: ControlResult) -> T:
    parts_th: list[str] = []
    parts_en: list[str] = []
    for s in row.subjects:
        a = s.attestation
        if a is None:
            continue
        ref = a.evidence if a.evidence_kind == "url" else f"{a.evidence_name} sha256:{a.sha256}"
        who = f"{a.by}"
        parts_th.append(f"{ref} โดย {who} ใช้ได้ถึง {format_date(a.valid_until, 'th')}"
                        + (f" ({a.note})" if a.note else ""))
        parts_en.append(f"{ref} by {who}, valid until {format_date(a.valid_until, 'en')}"
                        + (f" ({a.note})" if a.note else ""))
    return T("; ".join(dict.fromkeys(parts_th)), "; ".join(dict.fromkeys(parts_en)))


def _findings(row: ControlResult) -> T:
    """One line per subject: ``subject: status — detail``, each part in the report's
    language (the Thai detail comes with the result, ``SubjectResult.said``)."""
    th: list[str] = []
    en: list[str] = []
    for s in row.subjects:
        said = s.said()
        for out, status, detail in ((th, STATUS_TEXT[s.status].th, said.th),
                                    (en, s.status, said.en)):
            if not s.subject:
                out.append(detail)
            else:
                out.append(f"{s.subject}: {status} — {detail}" if detail
                           else f"{s.subject}: {status}")
    return T("\n".join(th), "\n".join(en))


def build_report(result: ChecklistResult, config: Config, *, note: str | None = None) -> Report:
    ladder_cols = [Column("step", "ระดับ", "Step", 0.5, "C"),
                   Column("what", "เกณฑ์", "Criterion", 5),
                   Column("status", "ผล", "Status", 1.2)]
    ladder = Table(ladder_cols, [{"step": k, "what": LADDER[k], "status": STATUS_TEXT[v]}
                                 for k, v in result.levels.items()])
    cols = [Column("id", "รหัส", "Control", 1.3), Column("title", "มาตรการ", "Title", 2.2),
            Column("source", "ที่มา", "Source", 3.2), Column("check", "วิธีตรวจ", "Check", 1.0),
            Column("status", "ผล", "Status", 1.1), Column("findings", "รายละเอียด", "Findings", 2.6),
            Column("evidence", "หลักฐาน", "Evidence", 2.6),
            Column("next", "สิ่งที่ต้องดำเนินการ", "Next step", 2.0)]
    check_text = {"automated": T("อัตโนมัติ", "automated"), "manual": T("รับรองโดยผู้รับผิดชอบ", "manual"),
                  "hybrid": T("อัตโนมัติ + รับรอง", "hybrid"),
                  "auto-or-manual": T("อัตโนมัติเมื่อตั้งค่า มิฉะนั้นรับรอง",
                                      "automated when configured, else attested")}
    rows: list[dict[str, Cell]] = []
    for row in result.controls:
        c = row.control
        source = " · ".join(v for v in (c.source.get("document"), c.source.get("item"),
                                         c.source.get("version")) if v)
        done = row.status in ("pass", "not-applicable")
        rows.append({
            "id": ("  " if c.parent else "") + c.id,
            "title": T(c.text("title", "th"), c.text("title", "en")),
            "source": source, "check": check_text[c.check], "status": STATUS_TEXT[row.status],
            "findings": _findings(row), "evidence": _evidence(row),
            "next": None if done else T(c.text("next_step", "th"), c.text("next_step", "en")),
        })
    counts = {s: sum(1 for r in result.controls if r.status == s) for s in STATUSES}
    meta = [Line(T("หน่วยงาน", "Office"), config.site),
            Line(T("ชุดมาตรการ", "Catalogue version"), result.catalogue_version),
            Line(T("ข้อมูล ณ", "As of"), T(format_datetime(result.time, "th"),
                                          format_datetime(result.time, "en"))),
            Line(T("ระดับความสำเร็จ โครงการที่ 11", "Project 11 step reached"),
                 T(f"{result.level} จาก 5", f"{result.level} of 5"))]
    summary = [Line(STATUS_TEXT[s], n) for s, n in counts.items() if n]
    footnotes = [T("ผลอัตโนมัติมาจากค่าที่เอเจนต์ตรวจวัดล่าสุด ไม่ได้ตรวจซ้ำขณะออกรายงาน การรับรองที่หมดอายุนับว่ายังไม่ผ่าน",
                   "Automated results come from the agent's latest readings (not re-probed for "
                   "the report). An expired attestation counts as not met.")]
    if note:
        footnotes.append(T(f"หมายเหตุ: {note}", f"Note: {note}"))
    return sign_off(Report(
        kind="checklist",
        title=T("รายงานผลการดำเนินงานตามนโยบายการรักษาความมั่นคงปลอดภัยสารสนเทศ",
                "Security-policy checklist report"),
        meta=meta,
        sections=[Section(T("ระดับความสำเร็จตามแผน โครงการที่ 11", "Plan project 11: the five steps"),
                          ladder),
                  Section(T("ผลการตรวจสอบรายมาตรการ", "Controls"), Table(cols, rows))],
        summary=summary, footnotes=footnotes,
        data={"checklist": result.to_json()}), config.policies.reports)


def add_report_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = kinds.add_parser("checklist", help="the security-policy checklist with evidence")
    add_output_args(parser)
    parser.set_defaults(func=with_config(run))


def run(args: argparse.Namespace, config: Config) -> int:
    import logging

    from upkeep.policies.cmd_checklist import current_checklist

    logging.getLogger("fontTools").setLevel(logging.WARNING)
    try:
        fmt = output_format(args)
        result, problem = current_checklist(config)
        report = build_report(result, config, note=problem)
        path = render(report, fmt, args.lang, args.output)
    except (ValueError, ConfigError, StoreError, RenderError) as err:
        raise UsageError(str(err)) from err
    if problem:
        print(f"note: {problem}; automated controls are shown as errors", file=sys.stderr)
    print(f"wrote {path} ({fmt}, {args.lang}, {time.strftime('%H:%M:%S')})")
    return EXIT_OK
