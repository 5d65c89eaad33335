"""``upkeep report kpi --fiscal-year 2568 [--system NAME] --format F --lang L -o FILE``.

The KPI report of one fiscal year, both indicators of plan projects 3, 4 and 6. The
outage-recovery KPI: the level per system and for the office,
every incident per system (Bangkok time, Buddhist-Era dates in Thai), its duration minus
maintenance, level, cause, fix and review flags, incidents carried over from the previous
year (listed, not graded), a summary (count, mean / median / worst time to restore) and the
five-level scale of the Digital Action Plan. Then the user-satisfaction KPI per system and
website (``policies.satisfaction_report``; comments only with ``--comments``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from upkeep.config import Config
from upkeep.errors import StoreError
from upkeep.kit.cli import EXIT_OK, Failed, UsageError, add_config_arg, with_config
from upkeep.kit.thai import (
    fiscal_year,
    fiscal_year_bounds,
    fiscal_year_label,
    fiscal_year_period,
    format_duration,
    to_bangkok,
)
from upkeep.policies.incidents import CAUSE_CATEGORIES, Incident, Ledger, YearView, grade_year
from upkeep.policies.kpi import (
    LEVELS,
    REVIEW_DATA_GAP,
    REVIEW_LATE_MAINTENANCE,
    Grade,
    YearResult,
    carried_over,
)
from upkeep.policies.render import (
    FORMATS,
    Cell,
    Column,
    Day,
    Line,
    RenderError,
    Report,
    Section,
    T,
    Table,
    render,
    sign_off,
)
from upkeep.policies.satisfaction_report import add_satisfaction
from upkeep.policies.surveys import SurveyLedger

DAYS_TH = {5: "ครึ่งวัน", 4: "1 วัน", 3: "1.5 วัน", 2: "2 วัน", 1: "2.5 วัน"}
DAYS_EN = {5: "half a day", 4: "1 day", 3: "1.5 days", 2: "2 days", 1: "2.5 days"}


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _when(value: float | None) -> Day | None:
    """A time as a date cell (XLSX) shown in Bangkok time, BE in Thai."""
    return None if value is None else Day(to_bangkok(value))


def _duration(seconds: float) -> T:
    return T(format_duration(seconds, "th"), format_duration(seconds, "en"))


def _level(level: int) -> T:
    if level == 0:
        return T("0 (ไม่ผ่าน)", "0 (not achieved)")
    return T(str(level), str(level))


def _flags(incident: Incident, grade: Grade, fy: int, view: YearView) -> T:
    th: list[str] = []
    en: list[str] = []
    if carried_over(incident.facts(), fy):
        th.append(f"ยกมาจากปีงบประมาณ {grade.fiscal_year} (นับในปีนั้น ไม่นับในปีนี้)")
        en.append(f"carried over, attributed to FY {grade.fiscal_year} (not graded here)")
    if grade.provisional:
        th.append("ชั่วคราว: ยังไม่กลับมาใช้งาน นับเวลาถึงเวลาที่จัดทำรายงาน")
        en.append("provisional: still open, elapsed time to the report time")
    if grade.maintenance_only:
        th.append("อยู่ในช่วงบำรุงรักษาที่อนุมัติทั้งหมด ไม่นับเป็นเหตุขัดข้อง")
        en.append("entirely inside approved maintenance: not a KPI incident")
    if REVIEW_DATA_GAP in grade.review:
        th.append(f"ข้อมูลขาดช่วง: กรณีดีที่สุด {format_duration(grade.duration_best, 'th')} "
                  f"(ระดับ {grade.level_best}) ใช้กรณีแย่ที่สุด ต้องตรวจสอบ")
        en.append(f"data gap: best case {format_duration(grade.duration_best, 'en')} "
                  f"(level {grade.level_best}), worst case reported; needs review")
    if REVIEW_LATE_MAINTENANCE in grade.review:
        th.append("มีช่วงบำรุงรักษาที่เพิ่มหลังเกิดเหตุ ยังไม่นำมาหัก ต้องตรวจสอบ")
        en.append("maintenance window added after the outage began, not applied; "
                  "needs review")
    if incident.source == "rebuilt":
        th.append("สร้างจากข้อมูลย้อนหลังใน Prometheus")
        en.append("rebuilt from Prometheus history")
    elif incident.source == "manual":
        th.append("บันทึกโดยเจ้าหน้าที่")
        en.append("entered manually")
    return T("; ".join(th), "; ".join(en))


INCIDENT_COLUMNS = [
    Column("no", "ที่", "No.", 0.4, "R"),
    Column("id", "รหัส", "ID", 0.5, "R"),
    Column("started", "เริ่มขัดข้อง", "Started", 1.6),
    Column("restored", "กลับมาใช้งานได้", "Restored", 1.6),
    Column("duration", "ระยะเวลา (หักบำรุงรักษา)", "Duration (less maintenance)", 1.6),
    Column("hours", "ชั่วโมง", "Hours", 0.7, "R", "hours"),
    Column("maintenance_hours", "บำรุงรักษา (ชม.)", "Maint. (h)", 1.0, "R", "hours"),
    Column("level", "ระดับ", "Level", 1.0, "C"),
    Column("cause", "สาเหตุ", "Cause", 2.0),
    Column("fix", "การแก้ไข", "Fix", 1.8),
    Column("flags", "หมายเหตุ", "Review / notes", 2.6),
]

SYSTEM_COLUMNS = [
    Column("system", "ระบบ", "System", 1.0),
    Column("title", "ชื่อระบบ", "Title", 2.4),
    Column("incidents", "จำนวนครั้ง", "Incidents", 1.0, "R"),
    Column("mean_hours", "เฉลี่ย (ชม.)", "Mean (h)", 0.9, "R", "hours"),
    Column("median_hours", "มัธยฐาน (ชม.)", "Median (h)", 0.9, "R", "hours"),
    Column("worst_hours", "นานที่สุด (ชม.)", "Worst (h)", 0.9, "R", "hours"),
    Column("level", "ระดับ", "Level", 0.9, "C"),
    Column("status", "สถานะ", "Status", 2.0),
]

VOID_COLUMNS = [
    Column("id", "เลขที่", "ID", 0.6, "R"),
    Column("system", "ระบบ", "System", 1.0),
    Column("started", "เริ่มขัดข้อง", "Started", 1.5),
    Column("restored", "กลับมาใช้งาน", "Restored", 1.5),
    Column("voided", "ยกเลิกเมื่อ", "Voided at", 1.5),
    Column("by", "ผู้ยกเลิก", "Voided by", 1.2),
    Column("reason", "เหตุผล", "Reason", 3.0),
]

SCALE_COLUMNS = [
    Column("level", "ระดับ", "Level", 0.6, "C"),
    Column("criterion", "เกณฑ์", "Criterion", 4.0),
    Column("max_hours", "ไม่เกิน (ชั่วโมง)", "At most (hours)", 1.2, "R", "hours"),
]


def _cause(incident: Incident) -> T:
    th, en = CAUSE_CATEGORIES.get(incident.cause_category, (incident.cause_category,) * 2)
    text = incident.cause_text.strip()
    return T(f"{th}: {text}" if text else th, f"{en}: {text}" if text else en)


def _status(result: YearResult) -> T:
    th, en = [], []
    if result.provisional:
        th.append("ชั่วคราว (มีเหตุที่ยังไม่กลับมาใช้งาน)")
        en.append("provisional (an incident is still open)")
    if result.needs_review:
        th.append("ต้องตรวจสอบ")
        en.append("needs review")
    if not th:
        th.append("ยืนยันแล้ว")
        en.append("final")
    return T("; ".join(th), "; ".join(en))


def _system_row(name: str, title: T, result: YearResult) -> dict[str, Cell]:
    return {"system": name, "title": title, "incidents": result.incidents,
            "mean_hours": _hours(result.mean_seconds),
            "median_hours": _hours(result.median_seconds),
            "worst_hours": _hours(result.worst_seconds), "level": _level(result.level),
            "status": _status(result)}


def build_report(config: Config, ledger: Ledger, fy: int, now: float,
                 system: str | None = None, *, surveys: SurveyLedger | None = None,
                 comments: bool = False) -> Report:
    """The report; with ``surveys``, the satisfaction KPI too (``comments``: print the
    respondents' comments)."""
    kpi_systems = [s for s in config.systems if s.kpi and (system is None or s.name == system)]
    names = [s.name for s in kpi_systems] or ([system] if system else [])
    view = grade_year(ledger, config.policies.kpi, fy, now, names, only=system,
                      exclude=[s.name for s in config.systems if not s.kpi])
    titles = {s.name: T(s.title("th"), s.title("en")) for s in config.systems}
    report = Report(
        kind="kpi",
        title=T(f"รายงานผลตัวชี้วัด ระบบสามารถใช้งานได้อย่างต่อเนื่อง"
                f"{' และความพึงพอใจของผู้ใช้งาน' if surveys else ''} {fiscal_year_label(fy)}",
                f"Outage-recovery{' and user-satisfaction' if surveys else ''} KPI report, "
                f"{fiscal_year_label(fy, 'en')}"),
        meta=[Line(T("หน่วยงาน", "Site"), config.site),
              Line(T("ปีงบประมาณ", "Fiscal year"), T(f"พ.ศ. {fy}", f"{fy} BE")),
              Line(T("ช่วงเวลา", "Period"), T(fiscal_year_period(fy, "th"),
                                                fiscal_year_period(fy, "en"))),
              Line(T("ระบบ", "Systems"), ", ".join(view.systems) or "-"),
              Line(T("จัดทำเมื่อ", "Generated"), _when(now)),
              Line(T("เวลา", "Times"), T("เวลาประเทศไทย (UTC+7) ปีพุทธศักราช",
                                         "Asia/Bangkok (UTC+7)"))])
    rows = [_system_row(n, titles.get(n, T(n, n)), r) for n, r in view.systems.items()]
    rows.append(_system_row("", T("ทั้งสำนักงาน (ระดับต่ำสุดของทุกระบบ)",
                                  "Office (worst of all systems)"), view.office))
    report.sections.append(Section(T("ผลตัวชี้วัดรายระบบ", "KPI level per system"),
                                   Table(list(SYSTEM_COLUMNS), rows)))
    data_incidents = []
    for name in view.systems:
        mine = [(i, g) for i, g in view.graded if i.system == name]
        table_rows: list[dict[str, Cell]] = []
        for no, (incident, grade) in enumerate(mine, start=1):
            table_rows.append({
                "no": no, "id": incident.id, "started": _when(incident.started_at),
                "restored": _when(incident.restored_at) or T("ยังไม่กลับมาใช้งาน", "still open"),
                "duration": _duration(grade.effective_seconds),
                "hours": _hours(grade.effective_seconds),
                "maintenance_hours": _hours(grade.excluded_seconds),
                "level": _level(grade.level), "cause": _cause(incident),
                "fix": incident.fix_text or None, "flags": _flags(incident, grade, fy, view)})
            data_incidents.append({
                **incident.to_json(), "fiscal_year": grade.fiscal_year,
                "effective_seconds": grade.effective_seconds,
                "duration_best_seconds": grade.duration_best,
                "excluded_maintenance_seconds": grade.excluded_seconds,
                "level": grade.level, "level_best": grade.level_best,
                "provisional": grade.provisional, "maintenance_only": grade.maintenance_only,
                "review": list(grade.review),
                "carried_over": carried_over(incident.facts(), fy)})
        title = titles.get(name, T(name, name))
        notes = [] if table_rows else [T("ไม่มีเหตุขัดข้องในปีงบประมาณนี้ (ระดับ 5)",
                                         "No incidents in this fiscal year (level 5)")]
        report.sections.append(Section(
            T(f"เหตุขัดข้อง: {title.th} ({name})", f"Incidents: {title.en} ({name})"),
            Table(list(INCIDENT_COLUMNS), table_rows), notes))
    scale = view.scale
    report.sections.append(Section(
        T("เกณฑ์การให้คะแนน 5 ระดับ (แผนปฏิบัติการดิจิทัล)",
          "The five-level scale (Digital Action Plan)"),
        Table(list(SCALE_COLUMNS), [
            {"level": level,
             "criterion": T(f"ระบบล่มแต่แก้ไขได้ภายใน {DAYS_TH[level]}",
                            f"the system went down but was fixed within {DAYS_EN[level]}"),
             "max_hours": _hours(scale.thresholds[level])} for level in LEVELS])))
    start, end = fiscal_year_bounds(fy)
    voids = [(i, e) for i, e in ledger.voided(since=start, until=end)
             if system is None or i.system == system]
    if voids:
        report.sections.append(Section(
            T("ภาคผนวก: เหตุขัดข้องที่ยกเลิก (ไม่นับในตัวชี้วัด เก็บไว้เพื่อการตรวจสอบ)",
              "Annex: voided incidents (not graded; kept for audit)"),
            Table(list(VOID_COLUMNS), [
                {"id": i.id, "system": i.system, "started": _when(i.started_at),
                 "restored": _when(i.restored_at), "voided": _when(e.at) if e else None,
                 "by": e.actor if e else None,
                 "reason": str(e.payload.get("reason", "")) if e else None}
                for i, e in voids])))
    office = view.office
    # mean, median and worst are over the same restored incidents; open ones stand apart
    # (they count in the level with their elapsed time, provisionally)
    restored_n = office.restored_count
    report.summary = [
        Line(T("จำนวนเหตุขัดข้องที่นับ", "Incidents graded"), office.incidents),
        Line(T(f"กลับมาใช้งานได้แล้ว (ใช้คำนวณค่าเฉลี่ย มัธยฐาน และนานที่สุด {restored_n} ครั้ง)",
               f"Restored (mean, median and worst below are over these {restored_n})"),
             restored_n),
        Line(T("เวลาเฉลี่ยในการกู้คืน", "Mean time to restore"),
             _duration(office.mean_seconds) if office.mean_seconds is not None else "-"),
        Line(T("ค่ามัธยฐานเวลาในการกู้คืน", "Median time to restore"),
             _duration(office.median_seconds) if office.median_seconds is not None else "-"),
        Line(T("เวลากู้คืนนานที่สุด", "Worst time to restore"),
             _duration(office.restored_worst_seconds)
             if office.restored_worst_seconds is not None else "-"),
        Line(T("ยังไม่กลับมาใช้งาน (นับระดับชั่วคราวตามเวลาที่ผ่านไป)",
               "Still open (graded provisionally on the time elapsed)"), office.open_count),
        Line(T("เหตุที่ยังเปิดอยู่นานที่สุดจนถึงขณะนี้", "Longest still-open incident so far"),
             _duration(office.open_longest_seconds)
             if office.open_longest_seconds is not None else "-"),
        Line(T("ระดับของสำนักงาน", "Office level"), _level(office.level)),
        Line(T("ยกมาจากปีก่อน (ไม่นับ)", "Carried over (not graded)"),
             len(view.carried_over())),
    ]
    report.footnotes = [
        T("ระยะเวลา = เวลากลับมาใช้งานได้ − เวลาเริ่มขัดข้อง − เวลาที่อยู่ในช่วงบำรุงรักษาที่อนุมัติไว้ก่อน; "
          "เกณฑ์นับรวมค่าขอบ (12 ชั่วโมงพอดี = ระดับ 5); เกิน 60 ชั่วโมง = ระดับ 0 (ไม่ผ่าน)",
          "Duration = restored − started − overlap with maintenance approved in advance; "
          "thresholds are inclusive (exactly 12 h = level 5); over 60 h = level 0 (not achieved)"),
        T("เหตุขัดข้องนับในปีงบประมาณที่เริ่มเกิด (เวลาประเทศไทย) และไม่แบ่งข้ามปี; "
          "ระดับของระบบ = ระดับของเหตุที่นานที่สุดในปี; ปีที่ไม่มีเหตุขัดข้อง = ระดับ 5",
          "An incident counts in the fiscal year it started (Bangkok time) and is never split; "
          "a system's level is its worst incident's; a year without incidents is level 5"),
    ]
    report.data = {
        "fiscal_year": fy, "generated_at": now, "scale_from_fy": scale.valid_from_fy,
        "thresholds_seconds": {str(k): v for k, v in scale.thresholds.items()},
        "office": {"level": office.level, "incidents": office.incidents,
                   "worst_seconds": office.worst_seconds, "mean_seconds": office.mean_seconds,
                   "median_seconds": office.median_seconds, "provisional": office.provisional,
                   "restored": office.restored_count,
                   "restored_worst_seconds": office.restored_worst_seconds,
                   "open": office.open_count,
                   "open_longest_seconds": office.open_longest_seconds},
        "systems": {n: {"level": r.level, "incidents": r.incidents,
                        "worst_seconds": r.worst_seconds, "worst_incident": r.worst_incident,
                        "provisional": r.provisional, "needs_review": r.needs_review}
                    for n, r in view.systems.items()},
        "incidents": data_incidents,
        "voided": [{"id": i.id, "system": i.system, "started_at": i.started_at,
                    "voided_at": e.at if e else None, "voided_by": e.actor if e else None,
                    "reason": e.payload.get("reason") if e else None} for i, e in voids],
    }
    if surveys is not None:
        add_satisfaction(report, config, surveys, fy, system, comments=comments)
    return sign_off(report, config.policies.reports)


@with_config
def _run(args: argparse.Namespace, config: Config) -> int:
    if args.system and not any(s.name == args.system for s in config.systems):
        raise UsageError(f"unknown system {args.system!r}")
    fmt = args.format or Path(args.output).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"cannot tell the format from {args.output!r}: give --format")
    now = args.at if args.at is not None else time.time()
    fy = args.fiscal_year or fiscal_year(now)
    try:
        ledger = Ledger.open(config.data_dir)
    except StoreError as err:
        raise Failed(str(err)) from err
    try:
        surveys = SurveyLedger.open(config, ledger.db)
        report = build_report(config, ledger, fy, now, args.system, surveys=surveys,
                              comments=args.comments)
        path = render(report, fmt, args.lang, args.output)
    except (RenderError, StoreError, ValueError) as err:
        raise Failed(str(err)) from err
    finally:
        ledger.close()
    print(path)
    return EXIT_OK


def add_report_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from upkeep.policies.cmd_incidents import parse_when
    from upkeep.policies.report_args import fiscal_year_arg

    parser = kinds.add_parser("kpi", help="the outage-recovery KPI of a fiscal year")
    add_config_arg(parser)
    parser.add_argument("--fiscal-year", type=fiscal_year_arg, metavar="BE",
                        help="Buddhist-Era fiscal year, e.g. 2568 (default: the current one)")
    parser.add_argument("--system", help="only this system")
    parser.add_argument("--format", choices=FORMATS,
                        help="csv, xlsx, pdf or json (default: from the -o file's extension)")
    parser.add_argument("--lang", choices=["th", "en"], default="th")
    parser.add_argument("-o", "--output", required=True, metavar="FILE")
    parser.add_argument("--at", type=parse_when, metavar="WHEN",
                        help="report as of this time (open incidents count to it; default now)")
    parser.add_argument("--comments", action="store_true",
                        help="print survey respondents' comments (may contain personal data)")
    parser.set_defaults(func=_run)
