"""Thai and English labels for the built-in UI, and dates in each language's calendar.

Thai shows Buddhist-Era dates (``25 พ.ย. 2569``) and English the Common Era
(``25 Nov 2026``), both in Bangkok time: the formatting itself is ``upkeep.kit.thai``'s,
the one place those rules live. The words themselves are in ``upkeep.kit.messages``, the one
Thai/English catalogue the UI shares with the reports and notifications.
"""

from __future__ import annotations

from datetime import date as _date

from upkeep.kit import messages, thai
from upkeep.kit.messages import Lang as Lang  # re-exported for the pages

LANGS: tuple[Lang, ...] = ("th", "en")


def label(key: str, lang: Lang, **values: object) -> str:
    """A UI text from the shared catalogue (``upkeep.kit.messages``)."""
    return messages.text(key, lang, **values)


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
