"""The UI pages as HTML fragments (the live part that auto-refresh swaps in).

HTML is built only from ``Markup`` (markupsafe, as Jinja2's autoescape): ``html(template,
*values)`` escapes every value that is not already ``Markup``, ``table()`` escapes every cell
and heading, and pieces are joined with ``join()``, which escapes any plain ``str``. Target
names, messages and UPS strings come from devices and config; forgetting to escape them shows
the tags as text instead of running them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from markupsafe import Markup, escape

from upkeep.dashboards import web_data as data
from upkeep.dashboards import web_parts as parts
from upkeep.dashboards.i18n import Lang, label
from upkeep.dashboards.i18n import date as fdate
from upkeep.dashboards.i18n import datetime as fdatetime
from upkeep.dashboards.i18n import duration as fduration

if TYPE_CHECKING:
    from upkeep.kit.agent import AgentView as Agent
    from upkeep.readings import UpsInfo


def e(value: object) -> Markup:
    return escape("" if value is None else str(value))


def html(template: str, *values: object) -> Markup:
    """``template`` (literal markup) with each ``{}`` filled by an escaped value."""
    return Markup(template).format(*(e(v) if not isinstance(v, Markup) else v
                                     for v in values))


def join(parts: Iterable[object], sep: str = "") -> Markup:
    """Pieces joined; a plain ``str`` among them is escaped, never taken as markup."""
    return Markup(sep).join(v if isinstance(v, Markup) else e(v) for v in parts)


def table(caption: object, headers: Sequence[object], body: Iterable[Sequence[object]],
          cls: str = "") -> Markup:
    """A table; plain cells and headings are escaped, ``Markup`` cells kept."""
    head = join(html('<th scope="col">{}</th>', h) for h in headers)
    rows = join(html("<tr>{}</tr>", join(html("<td>{}</td>", c) for c in row)) for row in body)
    return html('<div class="scroll"><table class="{}"><caption>{}</caption>'
                "<thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>",
                cls, caption, head, rows)


def badge(ok: bool | None, text: str) -> Markup:
    cls = "ok" if ok else ("bad" if ok is False else "warn")
    return html('<span class="badge {}">{}</span>', cls, text)


def pct(value: Any) -> str:
    return f"{float(value) * 100:.0f}%" if isinstance(value, int | float) else "–"


def missing(what: str, lang: Lang) -> Markup:
    return html('<p class="missing" role="note">{}</p>', label("not_available", lang, what=what))


def findings_text(findings: Sequence[tuple[str, str]], lang: Lang) -> str:
    return "; ".join(label(key, lang, what=value) if value else label(key, lang)
                     for key, value in findings)


def ups_summary(info: UpsInfo, lang: Lang, now: float | None = None) -> str:
    """``ups_model.summary`` in the page's language: state, charge, runtime, load, age."""
    flags = set(info["status"])
    if "FSD" in flags:
        state = label("sum.forced_shutdown", lang)
    elif "OB" in flags:
        state = label("on_battery", lang) + (
            f", {label('sum.low', lang)}" if "LB" in flags else "")
    elif "OL" in flags:
        state = label("sum.on_line", lang)
    else:
        state = label("sum.state_unknown", lang)
    out = [f"{state} ({' '.join(info['status']) or '-'})"]
    if info["battery_charge"] is not None:
        out.append(label("sum.charge", lang, n=pct(info["battery_charge"])))
    if info["battery_runtime"] is not None:
        out.append(label("sum.runtime", lang, n=fduration(info["battery_runtime"], lang)))
    if info["load"] is not None:
        out.append(label("sum.load", lang, n=pct(info["load"])))
    born = data.battery_born(info)
    if born is not None:
        years = ((time.time() if now is None else now) - born) / 31557600
        out.append(label("sum.battery_age", lang, n=f"{years:.1f}"))
    else:
        out.append(label("sum.battery_age_unknown", lang))
    if info["replace_needed"]:
        out.append(label("sum.replace", lang))
    return ", ".join(out)


# --- overview ----------------------------------------------------------------------------------

