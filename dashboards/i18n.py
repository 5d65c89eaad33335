"""Thai and English labels for the built-in UI, and dates in each language's calendar.

Thai shows Buddhist-Era dates (``25 พ.ย. 2569``) and English the Common Era
(``25 Nov 2026``), both in Bangkok time: the formatting itself is ``upkeep.kit.thai``'s,
the one place those rules live. A label missing in Thai falls back to English (never to the
key), and a test checks both tables have the same keys.
"""

from __future__ import annotations

from datetime import date as _date
from typing import Literal

from upkeep.kit import thai

Lang = Literal["th", "en"]
LANGS: tuple[Lang, ...] = ("th", "en")

#: key -> (English, Thai)
LABELS: dict[str, tuple[str, str]] = {
    "app": ("upkeep", "upkeep"),
    "site": ("Site", "ไซต์"),
    "nav.overview": ("Overview", "ภาพรวม"),
    "nav.ups": ("UPS", "UPS"),
    "nav.hosts": ("Hosts", "เครื่องแม่ข่าย"),
    "nav.websites": ("Websites & certificates", "เว็บไซต์และใบรับรอง"),
    "nav.incidents": ("Incidents & KPI", "เหตุขัดข้องและ KPI"),
    "nav.checklist": ("Security checklist", "รายการตรวจความมั่นคงปลอดภัย"),
    "nav.assets": ("Assets & end of life", "ครุภัณฑ์และการหมดอายุ"),
    "skip": ("Skip to content", "ข้ามไปยังเนื้อหา"),
    "language": ("Language", "ภาษา"),
    "updated": ("Updated", "ปรับปรุงเมื่อ"),
    "refresh_every": ("refreshes every {n} s", "รีเฟรชทุก {n} วินาที"),
    "refresh_failed": ("Refresh failed; retrying", "รีเฟรชไม่สำเร็จ กำลังลองใหม่"),
    "problems": ("What is wrong now", "ปัญหาที่เกิดขึ้นขณะนี้"),
    "no_problems": ("Nothing is wrong right now.", "ขณะนี้ทุกอย่างปกติ"),
    "healthy": ("Healthy", "ปกติ"),
    "on_battery": ("On battery", "ใช้ไฟจากแบตเตอรี่"),
    "low_battery": ("Low battery", "แบตเตอรี่ต่ำ"),
    "replace_battery": ("Replace battery", "ควรเปลี่ยนแบตเตอรี่"),
    "target_down": ("Not answering", "ไม่ตอบสนอง"),
    "system_down": ("System down", "ระบบหยุดทำงาน"),
    "service_down": ("Service check failing", "บริการไม่ตอบสนอง"),
    "cert_expiring": ("Certificate expires soon", "ใบรับรองใกล้หมดอายุ"),
    "cert_expired": ("Certificate expired", "ใบรับรองหมดอายุแล้ว"),
    "control_failing": ("Control not met", "มาตรการยังไม่ผ่าน"),
    "open_incident": ("Open incident", "เหตุขัดข้องที่ยังไม่ปิด"),
    "not_available": ("Not available in this agent yet: {what}.",
                      "ส่วนนี้ยังไม่พร้อมใช้งานในเอเจนต์นี้: {what}"),
    "none_configured": ("None configured.", "ยังไม่ได้กำหนดค่า"),
    "no_systems": ("No systems are configured, so there is no KPI to grade: add them under "
                   "systems: in the configuration.",
                   "ยังไม่ได้กำหนดระบบงาน จึงยังไม่มี KPI ให้ประเมิน: เพิ่มได้ที่หัวข้อ systems: "
                   "ในไฟล์ตั้งค่า"),
    "name": ("Name", "ชื่อ"),
    "kind": ("Kind", "ประเภท"),
    "status": ("Status", "สถานะ"),
    "reason": ("Reason", "สาเหตุ"),
    "last_seen": ("Last success", "สำเร็จครั้งล่าสุด"),
    "never": ("never", "ไม่เคย"),
    "charge": ("Charge", "ประจุแบตเตอรี่"),
    "runtime": ("Runtime", "เวลาสำรองไฟ"),
    "load": ("Load", "โหลด"),
    "battery_installed": ("Battery installed", "ติดตั้งแบตเตอรี่"),
    "battery_age": ("Battery age", "อายุแบตเตอรี่"),
    "selftest": ("Self-test", "ผลทดสอบตัวเอง"),
    "model": ("Model", "รุ่น"),
    "serial": ("Serial", "หมายเลขเครื่อง"),
    "events": ("Power events", "เหตุการณ์ไฟฟ้า"),
    "time": ("Time", "เวลา"),
    "event": ("Event", "เหตุการณ์"),
    "no_events": ("No power events recorded.", "ไม่มีเหตุการณ์ไฟฟ้า"),
    "hostname": ("Host name", "ชื่อเครื่อง"),
    "os": ("Operating system", "ระบบปฏิบัติการ"),
    "load1": ("Load (1 min)", "โหลด (1 นาที)"),
    "memory_available": ("Memory available", "หน่วยความจำว่าง"),
    "booted": ("Booted", "เปิดเครื่องเมื่อ"),
    "filesystems": ("Filesystems", "ระบบไฟล์"),
    "mountpoint": ("Mount point", "จุดเมานต์"),
    "used": ("Used", "ใช้ไปแล้ว"),
    "services": ("Service checks", "การตรวจบริการ"),
    "website": ("Website", "เว็บไซต์"),
    "url": ("URL", "URL"),
    "up": ("Up", "ทำงาน"),
    "down": ("Down", "หยุดทำงาน"),
    "http_status": ("HTTP status", "สถานะ HTTP"),
    "cert_expires": ("Certificate expires", "ใบรับรองหมดอายุ"),
    "days_left": ("Days left", "เหลืออีก (วัน)"),
    "tls_versions": ("TLS versions accepted", "TLS ที่ยอมรับ"),
    "ipv6": ("IPv6", "IPv6"),
    "problems_col": ("Problems", "ปัญหา"),
    "kpi_table": ("KPI levels (time to restore)", "ระดับ KPI (ระยะเวลาแก้ไขให้กลับมาใช้งานได้)"),
    "level": ("Level", "ระดับ"),
    "within": ("Restored within", "แก้ไขได้ภายใน"),
    "hours": ("{n} hours", "{n} ชั่วโมง"),
    "days": ("{n} days", "{n} วัน"),
    "system": ("System", "ระบบ"),
    "fiscal_year": ("Fiscal year", "ปีงบประมาณ"),
    "worst": ("Worst outage", "เหตุขัดข้องนานที่สุด"),
    "incidents": ("Incidents", "เหตุขัดข้อง"),
    "no_incidents": ("No incidents recorded.", "ไม่มีเหตุขัดข้อง"),
    "started": ("Started", "เริ่ม"),
    "restored": ("Restored", "กลับมาใช้งานได้"),
    "duration": ("Duration", "ระยะเวลา"),
    "acknowledged": ("Acknowledged", "รับทราบแล้ว"),
    "open": ("open", "ยังไม่ปิด"),
    "cause": ("Cause", "สาเหตุ"),
    "control": ("Control", "มาตรการ"),
    "evidence": ("Evidence", "หลักฐาน"),
    "valid_until": ("Valid until", "ใช้ได้ถึง"),
    "next_step": ("What to do next", "สิ่งที่ต้องทำต่อ"),
    "checklist_level": ("Security plan level (project 11)", "ระดับความสำเร็จ (โครงการที่ 11)"),
    "asset": ("Asset", "ครุภัณฑ์"),
    "class": ("Class", "ประเภท"),
    "in_service": ("In service since", "เริ่มใช้งาน"),
    "end_of_life": ("End of life", "หมดอายุการใช้งาน"),
    "state": ("State", "สถานะ"),
    "reports": ("Reports", "รายงาน"),
    "report.status": ("Current status", "สถานะปัจจุบัน"),
    "download": ("Download", "ดาวน์โหลด"),
    "actions": ("Actions (need the API token)", "การดำเนินการ (ต้องใช้โทเค็น API)"),
    "token": ("API token", "โทเค็น API"),
    "token_help": ("Kept in this browser tab only (sessionStorage).",
                   "เก็บไว้เฉพาะในแท็บนี้ (sessionStorage)"),
    "save_token": ("Use token", "ใช้โทเค็น"),
    "forget_token": ("Forget token", "ลืมโทเค็น"),
    "by": ("Your name", "ชื่อผู้ดำเนินการ"),
    "note": ("Note", "บันทึก"),
    "incident_id": ("Incident number", "หมายเลขเหตุขัดข้อง"),
    "ack": ("Acknowledge", "รับทราบ"),
    "annotate": ("Add note", "เพิ่มบันทึก"),
    "maintenance": ("Add maintenance window", "เพิ่มช่วงบำรุงรักษา"),
    "start": ("Start", "เริ่ม"),
    "end": ("End", "สิ้นสุด"),
    "attest": ("Attest control", "รับรองมาตรการ"),
    "evidence_url": ("Evidence URL", "URL หลักฐาน"),
    "import_assets": ("Import assets (CSV or XLSX)", "นำเข้าครุภัณฑ์ (CSV หรือ XLSX)"),
    "file": ("File", "ไฟล์"),
    "submit": ("Submit", "ส่ง"),
    "done": ("Recorded.", "บันทึกแล้ว"),
    "refused": ("Refused", "ถูกปฏิเสธ"),
    "yes": ("yes", "ใช่"),
    "no": ("no", "ไม่"),
    "unknown": ("unknown", "ไม่ทราบ"),
    "years": ("{n} years", "{n} ปี"),
    "ev.on_battery": ("On battery", "ใช้ไฟจากแบตเตอรี่"),
    "ev.on_line": ("Back on line power", "กลับมาใช้ไฟหลัก"),
    "ev.low_battery": ("Low battery", "แบตเตอรี่ต่ำ"),
    "ev.replace_battery": ("Replace battery", "ควรเปลี่ยนแบตเตอรี่"),
    "ev.forced_shutdown": ("Forced shutdown", "สั่งปิดเครื่องฉุกเฉิน"),
    "ev.comm_lost": ("Communication lost", "ขาดการติดต่อ"),
    "ev.comm_restored": ("Communication restored", "กลับมาติดต่อได้"),
    "st.pass": ("pass", "ผ่าน"),
    "st.fail": ("fail", "ไม่ผ่าน"),
    "st.partial": ("partial", "ผ่านบางส่วน"),
    "st.manual-pending": ("awaiting attestation", "รอการรับรอง"),
    "st.expired": ("expired", "หมดอายุ"),
    "st.not-applicable": ("not applicable", "ไม่เกี่ยวข้อง"),
    "st.error": ("error", "ผิดพลาด"),
    "as.overdue": ("overdue", "เกินกำหนดแล้ว"),
    "as.due_in_fy": ("due this fiscal year", "ครบกำหนดในปีงบประมาณนี้"),
    "as.next_fy": ("due next fiscal year", "ครบกำหนดปีงบประมาณหน้า"),
    "as.later": ("in service", "ใช้งานอยู่"),
    "as.unknown": ("unknown", "ไม่ทราบ"),
    "office": ("Whole office", "ภาพรวมหน่วยงาน"),
    "review": ("needs review", "ต้องตรวจสอบ"),
    "days_ago": ("{n} days ago", "เมื่อ {n} วันก่อน"),
    "fy": ("fiscal year {n} BE", "ปีงบประมาณ พ.ศ. {n}"),
    "selftest.passed": ("passed", "ผ่าน"),
    "selftest.warning": ("warning", "มีคำเตือน"),
    "selftest.failed": ("failed", "ไม่ผ่าน"),
    "selftest.aborted": ("aborted", "ยกเลิก"),
    "selftest.in_progress": ("in progress", "กำลังทดสอบ"),
    "selftest.none": ("never run", "ยังไม่เคยทดสอบ"),
    "selftest.unknown": ("unknown", "ไม่ทราบ"),
}


