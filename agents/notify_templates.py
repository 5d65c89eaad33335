"""Thai and English texts for power-event notifications (pure: no I/O).

``render(event, site, language)`` gives the title and body people read in a chat message, an
e-mail or a pager script; ``document(...)`` the JSON a webhook receives. Times are shown in
Asia/Bangkok, Thai dates in the Buddhist Era (``25 พ.ย. 2569 14:05:09``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from upkeep import events as ev
from upkeep.events import UPSMON_NAMES, Event
from upkeep.kit.thai import format_datetime, format_duration

Language = Literal["th", "en", "both"]

TITLES: Mapping[str, Mapping[str, str]] = {
    "en": {
        ev.ON_BATTERY: "UPS {ups} at site {site} is on battery",
        ev.ON_LINE: "UPS {ups} at site {site} is back on mains power",
        ev.LOW_BATTERY: "UPS {ups} at site {site}: battery is low",
        ev.REPLACE_BATTERY: "UPS {ups} at site {site}: battery needs replacing",
        ev.FORCED_SHUTDOWN: "UPS {ups} at site {site}: forced shutdown",
        ev.COMM_LOST: "Lost communication with UPS {ups} at site {site}",
        ev.COMM_RESTORED: "Communication with UPS {ups} at site {site} restored",
    },
    "th": {
        ev.ON_BATTERY: "UPS {ups} ที่ {site} กำลังใช้ไฟจากแบตเตอรี่",
        ev.ON_LINE: "UPS {ups} ที่ {site} กลับมาใช้ไฟฟ้าหลักแล้ว",
        ev.LOW_BATTERY: "UPS {ups} ที่ {site}: แบตเตอรี่ใกล้หมด",
        ev.REPLACE_BATTERY: "UPS {ups} ที่ {site}: ต้องเปลี่ยนแบตเตอรี่",
        ev.FORCED_SHUTDOWN: "UPS {ups} ที่ {site}: กำลังปิดระบบแบบบังคับ",
        ev.COMM_LOST: "ติดต่อ UPS {ups} ที่ {site} ไม่ได้",
        ev.COMM_RESTORED: "ติดต่อ UPS {ups} ที่ {site} ได้อีกครั้ง",
    },
}

ADVICE: Mapping[str, Mapping[str, str]] = {
    "en": {
        ev.ON_BATTERY: "Mains power has failed. Servers keep running only as long as the "
                       "battery lasts.",
        ev.ON_LINE: "Mains power is back. The battery is recharging.",
        ev.LOW_BATTERY: "Connected servers are about to shut down.",
        ev.REPLACE_BATTERY: "Order a replacement battery; it may not carry the load in the "
                            "next outage.",
        ev.FORCED_SHUTDOWN: "Every server on this UPS is being shut down.",
        ev.COMM_LOST: "The power state of this UPS is unknown until communication returns.",
        ev.COMM_RESTORED: "The agent reads the UPS again.",
    },
    "th": {
        ev.ON_BATTERY: "ไฟฟ้าหลักดับ เครื่องแม่ข่ายจะทำงานได้เท่าที่แบตเตอรี่เหลือ",
        ev.ON_LINE: "ไฟฟ้าหลักกลับมาแล้ว แบตเตอรี่กำลังชาร์จ",
        ev.LOW_BATTERY: "เครื่องที่ต่ออยู่กำลังจะปิดตัว",
        ev.REPLACE_BATTERY: "ควรจัดหาแบตเตอรี่ใหม่ แบตเตอรี่เดิมอาจจ่ายไฟไม่ไหวเมื่อไฟดับครั้งถัดไป",
        ev.FORCED_SHUTDOWN: "เครื่องทุกเครื่องที่ใช้ UPS นี้กำลังถูกปิด",
        ev.COMM_LOST: "ไม่ทราบสถานะไฟฟ้าของ UPS นี้จนกว่าจะติดต่อได้อีกครั้ง",
        ev.COMM_RESTORED: "agent อ่านข้อมูล UPS ได้ตามปกติแล้ว",
    },
}

_LABELS = {
    "en": {"time": "Time", "charge": "Battery charge", "runtime": "Runtime left",
           "status": "Status", "reason": "Reason", "zone": "(Bangkok time)"},
    "th": {"time": "เวลา", "charge": "ประจุแบตเตอรี่", "runtime": "เวลาสำรองที่เหลือ",
           "status": "สถานะ", "reason": "สาเหตุ", "zone": "(เวลาประเทศไทย)"},
}


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def _one(event: Event, site: str, lang: Literal["th", "en"]) -> Message:
    words = _LABELS[lang]
    title = TITLES[lang][event.kind].format(ups=event.ups, site=site)
    lines = [title, ADVICE[lang][event.kind],
             f"{words['time']}: {format_datetime(event.time, lang, seconds=True)} {words['zone']}"]
    details = event.details
    charge, runtime = details.get("battery_charge"), details.get("battery_runtime")
    if isinstance(charge, int | float):
        lines.append(f"{words['charge']}: {charge * 100:.0f}%")
    if isinstance(runtime, int | float):
        lines.append(f"{words['runtime']}: {format_duration(runtime, lang)}")
    if details.get("status"):
        lines.append(f"{words['status']}: {' '.join(map(str, details['status']))}")
    if details.get("reason"):
        reason = str(details["reason"])
        if details.get("message"):
            reason += f" ({details['message']})"
        lines.append(f"{words['reason']}: {reason}")
    return Message(title, "\n".join(lines))


def render(event: Event, site: str, language: Language) -> Message:
    """Title and body in Thai, English, or both (Thai first, then English)."""
    if language != "both":
        return _one(event, site, language)
    th, en = _one(event, site, "th"), _one(event, site, "en")
    return Message(f"{th.title} | {en.title}", f"{th.body}\n\n{en.body}")


def document(event: Event, site: str, language: Language) -> dict[str, Any]:
    """The webhook body: the event itself plus texts ready to show, in both languages."""
    message = render(event, site, language)
    th, en = _one(event, site, "th"), _one(event, site, "en")
    return {
        "version": "1",
        "source": "upkeep",
        "id": f"{site}:{event.id}",
        "site": site,
        "ups": event.ups,
        "event": event.kind,
        "upsmon": UPSMON_NAMES[event.kind],
        "severity": event.severity,
        "time": datetime.fromtimestamp(event.time, UTC).isoformat(),
        "details": dict(event.details),
        "title": message.title,
        "text": message.body,
        "th": {"title": th.title, "text": th.body},
        "en": {"title": en.title, "text": en.body},
    }