def overview(agent: Agent, lang: Lang) -> Markup:
    loaded = {"systems": parts.systems(agent), "checklist": parts.checklist(agent)}
    found = data.problems(agent, loaded)
    incidents = parts.incidents(agent)
    open_items = [i for i in (incidents.data or []) if i.get("open")] if incidents.available \
        else []
    out = [html('<section aria-labelledby="problems-h" class="problems">'
                '<h2 id="problems-h">{}</h2>', label("problems", lang))]
    if not found and not open_items:
        out.append(html('<p class="allgood">{}</p>', label("no_problems", lang)))
    else:
        out.append(Markup('<ul class="problem-list">'))
        for p in found:
            detail = p.detail
            if p.what == "cert_expiring":
                detail = label("days", lang, n=p.detail)
            elif p.what == "cert_expired":
                detail = label("days_ago", lang, n=p.detail)
            elif p.what == "control_failing":
                detail = label("st." + p.detail, lang)
            elif p.what == "web_warning":
                detail = findings_text(p.findings, lang)
            elif p.what == "on_battery" and p.ups is not None:
                detail = ups_summary(p.ups, lang)
            out.append(html('<li class="problem {}"><a href="{}"><strong>{}</strong> {}</a>{}</li>',
                            p.what, p.href, label(p.what, lang), p.subject,
                            html(" <span class=detail>{}</span>", detail) if detail
                            else Markup()))
        for item in open_items:
            out.append(html('<li class="problem open_incident"><a href="/ui/incidents">'
                            '<strong>{}</strong> {}</a> <span class="detail">{} {}</span></li>',
                            label("open_incident", lang), item.get("system"),
                            label("started", lang), fdatetime(item.get("started"), lang)))
        out.append(Markup("</ul>"))
    out.append(Markup("</section>"))
    problem_subjects = {p.subject for p in found}
    healthy = [r for r in data.rows(agent) if r.ok and r.name not in problem_subjects
               and f"{r.kind} {r.name}" not in problem_subjects]
    out.append(html('<section aria-labelledby="healthy-h"><h2 id="healthy-h">{} ({})</h2>'
                    '<ul class="chips">', label("healthy", lang), len(healthy)))
    for r in healthy:
        out.append(html('<li><a class="chip" href="{}"><span class="kind">{}</span> {}</a></li>',
                        data._page_of(r.kind), r.kind, r.name))
    out.append(Markup("</ul></section>"))
    return join(out)


# --- UPS ---------------------------------------------------------------------------------------

def ups(agent: Agent, lang: Lang) -> Markup:
    rows = data.ups_rows(agent)
    now = time.time()
    body: list[list[object]] = []
    for r in rows:
        i = r.info
        flags = data.ups_flags(r)
        ok = r.ok and "OB" not in flags and "LB" not in flags
        status = " ".join(flags) or (r.reason or label("unknown", lang))
        if "OB" in flags:
            status = f"{label('on_battery', lang)} ({status})"
        installed = i.get("battery_installed")
        born = data.battery_born(r.ups)
        age = label("years", lang, n=f"{(now - born) / 31557600:.1f}") \
            if born is not None else "–"
        runtime = i.get("battery_runtime")
        # a UPS that never answered has no facts: "unknown", never a reassuring "no"
        replace = (badge(None, label("unknown", lang)) if r.ups is None else
                   badge(not r.ups["replace_needed"],
                         label("yes" if r.ups["replace_needed"] else "no", lang)))
        body.append([
            html('<strong><a href="/ui/ups/{}">{}</a></strong>', quote(r.name, safe=""), r.name),
            badge(ok, status), pct(i.get("battery_charge")),
            fduration(runtime, lang) if isinstance(runtime, int | float) else "–",
            pct(i.get("load")), fdate(installed, lang) if installed else "–", age, replace,
            label(f"selftest.{i.get('selftest_result') or 'unknown'}", lang),
            " ".join(str(x) for x in (i.get("mfr"), i.get("model")) if x),
            i.get("serial", ""),
            fdatetime(r.last_success, lang) if r.last_success else label("never", lang)])
    cols = [label(k, lang) for k in ("name", "status", "charge", "runtime", "load",
                                     "battery_installed", "battery_age", "replace_battery",
                                     "selftest", "model", "serial", "last_seen")]
    out = [table(label("nav.ups", lang), cols, body, "wide") if rows
           else html("<p>{}</p>", label("none_configured", lang))]
    events = parts.events(agent)
    out.append(html("<h2>{}</h2>", label("events", lang)))
    if not events.available:
        out.append(missing(events.missing, lang))
    elif not events.data:
        out.append(html("<p>{}</p>", label("no_events", lang)))
    else:
        out.append(table(label("events", lang), [label("time", lang), "UPS",
                                                 label("event", lang)],
                         ([fdatetime(ev.get("time"), lang), ev.get("ups"),
                           badge(ev.get("severity") == "resolved" or None
                                 if ev.get("severity") != "critical" else False,
                                 label("ev." + str(ev.get("kind")), lang))]
                          for ev in events.data[:50])))
    return join(out)