def label(key: str, lang: Lang, **values: object) -> str:
    en, th = LABELS.get(key, (key, ""))
    text = (th or en) if lang == "th" else en
    return text.format(**values) if values else text


def date(when: float | _date | str | None, lang: Lang) -> str:
    """A date in the language's calendar (Thai: Buddhist Era), or a dash.

    Accepts Unix seconds, a ``date`` or an ISO ``YYYY-MM-DD`` string (as the API gives)."""
    if when is None or when == "":
        return "–"
    if isinstance(when, str):
        try:
            when = _date.fromisoformat(when[:10])
        except ValueError:
            return str(when)
    if isinstance(when, _date):
        return str(thai.format_date(when, lang))
    return str(thai.format_date(float(when), lang))


def datetime(when: float | None, lang: Lang) -> str:
    if when is None:
        return "–"
    return str(thai.format_datetime(float(when), lang))


def duration(seconds: float | None, lang: Lang) -> str:
    if seconds is None:
        return "–"
    return str(thai.format_duration(seconds, lang))


def fiscal_year(when: float, lang: Lang) -> str:
    return str(thai.fiscal_year_label(thai.fiscal_year(when), lang))


def pick_lang(query: str | None, cookie: str | None, accept: str) -> Lang:
    """Explicit choice first (the switch), then the remembered one, then the browser's."""
    for candidate in (query, cookie):
        if candidate in LANGS:
            return "th" if candidate == "th" else "en"
    return "th" if accept.lower().startswith("th") else "en"
