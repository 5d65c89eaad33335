"""The UI pages as HTML fragments (the live part that auto-refresh swaps in).

Every value goes through ``e()`` (HTML escaping): target names, messages and UPS strings come
from devices and config and must never become markup.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from upkeep.dashboards import web_data as data
from upkeep.dashboards import web_parts as parts
from upkeep.dashboards.i18n import Lang, label
from upkeep.dashboards.i18n import date as fdate
from upkeep.dashboards.i18n import datetime as fdatetime
from upkeep.dashboards.i18n import duration as fduration

if TYPE_CHECKING:
    from upkeep.kit.agent import AgentView as Agent


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def table(caption: str, headers: Sequence[str], body: Iterable[Sequence[str]],
          cls: str = "") -> str:
    """A table; cells are already-escaped HTML."""
    head = "".join(f'<th scope="col">{h}</th>' for h in headers)
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    return (f'<div class="scroll"><table class="{cls}"><caption>{caption}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>")


def badge(ok: bool | None, text: str) -> str:
    cls = "ok" if ok else ("bad" if ok is False else "warn")
    return f'<span class="badge {cls}">{e(text)}</span>'


def pct(value: Any) -> str:
    return f"{float(value) * 100:.0f}%" if isinstance(value, int | float) else "–"


def missing(what: str, lang: Lang) -> str:
    return f'<p class="missing" role="note">{e(label("not_available", lang, what=what))}</p>'


# --- overview ----------------------------------------------------------------------------------

def overview(agent: Agent, lang: Lang) -> str:
    loaded = {"systems": parts.systems(agent), "checklist": parts.checklist(agent)}
    found = data.problems(agent, loaded)
    incidents = parts.incidents(agent)
    open_items = [i for i in (incidents.data or []) if i.get("open")] if incidents.available \
        else []
    out = [f'<section aria-labelledby="problems-h" class="problems">'
           f'<h2 id="problems-h">{e(label("problems", lang))}</h2>']
    if not found and not open_items:
        out.append(f'<p class="allgood">{e(label("no_problems", lang))}</p>')
    else:
        out.append('<ul class="problem-list">')
        for p in found:
            detail = p.detail
            if p.what == "cert_expiring":
                detail = label("days", lang, n=p.detail)
            elif p.what == "cert_expired":
                detail = label("days_ago", lang, n=p.detail)
            elif p.what == "control_failing":
                detail = label("st." + p.detail, lang)
            out.append(f'<li class="problem {e(p.what)}"><a href="{e(p.href)}">'
                       f'<strong>{e(label(p.what, lang))}</strong> {e(p.subject)}</a>'
                       f'{f" <span class=detail>{e(detail)}</span>" if detail else ""}</li>')
        for item in open_items:
            out.append(f'<li class="problem open_incident"><a href="/ui/incidents">'
                       f'<strong>{e(label("open_incident", lang))}</strong> '
                       f'{e(item.get("system"))}</a> <span class="detail">'
                       f'{e(label("started", lang))} {e(fdatetime(item.get("started"), lang))}'
                       f"</span></li>")
        out.append("</ul>")
    out.append("</section>")
    problem_subjects = {p.subject for p in found}
    healthy = [r for r in data.rows(agent) if r.ok and r.name not in problem_subjects
               and f"{r.kind} {r.name}" not in problem_subjects]
    out.append(f'<section aria-labelledby="healthy-h"><h2 id="healthy-h">'
               f'{e(label("healthy", lang))} ({len(healthy)})</h2><ul class="chips">')
    for r in healthy:
        out.append(f'<li><a class="chip" href="{e(data._page_of(r.kind))}">'
                   f'<span class="kind">{e(r.kind)}</span> {e(r.name)}</a></li>')
    out.append("</ul></section>")
    return "".join(out)


# --- UPS ---------------------------------------------------------------------------------------

def ups(agent: Agent, lang: Lang) -> str:
    rows = data.ups_rows(agent)
    now = time.time()
    body = []
    for r in rows:
        i = r.info
        flags = data.ups_flags(r)
        ok = r.ok and "OB" not in flags and "LB" not in flags
        status = " ".join(flags) or (r.reason or label("unknown", lang))
        if "OB" in flags:
            status = f"{label('on_battery', lang)} ({status})"
        installed = i.get("battery_installed")
        age = label("years", lang, n=f"{(now - installed) / 31557600:.1f}") \
            if isinstance(installed, int | float) else "–"
        runtime = i.get("battery_runtime")
        body.append([
            f"<strong>{e(r.name)}</strong>", badge(ok, status), e(pct(i.get("battery_charge"))),
            e(fduration(runtime, lang) if isinstance(runtime, int | float) else "–"),
            e(pct(i.get("load"))), e(fdate(installed, lang) if installed else "–"), e(age),
            badge(not i.get("replace_needed"), label("yes" if i.get("replace_needed") else "no",
                                                     lang)),
            e(label(f"selftest.{i.get('selftest_result') or 'unknown'}", lang)), e(" ".join(str(x) for x in (i.get("mfr"),
                                                                       i.get("model")) if x)),
            e(i.get("serial", "")), e(fdatetime(r.last_success, lang) if r.last_success
                                      else label("never", lang))])
    cols = [label(k, lang) for k in ("name", "status", "charge", "runtime", "load",
                                     "battery_installed", "battery_age", "replace_battery",
                                     "selftest", "model", "serial", "last_seen")]
    out = [table(label("nav.ups", lang), cols, body, "wide") if rows
           else f'<p>{e(label("none_configured", lang))}</p>']
    events = parts.events(agent)
    out.append(f'<h2>{e(label("events", lang))}</h2>')
    if not events.available:
        out.append(missing(events.missing, lang))
    elif not events.data:
        out.append(f'<p>{e(label("no_events", lang))}</p>')
    else:
        out.append(table(label("events", lang), [label("time", lang), "UPS",
                                                 label("event", lang)],
                         ([e(fdatetime(ev.get("time"), lang)), e(ev.get("ups")),
                           badge(ev.get("severity") == "resolved" or None
                                 if ev.get("severity") != "critical" else False,
                                 label("ev." + str(ev.get("kind")), lang))]
                          for ev in events.data[:50])))
    return "".join(out)


# --- hosts -------------------------------------------------------------------------------------

def hosts(agent: Agent, lang: Lang) -> str:
    out = []
    for r in data.rows(agent, ("host",)):
        i = r.info
        total, avail = i.get("memory_total_bytes"), i.get("memory_available_bytes")
        mem = pct(avail / total) if isinstance(total, int | float) and total and \
            isinstance(avail, int | float) else "–"
        load1 = i.get("load1")
        facts = [(label("status", lang), badge(r.ok, label("up" if r.ok else "down", lang))),
                 (label("hostname", lang), e(i.get("hostname"))), (label("os", lang), e(i.get("os"))),
                 (label("load1", lang), e(f"{load1:.2f}" if isinstance(load1, int | float)
                                          else "–")),
                 (label("memory_available", lang), e(mem)),
                 (label("booted", lang), e(fdatetime(i.get("boot_time"), lang)))]
        dl = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
        out.append(f'<section class="card"><h2>{e(r.name)}</h2><dl class="facts">{dl}</dl>')
        fs = i.get("filesystem_list") or []
        if fs:
            out.append(table(label("filesystems", lang),
                             [label("mountpoint", lang), label("used", lang)],
                             ([e(f.get("mountpoint")),
                               e(pct(1 - f["avail_bytes"] / f["size_bytes"])
                                 if f.get("size_bytes") else "–")] for f in fs)))
        services = i.get("services") or {}
        if isinstance(services, dict) and services:
            out.append(table(label("services", lang), [label("name", lang), label("status", lang)],
                             ([e(name), badge(bool(ok), label("up" if ok else "down", lang))]
                              for name, ok in sorted(services.items()))))
        out.append("</section>")
    return "".join(out) or f'<p>{e(label("none_configured", lang))}</p>'


# --- websites ----------------------------------------------------------------------------------

def websites(agent: Agent, lang: Lang) -> str:
    rows = data.rows(agent, data.WEB_KINDS)
    if not rows:
        return f'<p>{e(label("none_configured", lang))}</p>'
    body = []
    for r in rows:
        i = r.info
        days = data.cert_days_left(r)
        tls_info, http_info = i.get("tls"), i.get("http")
        tls: dict[str, Any] = tls_info if isinstance(tls_info, dict) else {}
        http: dict[str, Any] = http_info if isinstance(http_info, dict) else {}
        accepted = tls.get("accepted") or {}
        versions = " ".join(
            f'<span class="badge {"warn" if v in ("TLS 1.0", "TLS 1.1") else "ok"}">{e(v)}</span>'
            for v, ok in sorted(accepted.items()) if ok) or "–"
        parity = i.get("ipv6_parity")
        families = i.get("families") or {}
        v6 = families.get("ipv6")
        if isinstance(parity, dict):
            ipv6 = badge(bool(parity.get("ok")), label("yes" if parity.get("ok") else "no", lang))
        elif v6 is not None:
            ipv6 = badge(bool(v6.get("up")), label("up" if v6.get("up") else "down", lang))
        else:
            ipv6 = "–"
        problems = [str(p) for p in tls.get("problems") or []]
        if not r.ok and r.message:
            problems.append(r.message)
        body.append([
            f"<strong>{e(r.name)}</strong><br><small>{e(i.get('url', ''))}</small>",
            badge(r.ok, label("up" if r.ok else "down", lang)),
            e(http.get("status") or "–"),
            e(fdate(tls.get("not_after"), lang) if tls.get("not_after") else "–"),
            badge(days is not None and days >= data.CERT_WARN_DAYS,
                  f"{days:.0f}" if days is not None else "–"),
            versions, ipv6, e(", ".join(problems))])
    cols = [label(k, lang) for k in ("website", "status", "http_status", "cert_expires",
                                     "days_left", "tls_versions", "ipv6", "problems_col")]
    return table(label("nav.websites", lang), cols, body, "wide")


# --- incidents and KPI -------------------------------------------------------------------------

KPI_LEVELS = ((5, 12), (4, 24), (3, 36), (2, 48), (1, 60))


def level_table(agent: Agent, lang: Lang) -> str:
    thresholds = parts.kpi_thresholds(agent) or KPI_LEVELS
    body = [[f"<strong>{level}</strong>",
             e(label("hours", lang, n=f"{hours:g}") + f" ({label('days', lang, n=f'{hours / 24:g}')})")]
            for level, hours in thresholds]
    return table(label("kpi_table", lang), [label("level", lang), label("within", lang)], body,
                 "levels")


def incidents(agent: Agent, lang: Lang) -> str:
    out = [level_table(agent, lang)]
    tail = downloads(agent, lang, ["kpi"])
    if not agent.config.systems:
        # nothing to grade: say what to configure rather than "not available"
        out.append(f'<p class="missing" role="note">{e(label("no_systems", lang))}</p>')
        return "".join(out)
    kpi = parts.kpi(agent)
    from upkeep.kit.thai import fiscal_year

    out.append(f'<h2>KPI — {e(label("fy", lang, n=fiscal_year(time.time())))}</h2>')
    if not kpi.available:
        out.append(missing(kpi.missing, lang))
    else:
        out.append(table("KPI", [label("system", lang), label("fiscal_year", lang),
                                 label("level", lang), label("worst", lang)],
                         ([e(label("office", lang) if k.get("system") == "_office"
                             else k.get("system")), e(k.get("fiscal_year")),
                           f"<strong>{e(k.get('level'))}</strong>",
                           e(fduration(k.get("worst_seconds"), lang))] for k in kpi.data)))
    inc = parts.incidents(agent)
    out.append(f'<h2>{e(label("incidents", lang))}</h2>')
    if not inc.available:
        out.append(missing(inc.missing, lang))
    elif not inc.data:
        out.append(f'<p>{e(label("no_incidents", lang))}</p>')
    else:
        out.append(table(label("incidents", lang),
                         ["#", label("system", lang), label("started", lang),
                          label("restored", lang), label("duration", lang), label("level", lang),
                          label("acknowledged", lang), label("cause", lang)],
                         ([e(i.get("id")), e(i.get("system")),
                           e(fdatetime(i.get("started"), lang)),
                           e(fdatetime(i.get("restored"), lang) if i.get("restored")
                             else label("open", lang)),
                           e(fduration(i.get("duration_seconds"), lang)),
                           e(i.get("level")) + (f' <span class="badge warn">{e(label("review", lang))}'
                                                "</span>" if i.get("review") else ""),
                           e(f'{fdatetime(i.get("acknowledged"), lang)} ({i.get("acknowledged_by")})'
                             if i.get("acknowledged") else "–"), e(i.get("cause") or "")]
                          for i in inc.data), "wide"))
    out.append(tail)
    return "".join(out)


# --- checklist ---------------------------------------------------------------------------------

def _status_badge(status: str, lang: Lang) -> str:
    ok = True if status == "pass" else (None if status in ("partial", "manual-pending",
                                                            "not-applicable") else False)
    return badge(ok, label("st." + status, lang))


def _evidence(items: list[dict[str, Any]], lang: Lang) -> str:
    out = []
    for a in items:
        what = a.get("evidence_name") or a.get("evidence") or ""
        if a.get("evidence_kind") == "url":
            what = f'<a href="{e(a.get("evidence"))}" rel="noopener noreferrer">{e(what)}</a>'
        else:
            what = e(what) + (f" <small>sha256 {e(str(a.get('sha256'))[:12])}…</small>"
                              if a.get("sha256") else "")
        out.append(f"{what}<br><small>{e(a.get('by'))}, {e(fdate(a.get('at'), lang))}; "
                   f"{e(label('valid_until', lang))} {e(fdate(a.get('valid_until'), lang))}"
                   "</small>")
    return "<br>".join(out) or "–"


def checklist(agent: Agent, lang: Lang) -> str:
    controls = parts.checklist(agent)
    if not controls.available:
        return missing(controls.missing, lang)
    body = []
    for c in controls.data:
        title = c["title"].get(lang) or c["title"].get("en", "")
        details = "<br>".join(e(d) for d in c.get("details", [])[:4])
        body.append([f"<strong>{e(c['id'])}</strong> {e(title)}"
                     + (f"<br><small>{details}</small>" if details else ""),
                     _status_badge(str(c["status"]), lang), _evidence(c.get("evidence", []), lang),
                     e(c.get("next_step", {}).get(lang, "") if c["status"] != "pass" else "")])
    level = parts.checklist_level(agent)
    head = (f'<p class="level"><span>{e(label("checklist_level", lang))}</span> '
            f'<strong>{e(level)}</strong> / 5</p>' if level is not None else "")
    return head + table(label("nav.checklist", lang),
                        [label(k, lang) for k in ("control", "status", "evidence",
                                                  "next_step")], body,
                        "wide") + downloads(agent, lang, ["checklist"])


# --- assets ------------------------------------------------------------------------------------

def _asset_badge(state: str, lang: Lang) -> str:
    ok = {"later": True, "next_fy": True, "overdue": False}.get(state)  # due / unknown: amber
    return badge(ok, label("as." + state, lang))


def downloads(agent: Agent, lang: Lang, kinds: Sequence[str]) -> str:
    out = [f'<h2>{e(label("reports", lang))}</h2><ul class="downloads">']
    for kind in kinds:
        name = e(label(parts.REPORT_KINDS[kind], lang))
        if not parts.report_available(agent, kind):
            out.append(f"<li><strong>{name}</strong> {missing(kind, lang)}</li>")
            continue
        links = " ".join(f'<a href="/ui/reports/{kind}.{fmt}?lang={lang}" download '
                         f'aria-label="{name} {fmt.upper()}">{fmt.upper()}</a>'
                         for fmt in parts.FORMATS)
        out.append(f"<li><strong>{name}</strong> {links}</li>")
    out.append("</ul>")
    return "".join(out)


def assets(agent: Agent, lang: Lang) -> str:
    out = [downloads(agent, lang, list(parts.REPORT_KINDS))]
    register = parts.assets(agent)
    out.append(f'<h2>{e(label("nav.assets", lang))}</h2>')
    if not register.available:
        out.append(missing(register.missing, lang))
    else:
        counts = {state: sum(1 for a in register.data if a.get("state") == state)
                  for state in ("overdue", "due_in_fy", "next_fy")}
        out.append('<p class="counts">' + " · ".join(
            f'{_asset_badge(state, lang)} <strong>{n}</strong>' for state, n in counts.items())
            + "</p>")
        out.append(table(label("nav.assets", lang),
                         [label(k, lang) for k in ("asset", "class", "site", "model", "serial",
                                                   "in_service", "end_of_life", "state")],
                         ([e(a.get("tag")), e(a.get("class")), e(a.get("site")),
                           e(a.get("model")), e(a.get("serial")),
                           e(fdate(a.get("in_service"), lang)),
                           e(fdate(a.get("end_of_life"), lang)),
                           _asset_badge(str(a.get("state")), lang)]
                          for a in register.data), "wide"))
    return "".join(out)


PAGES: dict[str, Callable[[Agent, Lang], str]] = {
    "overview": overview, "ups": ups, "hosts": hosts, "websites": websites,
    "incidents": incidents, "checklist": checklist, "assets": assets,
}