# --- hosts -------------------------------------------------------------------------------------

def hosts(agent: Agent, lang: Lang) -> Markup:
    out: list[Markup] = []
    for r in data.rows(agent, ("host",)):
        i = r.info
        total, avail = i.get("memory_total_bytes"), i.get("memory_available_bytes")
        mem = pct(avail / total) if isinstance(total, int | float) and total and \
            isinstance(avail, int | float) else "–"
        load1 = i.get("load1")
        facts: list[tuple[str, object]] = [
            (label("status", lang), badge(r.ok, label("up" if r.ok else "down", lang))),
            (label("hostname", lang), i.get("hostname")), (label("os", lang), i.get("os")),
            (label("load1", lang), f"{load1:.2f}" if isinstance(load1, int | float) else "–"),
            (label("memory_available", lang), mem),
            (label("booted", lang), fdatetime(i.get("boot_time"), lang))]
        dl = join(html("<div><dt>{}</dt><dd>{}</dd></div>", k, v) for k, v in facts)
        out.append(html('<section class="card"><h2><a href="/ui/hosts/{}">{}</a></h2>'
                        '<dl class="facts">{}</dl>', quote(r.name, safe=""), r.name, dl))
        fs = i.get("filesystem_list") or []
        if fs:
            out.append(table(label("filesystems", lang),
                             [label("mountpoint", lang), label("used", lang)],
                             ([f.get("mountpoint"),
                               pct(1 - f["avail_bytes"] / f["size_bytes"])
                               if f.get("size_bytes") else "–"] for f in fs)))
        services = i.get("services") or {}
        if isinstance(services, dict) and services:
            out.append(table(label("services", lang), [label("name", lang), label("status", lang)],
                             ([name, badge(bool(ok), label("up" if ok else "down", lang))]
                              for name, ok in sorted(services.items()))))
        out.append(Markup("</section>"))
    return join(out) or html("<p>{}</p>", label("none_configured", lang))


# --- websites ----------------------------------------------------------------------------------

def websites(agent: Agent, lang: Lang) -> Markup:
    rows = data.rows(agent, data.WEB_KINDS)
    if not rows:
        return html("<p>{}</p>", label("none_configured", lang))
    body: list[list[object]] = []
    for r in rows:
        i = r.info
        days = data.cert_days_left(r)
        tls_info, http_info = i.get("tls"), i.get("http")
        tls: dict[str, Any] = tls_info if isinstance(tls_info, dict) else {}
        http: dict[str, Any] = http_info if isinstance(http_info, dict) else {}
        accepted = tls.get("accepted") or {}
        versions = join((html('<span class="badge {}">{}</span>',
                              "warn" if v in ("TLS 1.0", "TLS 1.1") else "ok", v)
                         for v, ok in sorted(accepted.items()) if ok), " ") or "–"
        parity = i.get("ipv6_parity")
        families = i.get("families") or {}
        v6 = families.get("ipv6")
        ipv6: object
        if isinstance(parity, dict):
            ipv6 = badge(bool(parity.get("ok")), label("yes" if parity.get("ok") else "no", lang))
        elif v6 is not None:
            ipv6 = badge(bool(v6.get("up")), label("up" if v6.get("up") else "down", lang))
        else:
            ipv6 = "–"
        problems = [str(p) for p in tls.get("problems") or []]
        if not r.ok and r.message:
            problems.append(r.message)
        findings = data.web_findings(r) if r.ok else []
        if findings:
            problems.append(findings_text(findings, lang))
        state = badge(False, label("down", lang)) if not r.ok else (
            badge(None, label("warning", lang)) if findings else badge(True, label("up", lang)))
        body.append([
            html('<strong><a href="/ui/websites/{}">{}</a></strong><br><small>{}</small>',
                 quote(r.name, safe=""), r.name, i.get("url", "")),
            state,
            http.get("status") or "–",
            fdate(tls.get("not_after"), lang) if tls.get("not_after") else "–",
            badge(days is not None and days >= data.CERT_WARN_DAYS,
                  f"{days:.0f}" if days is not None else "–"),
            versions, ipv6, ", ".join(problems)])
    cols = [label(k, lang) for k in ("website", "status", "http_status", "cert_expires",
                                     "days_left", "tls_versions", "ipv6", "problems_col")]
    return table(label("nav.websites", lang), cols, body, "wide")


