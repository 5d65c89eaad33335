"""The user-satisfaction part of ``upkeep report kpi``: the second indicator of plan projects
3, 4 and 6, per system and per website, next to the outage-recovery KPI.

Sections: the level per subject (respondents, percentage, level, the rule applied, the
survey's evidence digest), the mean of each question for imported surveys, the five-level
scale in force, and respondents' comments only when asked (they may contain personal data).
The scoring rule is printed as a footnote.
"""

from __future__ import annotations

from typing import Any

from upkeep.config import Config
from upkeep.kit.thai import format_datetime
from upkeep.policies.render import Cell, Column, Line, Report, Section, T, Table
from upkeep.policies.satisfaction import (
    RULE_TEXT,
    SatisfactionResult,
    percent_text,
    scale_for,
    scales_from_config,
)
from upkeep.policies.surveys import WEBSITE_PREFIX, Survey, SurveyLedger, grade, subject_title

SUBJECT_COLUMNS = [
    Column("subject", "ระบบ/เว็บไซต์", "System / website", 1.0),
    Column("title", "ชื่อ", "Title", 2.2),
    Column("respondents", "ผู้ตอบ (คน)", "Respondents", 0.9, "R"),
    Column("percent", "ร้อยละความพึงพอใจ", "Satisfaction %", 1.1, "R"),
    Column("level", "ระดับ", "Level", 0.9, "C"),
    Column("rule", "วิธีคำนวณ", "Rule", 1.0),
    Column("source", "ที่มา", "Source", 2.4),
]
QUESTION_COLUMNS = [
    Column("question", "ข้อคำถาม", "Question", 5.0),
    Column("answers", "จำนวนคำตอบ", "Answers", 1.0, "R"),
    Column("mean", "ค่าเฉลี่ย (เต็ม 5)", "Mean (of 5)", 1.0, "R"),
]
SCALE_COLUMNS = [
    Column("level", "ระดับ", "Level", 0.6, "C"),
    Column("criterion", "เกณฑ์", "Criterion", 4.0),
    Column("min_percent", "ไม่น้อยกว่า (ร้อยละ)", "At least (%)", 1.2, "R"),
]
RULE_NAMES = {"mean": T("ค่าเฉลี่ย ÷ 5", "mean ÷ 5"), "top2": T("ระดับ 4-5", "share 4-5"),
              "reported": T("ตามรายงาน", "as reported")}


def _level(result: SatisfactionResult) -> T | None:
    if result.level is None:
        return T("ยังไม่มีผลสำรวจ", "no survey") if result.survey_id is None else None
    if result.level == 0:
        return T("0 (ไม่ผ่าน)", "0 (not met)")
    return T(str(result.level), str(result.level))


def _source(survey: Survey | None) -> T | None:
    if survey is None:
        return None
    when_th = format_datetime(survey.recorded_at, "th")
    when_en = format_datetime(survey.recorded_at, "en")
    kind = (T("นำเข้าแบบสอบถาม", "survey import") if survey.source == "import"
            else T("บันทึกผลสรุป", "recorded aggregate"))
    digest = survey.sha256[:12]
    return T(f"{kind.th} {survey.evidence_name} (SHA-256 {digest}…) {when_th}",
             f"{kind.en} {survey.evidence_name} (SHA-256 {digest}…) {when_en}")


def report_subjects(config: Config, fy: int, latest: dict[tuple[str, int], Survey],
                    system: str | None) -> list[str]:
    if system is not None:
        return [system]
    names = [s.name for s in config.systems if s.kpi]
    names += [WEBSITE_PREFIX + w.name for w in config.websites]
    names += sorted(subject for subject, year in latest if year == fy and subject not in names)
    return names


