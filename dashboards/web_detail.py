"""Detail pages of one UPS, one website, one host: today's facts and their trends.

The charts read the agent's own history (``upkeep.policies.history``) through
``agent.service(HistoryService)``; on-battery bands come from the recorded power events
(exact times, not minute samples). A part that is not running shows as "not available" and
the facts above it still show.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from markupsafe import Markup

from upkeep.dashboards import charts
from upkeep.dashboards import web_data as data
from upkeep.dashboards.i18n import Lang, label
from upkeep.dashboards.i18n import datetime as fdatetime
from upkeep.dashboards.i18n import duration as fduration
from upkeep.dashboards.web_pages import badge, findings_text, html, join, ups_summary
from upkeep.events import PowerEventLog
from upkeep.parts import PartMissing
from upkeep.policies.history import RANGES, HistoryService

if TYPE_CHECKING:
    from upkeep.kit.agent import AgentView as Agent

#: page -> the reading kinds it shows
KINDS = {"ups": data.UPS_KINDS, "websites": data.WEB_KINDS, "hosts": ("host",)}


def href(page: str, name: str, range_name: str = "24h", lang: Lang | None = None) -> str:
    query = [f"range={range_name}"] if range_name != "24h" else []
    if lang is not None:
        query.append(f"lang={lang}")
    return f"/ui/{page}/{quote(name, safe='')}" + ("?" + "&".join(query) if query else "")


def find(agent: Agent, page: str, name: str) -> data.Row | None:
    rows = data.ups_rows(agent) if page == "ups" else data.rows(agent, KINDS[page])
    return next((r for r in rows if r.name == name), None)


def _range_links(page: str, name: str, chosen: str, lang: Lang) -> Markup:
    links = join(html('<a href="{}"{}>{}</a>', href(page, name, r, lang),
                      Markup(' aria-current="true"') if r == chosen else Markup(),
                      label(f"range.{r}", lang)) for r in RANGES)
    return html('<p class="ranges" role="group" aria-label="{}">{}</p>',
                label("chart.range", lang), links)


def _facts(items: Sequence[tuple[str, object]]) -> Markup:
    return html('<dl class="facts">{}</dl>',
                join(html("<div><dt>{}</dt><dd>{}</dd></div>", k, v) for k, v in items))


def _charts(agent: Agent, row: data.Row, range_name: str, lang: Lang,
            wanted: Sequence[tuple[str, str, Callable[[float], str], float | None,
                                   float | None, float]],
            bands: Sequence[charts.Band] = ()) -> Markup:
    """``wanted``: (series, title, formatter, floor, ceiling, scale) per chart."""
    try:
        service = agent.service(HistoryService)
    except PartMissing as err:
        return html('<p class="missing" role="note">{}</p>',
                    label("history_missing", lang, what=str(err)))
    now = time.time()
    out = []
    for i, (series, title, fmt, floor, ceiling, scale) in enumerate(wanted):
        window = service.points(row.kind, row.name, series, range_name, now)
        points = [(t, v * scale) for t, v in window.points]
        out.append(charts.line_chart(
            title=title, points=points, start=window.start, end=window.end, step=window.step,
            lang=lang, fmt=fmt, bands=bands, floor=floor, ceiling=ceiling,
            chart_id=f"chart-{i}-{series.replace(':', '-').replace('/', '_')}"))
    return join(out)


def _number(decimals: int) -> Callable[[float], str]:
    return lambda v: f"{v:.{decimals}f}"


def _battery_bands(agent: Agent, name: str, start: float, end: float,
                   lang: Lang) -> list[charts.Band]:
    try:
        log = agent.service(PowerEventLog)
    except PartMissing:
        return []
    # a stretch may have begun before the window: look back a month for its start
    events = log.events(ups=[name], since=start - 30 * 86400, limit=1000)
    periods = charts.battery_periods(((e.time, e.kind) for e in events), end)
    return [charts.Band(a, b, label("chart.band", lang, start=fdatetime(a, lang),
                                    end=fdatetime(b, lang), n=fduration(b - a, lang)))
            for a, b in periods if b >= start]


def ups(agent: Agent, name: str, range_name: str, lang: Lang) -> Markup | None:
    row = find(agent, "ups", name)
    if row is None:
        return None
    info = row.ups
    span = RANGES[range_name][0]
    now = time.time()
    facts: list[tuple[str, object]] = [
        (label("status", lang), badge(row.ok and info is not None and "OB" not in info["status"],
                                      ups_summary(info, lang) if info
                                      else f"{row.reason}: {row.message}")),
        (label("last_seen", lang), fdatetime(row.last_success, lang) if row.last_success
         else label("never", lang))]
    if info is not None:
        facts += [(label("model", lang), f"{info['mfr']} {info['model']}".strip() or "–"),
                  (label("serial", lang), info["serial"] or "–")]
    bands = _battery_bands(agent, name, now - span, now, lang)
    wanted = [("charge", label("series.charge", lang), _number(0), 0.0, 100.0, 100.0),
              ("input_voltage", label("series.input_voltage", lang), _number(0), None, None,
               1.0),
              ("runtime", label("series.runtime", lang), _number(0), 0.0, None, 1 / 60),
              ("load", label("series.load", lang), _number(0), 0.0, 100.0, 100.0)]
    return join([html("<h2>{}</h2>", name), _facts(facts),
                 html("<h2>{}</h2>", label("trends", lang)),
                 _range_links("ups", name, range_name, lang),
                 _charts(agent, row, range_name, lang, wanted, bands)])


def website(agent: Agent, name: str, range_name: str, lang: Lang) -> Markup | None:
    row = find(agent, "websites", name)
    if row is None:
        return None
    findings = data.web_findings(row) if row.ok else []
    state = badge(False, label("down", lang)) if not row.ok else (
        badge(None, label("warning", lang)) if findings else badge(True, label("up", lang)))
    days = data.cert_days_left(row)
    facts: list[tuple[str, object]] = [
        (label("status", lang), state), ("URL", row.web.get("url", "")),
        (label("days_left", lang), f"{days:.0f}" if days is not None else "–"),
        (label("problems_col", lang), findings_text(findings, lang) if findings
         else (row.message if not row.ok else "–"))]
    wanted = [("up_ipv4", label("series.up", lang, what="IPv4"), _number(0), 0.0, 1.0, 1.0),
              ("up_ipv6", label("series.up", lang, what="IPv6"), _number(0), 0.0, 1.0, 1.0),
              ("response_seconds", label("series.response_seconds", lang), _number(2), 0.0,
               None, 1.0),
              ("cert_days", label("series.cert_days", lang), _number(0), 0.0, None, 1.0)]
    return join([html("<h2>{}</h2>", name), _facts(facts),
                 html("<h2>{}</h2>", label("trends", lang)),
                 _range_links("websites", name, range_name, lang),
                 _charts(agent, row, range_name, lang, wanted),
                 audit_section(agent, name, lang)])


#: at most this many messages of each page are listed (the API has them all)
AUDIT_ROWS = 50


def audit_section(agent: Agent, name: str, lang: Lang) -> Markup:
    """The latest standards audit of the website (kind ``audit``): per page the counts, then
    each HTML message with its line and each accessibility violation with its selectors."""
    state = agent.store.get("audit", name)
    head = html("<h2>{}</h2>", label("audit.title", lang))
    if state is None or not state.latest.info.get("pages"):
        message = state.latest.message if state is not None and state.latest.message else ""
        return join([head, html('<p class="missing" role="note">{}</p>',
                                message or label("audit.none", lang))])
    info = state.latest.info
    summary = (info.get("summary") or {}).get(lang if lang in ("th", "en") else "en", "")
    parts = [head, _facts([(label("audit.when", lang),
                            fdatetime(float(info.get("audited_at") or state.latest.time), lang)),
                           (label("status", lang), badge(state.latest.ok, summary))])]
    rows = []
    for page, result in info["pages"].items():
        html_part = result.get("html") or {}
        a11y = result.get("accessibility") or {}
        thai = result.get("thai") or {}
        if result.get("reason"):
            not_run = label("audit.not_run", lang, why=result.get("message") or result["reason"])
            rows.append(html("<tr><th scope=\"row\">{}</th><td colspan=\"3\">{}</td></tr>",
                             page, not_run))
            continue
        rows.append(html(
            "<tr><th scope=\"row\"><a href=\"{}\">{}</a></th><td>{}</td><td>{}</td><td>{}</td></tr>",
            result.get("url", ""), page,
            label("audit.not_run", lang, why=html_part["reason"]) if html_part.get("reason")
            else f"{html_part.get('errors', 0)} / {html_part.get('warnings', 0)}",
            label("audit.not_run", lang, why=a11y["reason"]) if a11y.get("reason")
            else str(sum((a11y.get("impacts") or {}).values())),
            badge(bool(thai.get("ok", True)),
                  "; ".join(thai.get("problems") or ()) or label("up", lang))))
    parts.append(html(
        '<table><thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th>'
        '<th scope="col">{}</th></tr></thead><tbody>{}</tbody></table>',
        label("audit.page", lang), label("audit.html", lang), label("audit.a11y", lang),
        label("audit.thai", lang), join(rows)))
    for page, result in info["pages"].items():
        messages = list((result.get("html") or {}).get("messages") or ())[:AUDIT_ROWS]
        violations = list((result.get("accessibility") or {}).get("violations") or ())
        if messages:
            parts.append(html(
                '<table class="audit"><caption>{} — HTML</caption><thead><tr><th scope="col">{}'
                '</th><th scope="col">{}</th></tr></thead><tbody>{}</tbody></table>',
                page, label("audit.where", lang), label("audit.message", lang),
                join(html("<tr><td>{}:{}</td><td>{} {}</td></tr>", m.get("line") or "–",
                          m.get("column") or "–", m.get("type", ""), m.get("message", ""))
                     for m in messages)))
        if violations:
            parts.append(html(
                '<table class="audit"><caption>{} — {}</caption><thead><tr><th scope="col">{}'
                '</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>{}'
                "</tbody></table>",
                page, label("audit.a11y", lang), label("audit.rule", lang),
                label("audit.impact", lang), label("audit.where", lang),
                join(html("<tr><td>{} — {}</td><td>{}</td><td>{}</td></tr>", v.get("id", ""),
                          v.get("help", ""), v.get("impact") or "–",
                          ", ".join(" ".join(map(str, n.get("target") or ()))
                                    for n in list(v.get("nodes") or ())[:10]))
                     for v in violations[:AUDIT_ROWS])))
    return join(parts)


def host(agent: Agent, name: str, range_name: str, lang: Lang) -> Markup | None:
    row = find(agent, "hosts", name)
    if row is None:
        return None
    facts: list[tuple[str, object]] = [
        (label("status", lang), badge(row.ok, label("up" if row.ok else "down", lang))),
        (label("hostname", lang), row.info.get("hostname") or "–"),
        (label("os", lang), row.info.get("os") or "–")]
    wanted: list[tuple[str, str, Callable[[float], str], float | None, float | None, float]] = [
        ("cpu", label("series.cpu", lang), _number(0), 0.0, 100.0, 100.0),
        ("memory", label("series.memory", lang), _number(0), 0.0, 100.0, 100.0)]
    for fs in list(row.info.get("filesystem_list") or ())[:8]:
        mount = str(fs.get("mountpoint", ""))
        wanted.append((f"fs:{mount}", label("series.fs", lang, what=mount), _number(0), 0.0,
                       100.0, 100.0))
    return join([html("<h2>{}</h2>", name), _facts(facts),
                 html("<h2>{}</h2>", label("trends", lang)),
                 _range_links("hosts", name, range_name, lang),
                 _charts(agent, row, range_name, lang, wanted)])


DETAILS: dict[str, Callable[[Agent, str, str, Lang], Markup | None]] = {
    "ups": ups, "websites": website, "hosts": host}
