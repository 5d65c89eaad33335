"""Thai and English texts for power-event notifications (pure: no I/O).

``render(event, site, language)`` gives the title and body people read in a chat message, an
e-mail or a pager script; ``document(...)`` the JSON a webhook receives. Times are shown in
Asia/Bangkok, Thai dates in the Buddhist Era (``25 พ.ย. 2569 14:05:09``). The words are the
``notify.*`` entries of the shared catalogue (``upkeep.kit.messages``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from upkeep.events import UPSMON_NAMES, Event
from upkeep.kit.messages import text
from upkeep.kit.thai import format_datetime, format_duration

Language = Literal["th", "en", "both"]

@dataclass(frozen=True)
class Message:
    title: str
    body: str


def _one(event: Event, site: str, lang: Literal["th", "en"]) -> Message:
    def words(key: str) -> str:
        return text(f"notify.{key}", lang)

    title = text(f"notify.title.{event.kind}", lang, ups=event.ups, site=site)
    lines = [title, words(f"advice.{event.kind}"),
             f"{words('time')}: {format_datetime(event.time, lang, seconds=True)} {words('zone')}"]
    details = event.details
    charge, runtime = details.get("battery_charge"), details.get("battery_runtime")
    if isinstance(charge, int | float):
        lines.append(f"{words('charge')}: {charge * 100:.0f}%")
    if isinstance(runtime, int | float):
        lines.append(f"{words('runtime')}: {format_duration(runtime, lang)}")
    if details.get("status"):
        lines.append(f"{words('status')}: {' '.join(map(str, details['status']))}")
    if details.get("reason"):
        reason = str(details["reason"])
        if details.get("message"):
            reason += f" ({details['message']})"
        lines.append(f"{words('reason')}: {reason}")
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