def add_satisfaction(report: Report, config: Config, ledger: SurveyLedger, fy: int,
                     system: str | None = None, *, comments: bool = False) -> None:
    latest = ledger.latest(fy)
    rule = config.policies.satisfaction.rule
    rows: list[dict[str, Cell]] = []
    data: dict[str, Any] = {}
    graded: list[tuple[str, Survey | None, SatisfactionResult]] = []
    for subject in report_subjects(config, fy, latest, system):
        survey = latest.get((subject, fy))
        result = grade(config, survey, subject, fy)
        graded.append((subject, survey, result))
        rows.append({
            "subject": subject,
            "title": T(subject_title(config, subject, "th"), subject_title(config, subject, "en")),
            "respondents": result.respondents if survey else None,
            "percent": None if result.percent is None else float(percent_text(result.percent)),
            "level": _level(result),
            "rule": RULE_NAMES[result.rule] if survey else None, "source": _source(survey)})
        data[subject] = {
            "level": result.level, "ratio": result.ratio,
            "percent": None if result.percent is None else float(result.percent),
            "rule": result.rule, "respondents": result.respondents,
            "survey": None if survey is None else survey.to_json(comments=comments),
            "question_means": {} if survey is None else survey.question_means()}
    report.sections.append(Section(
        T("ผลตัวชี้วัดความพึงพอใจของผู้ใช้งาน รายระบบและเว็บไซต์",
          "User-satisfaction KPI per system and website"), Table(list(SUBJECT_COLUMNS), rows)))
    for subject, survey, _ in graded:
        if survey is None or not survey.histogram:
            continue
        means = survey.question_means()
        report.sections.append(Section(
            T(f"ค่าเฉลี่ยรายข้อ: {subject_title(config, subject, 'th')} ({subject})",
              f"Mean per question: {subject_title(config, subject, 'en')} ({subject})"),
            Table(list(QUESTION_COLUMNS), [
                {"question": question, "answers": sum(survey.histogram[question].values()),
                 "mean": None if mean is None else round(mean, 2)}
                for question, mean in means.items()]),
            [T(f"ผู้ตอบ {survey.respondents} คน; คำตอบที่เว้นว่าง {survey.blank_answers}; "
               f"แถวที่ไม่นำเข้า {len(survey.rejected)}",
               f"{survey.respondents} respondents; {survey.blank_answers} blank answers; "
               f"{len(survey.rejected)} rows not imported")]))
    scale = scale_for(fy, scales_from_config(config.policies.satisfaction))
    report.sections.append(Section(
        T("เกณฑ์ตัวชี้วัดความพึงพอใจ 5 ระดับ (แผนปฏิบัติการดิจิทัล)",
          "The five-level satisfaction scale (Digital Action Plan)"),
        Table(list(SCALE_COLUMNS), [
            {"level": level,
             "criterion": T(f"ผู้ใช้งานพึงพอใจไม่น้อยกว่าร้อยละ {percent_text(minimum)}",
                            f"users satisfied at least {percent_text(minimum)} %"),
             "min_percent": float(minimum)}
            for level, minimum in sorted(scale.thresholds.items(), reverse=True)])))
    if comments:
        lines = [T(f"{subject}: {text}", f"{subject}: {text}")
                 for subject, survey, _ in graded if survey for text in survey.comments]
        report.sections.append(Section(
            T("ข้อเสนอแนะของผู้ตอบ (อาจมีข้อมูลส่วนบุคคล)",
              "Respondents' comments (may contain personal data)"), None,
            lines or [T("ไม่มีข้อเสนอแนะ", "no comments")]))
    surveyed = [r for _, s, r in graded if s is not None]
    report.summary.append(Line(T("ระบบ/เว็บไซต์ที่มีผลสำรวจความพึงพอใจ",
                                 "Systems / websites with a satisfaction survey"),
                               f"{len(surveyed)} / {len(graded)}"))
    th, en = RULE_TEXT[rule]
    report.footnotes.append(T(
        f"ความพึงพอใจ: {th}; ผลสรุปที่บันทึกเป็นค่าเฉลี่ยคิดด้วยค่าเฉลี่ย ÷ 5 × 100, "
        f"ที่บันทึกเป็นร้อยละใช้ตามรายงาน; ไม่ปัดเศษก่อนเทียบเกณฑ์ "
        f"(ต่ำกว่าร้อยละ {percent_text(scale.thresholds[1])} = ไม่ผ่าน); "
        "ใช้ผลสำรวจล่าสุดของแต่ละระบบในปีงบประมาณ",
        f"Satisfaction: {en}; a recorded mean scores as mean ÷ 5 × 100, a recorded "
        f"percentage is used as reported; no rounding before grading (below "
        f"{percent_text(scale.thresholds[1])} % = not met); the newest survey of each "
        "subject in the fiscal year counts"))
    report.data["satisfaction"] = {"rule": rule, "scale_from_fy": scale.valid_from_fy,
                                   "thresholds_percent": {str(k): float(v) for k, v in
                                                          scale.thresholds.items()},
                                   "subjects": data}