# --- incidents and KPI -------------------------------------------------------------------------

KPI_LEVELS = ((5, 12), (4, 24), (3, 36), (2, 48), (1, 60))


def level_table(agent: Agent, lang: Lang) -> Markup:
    thresholds = parts.kpi_thresholds(agent) or KPI_LEVELS
    body = [[html("<strong>{}</strong>", level),
             label("hours", lang, n=f"{hours:g}") + f" ({label('days', lang, n=f'{hours / 24:g}')})"]
            for level, hours in thresholds]
    return table(label("kpi_table", lang), [label("level", lang), label("within", lang)], body,
                 "levels")


def incidents(agent: Agent, lang: Lang) -> Markup:
    out = [level_table(agent, lang)]
    tail = downloads(agent, lang, ["kpi"])
    if not agent.config.systems:
        # nothing to grade: say what to configure rather than "not available"
        out.append(html('<p class="missing" role="note">{}</p>', label("no_systems", lang)))
        return join(out)
    kpi = parts.kpi(agent)
    from upkeep.kit.thai import fiscal_year

    out.append(html("<h2>KPI — {}</h2>", label("fy", lang, n=fiscal_year(time.time()))))
    if not kpi.available:
        out.append(missing(kpi.missing, lang))
    else:
        out.append(table("KPI", [label("system", lang), label("fiscal_year", lang),
                                 label("level", lang), label("worst", lang)],
                         ([label("office", lang) if k.get("system") == "_office"
                           else k.get("system"), k.get("fiscal_year"),
                           html("<strong>{}</strong>", k.get("level")),
                           fduration(k.get("worst_seconds"), lang)] for k in kpi.data)))
    out.append(satisfaction(agent, lang))
    inc = parts.incidents(agent)
    out.append(html("<h2>{}</h2>", label("incidents", lang)))
    if not inc.available:
        out.append(missing(inc.missing, lang))
    elif not inc.data:
        out.append(html("<p>{}</p>", label("no_incidents", lang)))
    else:
        out.append(table(label("incidents", lang),
                         ["#", label("system", lang), label("started", lang),
                          label("restored", lang), label("duration", lang), label("level", lang),
                          label("acknowledged", lang), label("cause", lang)],
                         ([i.get("id"), i.get("system"),
                           fdatetime(i.get("started"), lang),
                           fdatetime(i.get("restored"), lang) if i.get("restored")
                           else label("open", lang),
                           fduration(i.get("duration_seconds"), lang),
                           html("{}{}", i.get("level"),
                                html(' <span class="badge warn">{}</span>', label("review", lang))
                                if i.get("review") else Markup()),
                           f'{fdatetime(i.get("acknowledged"), lang)} ({i.get("acknowledged_by")})'
                           if i.get("acknowledged") else "–", i.get("cause") or ""]
                          for i in inc.data), "wide"))
    out.append(tail)
    return join(out)


def satisfaction(agent: Agent, lang: Lang) -> Markup:
    """The second KPI of the systems and the website: user satisfaction this fiscal year."""
    from upkeep.kit.thai import fiscal_year

    sat = parts.satisfaction(agent)
    out = [html("<h2>{} — {}</h2>", label("satisfaction", lang),
                label("fy", lang, n=fiscal_year(time.time())))]
    if not sat.available:
        out.append(missing(sat.missing, lang))
        return join(out)

    def level(s: dict[str, Any]) -> Markup | str:
        if s.get("level") is None:
            return label("no_survey", lang) if s.get("respondents") is None else "–"
        if s.get("level") == 0:
            return badge(False, f"0 ({label('not_met', lang)})")
        return html("<strong>{}</strong>", s.get("level"))

    out.append(table(label("satisfaction", lang),
                     [label("system", lang), label("respondents", lang),
                      label("satisfaction_percent", lang), label("level", lang)],
                     ([s.get("system"), s.get("respondents") or "–", s.get("percent") or "–",
                       level(s)] for s in sat.data)))
    return join(out)


# --- checklist ---------------------------------------------------------------------------------

def _status_badge(status: str, lang: Lang) -> Markup:
    ok = True if status == "pass" else (None if status in ("partial", "manual-pending",
                                                            "not-applicable") else False)
    return badge(ok, label("st." + status, lang))


