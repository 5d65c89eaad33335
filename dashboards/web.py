"""The built-in web UI at ``/``: server-rendered pages in Thai and English.

Pages are plain HTML rendered on the server from the agent's own state (``web_pages``); a
tiny script (``static/ui.js``) refetches the live part every few seconds and swaps it in
without a full reload. Nothing is fetched from outside the agent (no CDN, no web font: the
Thai faces are the system's). Reading needs what ``/metrics`` needs (``require_reader``);
actions are forms that call the JSON API with the token kept in ``sessionStorage``, so the
API alone decides who may write, and records who did.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup

from upkeep.dashboards import web_actions, web_detail, web_pages, web_parts
from upkeep.dashboards.i18n import LANGS, Lang, label, pick_lang
from upkeep.dashboards.i18n import datetime as fdatetime
from upkeep.dashboards.templating import render
from upkeep.kit.auth import require_reader
from upkeep.policies.history import RANGES

router = APIRouter(dependencies=[Depends(require_reader)], include_in_schema=False)

NAV = ("overview", "ups", "hosts", "websites", "incidents", "checklist", "assets")
LANG_COOKIE = "upkeep_lang"
DEFAULT_REFRESH = 15
#: a detail page's charts move by the minute: no need to redraw them every 15 s
DETAIL_REFRESH = 60
STATIC_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"}
#: the page may load only the agent's own files (no CDN, no inline script)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def _resource(*parts: str) -> str:
    return resources.files("upkeep.dashboards").joinpath(*parts).read_text(encoding="utf-8")


def _href(page: str) -> str:
    return "/" if page == "overview" else f"/ui/{page}"


def _lang(request: Request, lang: str | None) -> Lang:
    return pick_lang(lang, request.cookies.get(LANG_COOKIE),
                     request.headers.get("accept-language", ""))


def _refresh(value: int | None) -> int:
    return DEFAULT_REFRESH if value is None else max(1, min(value, 3600))


def render_page(request: Request, page: str, lang: Lang, refresh: int,
                detail: tuple[str, str, Markup] | None = None) -> str:
    """A whole page; ``detail`` (name, range, body) for one UPS, website or host."""
    agent = request.app.state.agent
    now = time.time()
    query = f"?refresh={refresh}" if refresh != DEFAULT_REFRESH else ""
    here, fragment = _href(page), f"/ui/fragment/{page}?lang={lang}"
    title = label("nav." + page, lang)
    if detail is not None:
        name, range_name, _ = detail
        here = _href(page) + "/" + quote(name, safe="")
        fragment = f"/ui/fragment/{page}/{quote(name, safe='')}?range={range_name}&lang={lang}"
        if range_name != "24h":
            query = (query + "&" if query else "?") + f"range={range_name}"
        title = f"{title}: {name}"
    sep = "&" if query else "?"
    return render(
        "page.html", lang=lang, page=page, refresh=refresh, site=agent.config.site,
        fragment=fragment,
        title=title, skip=label("skip", lang),
        site_label=label("site", lang), nav_label=label("nav.overview", lang),
        nav=[{"href": _href(p), "current": p == page, "text": label("nav." + p, lang)}
             for p in NAV],
        language_label=label("language", lang),
        lang_links=[{"href": f"{here}{query}{sep}lang={code}", "code": code,
                     "current": code == lang, "name": name}
                    for code, name in (("th", "ไทย"), ("en", "English"))],
        body=detail[2] if detail is not None else web_pages.PAGES[page](agent, lang),
        actions=web_actions.actions(page, lang),
        updated_label=label("updated", lang), updated=fdatetime(now, lang),
        updated_iso=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        refresh_label=label("refresh_every", lang, n=refresh))


def _html(text: str, lang: Lang, *, remember: bool) -> HTMLResponse:
    response = HTMLResponse(text, headers={"Content-Security-Policy": CSP,
                                           "Cache-Control": "no-store",
                                           "X-Content-Type-Options": "nosniff"})
    if remember:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict")
    return response


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, lang: str | None = None,
                   refresh: Annotated[int | None, Query(ge=1, le=3600)] = None) -> HTMLResponse:
    chosen = _lang(request, lang)
    return _html(render_page(request, "overview", chosen, _refresh(refresh)), chosen,
                 remember=lang in LANGS)


@router.get("/ui/", include_in_schema=False)
async def ui_root() -> RedirectResponse:
    return RedirectResponse("/")


@router.get("/ui/static/{name}")
async def static(name: str) -> Response:
    ext = name.rpartition(".")[2]
    if name not in ("ui.css", "ui.js") or ext not in STATIC_TYPES:
        raise HTTPException(404, "no such file")
    return Response(_resource("static", name), media_type=STATIC_TYPES[ext],
                    headers={"Cache-Control": "max-age=300"})


@router.get("/ui/fragment/{page}", response_class=HTMLResponse)
async def fragment(request: Request, page: str, lang: str | None = None) -> HTMLResponse:
    if page not in web_pages.PAGES:
        raise HTTPException(404, "no such page")
    chosen = _lang(request, lang)
    now = time.time()
    body = web_pages.PAGES[page](request.app.state.agent, chosen)
    # the script copies the stamp into the footer, in the page's language and calendar
    stamp = web_pages.html('<span id="stamp" hidden>{}</span>', fdatetime(now, chosen))
    return _html(stamp + body, chosen, remember=False)


def _detail(request: Request, page: str, name: str, range_name: str, lang: Lang) -> Markup:
    if page not in web_detail.DETAILS or range_name not in RANGES:
        raise HTTPException(404, "no such page")
    body = web_detail.DETAILS[page](request.app.state.agent, name, range_name, lang)
    if body is None:
        raise HTTPException(404, "no such target")
    return body


@router.get("/ui/fragment/{page}/{name}", response_class=HTMLResponse)
async def detail_fragment(request: Request, page: str, name: str, lang: str | None = None,
                          range: str = "24h") -> HTMLResponse:  # noqa: A002
    chosen = _lang(request, lang)
    body = _detail(request, page, name, range, chosen)
    stamp = web_pages.html('<span id="stamp" hidden>{}</span>', fdatetime(time.time(), chosen))
    return _html(stamp + body, chosen, remember=False)


@router.get("/ui/reports/{name}")
async def report(request: Request, name: str, lang: str | None = None) -> Response:
    kind, _, fmt = name.partition(".")
    if kind not in web_parts.REPORT_KINDS or fmt not in web_parts.FORMATS:
        raise HTTPException(404, "no such report")
    chosen = _lang(request, lang)
    try:
        body = web_parts.report_bytes(request.app.state.agent, kind, fmt, chosen)
    except LookupError as err:
        raise HTTPException(503, label("not_available", chosen, what=str(err))) from None
    media = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8",
             "json": "application/json",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}[fmt]
    filename = f"upkeep-{kind}-{request.app.state.agent.config.site}-{chosen}.{fmt}"
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/ui/{page}", response_class=HTMLResponse)
async def page(request: Request, page: str, lang: str | None = None,
               refresh: Annotated[int | None, Query(ge=1, le=3600)] = None) -> HTMLResponse:
    if page not in web_pages.PAGES or page == "overview":
        raise HTTPException(404, "no such page")
    chosen = _lang(request, lang)
    return _html(render_page(request, page, chosen, _refresh(refresh)), chosen,
                 remember=lang in LANGS)


@router.get("/ui/{page}/{name}", response_class=HTMLResponse)
async def detail(request: Request, page: str, name: str, lang: str | None = None,
                 range: str = "24h",  # noqa: A002
                 refresh: Annotated[int | None, Query(ge=1, le=3600)] = None) -> HTMLResponse:
    """One UPS, website or host with its trends (``/ui/ups/<name>?range=7d``)."""
    chosen = _lang(request, lang)
    body = _detail(request, page, name, range, chosen)
    return _html(render_page(request, page, chosen, refresh or DETAIL_REFRESH,
                             (name, range, body)), chosen, remember=lang in LANGS)