def _evidence(items: list[dict[str, Any]], lang: Lang) -> Markup | str:
    out = []
    for a in items:
        name = a.get("evidence_name") or a.get("evidence") or ""
        if a.get("evidence_kind") == "url":
            what = html('<a href="{}" rel="noopener noreferrer">{}</a>', a.get("evidence"), name)
        else:
            what = html("{}{}", name, html(" <small>sha256 {}…</small>", str(a.get("sha256"))[:12])
                        if a.get("sha256") else Markup())
        out.append(html("{}<br><small>{}, {}; {} {}</small>", what, a.get("by"),
                        fdate(a.get("at"), lang), label("valid_until", lang),
                        fdate(a.get("valid_until"), lang)))
    return join(out, "<br>") or "–"


def checklist(agent: Agent, lang: Lang) -> Markup:
    controls = parts.checklist(agent)
    if not controls.available:
        return missing(controls.missing, lang)
    body: list[list[object]] = []
    for c in controls.data:
        title = c["title"].get(lang) or c["title"].get("en", "")
        details = join(c.get("details", [])[:4], "<br>")
        body.append([html("<strong>{}</strong> {}{}", c["id"], title,
                          html("<br><small>{}</small>", details) if details else Markup()),
                     _status_badge(str(c["status"]), lang), _evidence(c.get("evidence", []), lang),
                     c.get("next_step", {}).get(lang, "") if c["status"] != "pass" else ""])
    level = parts.checklist_level(agent)
    head = (html('<p class="level"><span>{}</span> <strong>{}</strong> / 5</p>',
                 label("checklist_level", lang), level) if level is not None else Markup())
    return join([head, table(label("nav.checklist", lang),
                             [label(k, lang) for k in ("control", "status", "evidence",
                                                       "next_step")], body, "wide"),
                 downloads(agent, lang, ["checklist"])])


# --- assets ------------------------------------------------------------------------------------

def _asset_badge(state: str, lang: Lang) -> Markup:
    ok = {"later": True, "next_fy": True, "overdue": False}.get(state)  # due / unknown: amber
    return badge(ok, label("as." + state, lang))


def downloads(agent: Agent, lang: Lang, kinds: Sequence[str]) -> Markup:
    out = [html('<h2>{}</h2><ul class="downloads">', label("reports", lang))]
    for kind in kinds:
        name = label(parts.REPORT_KINDS[kind], lang)
        if not parts.report_available(agent, kind):
            out.append(html("<li><strong>{}</strong> {}</li>", name, missing(kind, lang)))
            continue
        links = join((html('<a href="/ui/reports/{}.{}?lang={}" download aria-label="{} {}">{}</a>',
                           kind, fmt, lang, name, fmt.upper(), fmt.upper())
                      for fmt in parts.FORMATS), " ")
        out.append(html("<li><strong>{}</strong> {}</li>", name, links))
    out.append(Markup("</ul>"))
    return join(out)


def assets(agent: Agent, lang: Lang) -> Markup:
    out = [downloads(agent, lang, list(parts.REPORT_KINDS))]
    register = parts.assets(agent)
    out.append(html("<h2>{}</h2>", label("nav.assets", lang)))
    if not register.available:
        out.append(missing(register.missing, lang))
    else:
        counts = {state: sum(1 for a in register.data if a.get("state") == state)
                  for state in ("overdue", "due_in_fy", "next_fy")}
        out.append(html('<p class="counts">{}</p>', join(
            (html("{} <strong>{}</strong>", _asset_badge(state, lang), n)
             for state, n in counts.items()), " · ")))
        out.append(table(label("nav.assets", lang),
                         [label(k, lang) for k in ("asset", "class", "site", "model", "serial",
                                                   "in_service", "end_of_life", "state")],
                         ([a.get("tag"), a.get("class"), a.get("site"), a.get("model"),
                           a.get("serial"), fdate(a.get("in_service"), lang),
                           fdate(a.get("end_of_life"), lang),
                           _asset_badge(str(a.get("state")), lang)]
                          for a in register.data), "wide"))
    return join(out)


PAGES: dict[str, Callable[[Agent, Lang], Markup]] = {
    "overview": overview, "ups": ups, "hosts": hosts, "websites": websites,
    "incidents": incidents, "checklist": checklist, "assets": assets,
}
