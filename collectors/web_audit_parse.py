"""Pure half of the website standards audit: what vnu, axe-core and the page bytes say.

No I/O here (``web_audit`` runs the tools): ``parse_vnu`` reads the Nu Html Checker's JSON
(``java -jar vnu.jar --format json``), ``parse_axe`` the result of ``axe.run()``,
``thai_check`` the page's bytes and ``Content-Type``; ``summaries`` makes the Thai and English
one-liners the UI, the CLI and the checklist show.

vnu's JSON (https://github.com/validator/validator/wiki/Output-»-JSON): ``messages`` of
``type`` ``error``, ``info`` (with ``subType: warning`` for warnings) or
``non-document-error`` (the checker could not read the document), each with ``url``,
``lastLine``, ``firstColumn``/``lastColumn``, ``message`` and ``extract``.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

#: axe-core tags of the WCAG 2.1 level A and AA success criteria (axe's own tag names)
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
#: axe's impact levels, least first; every one is exported (0 when none)
IMPACTS = ("minor", "moderate", "serious", "critical")
#: the Thai block (U+0E00-U+0E7F): a page with Thai text should say ``lang="th"``
_THAI = re.compile("[\u0e00-\u0e7f]")
#: the HTML "prescan" looks for a meta charset in the first 1024 bytes
_PRESCAN = 1024
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([-\w.:]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([-\w.:]+)""", re.I)
_MAX_MESSAGES = 200


@dataclass
class HtmlResult:
    """vnu's verdict on one document."""

    errors: int = 0
    warnings: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    #: vnu could not check the document (``non-document-error``)
    failure: str = ""


def parse_vnu(raw: str | bytes, names: Mapping[str, str]) -> dict[str, HtmlResult]:
    """vnu's JSON -> result per page; ``names`` maps the file name of each checked document
    (the last segment of the ``file:`` URL vnu reports) to the page name. Messages of other
    documents are ignored. Raises ``ValueError`` when the output is not vnu's JSON."""
    import json

    try:
        data = json.loads(raw)
        messages = data["messages"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"vnu did not answer with its JSON: {str(raw)[:200]!r}") from err
    results = {name: HtmlResult() for name in names.values()}
    for item in messages:
        name = names.get(str(item.get("url", "")).rsplit("/", 1)[-1])
        if name is None:
            continue
        result = results[name]
        kind = item.get("type")
        if kind == "error":
            level = "error"
            result.errors += 1
        elif kind == "info" and item.get("subType") == "warning":
            level = "warning"
            result.warnings += 1
        elif kind == "non-document-error":
            result.failure = str(item.get("message", "vnu could not read the document"))
            continue
        else:
            continue  # plain info messages are not findings
        if len(result.messages) < _MAX_MESSAGES:
            result.messages.append({
                "type": level, "line": item.get("lastLine"),
                "column": item.get("firstColumn", item.get("lastColumn")),
                "message": str(item.get("message", "")),
                "extract": str(item.get("extract", ""))[:200]})
    return results


def parse_axe(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``axe.run()``'s result -> its violations, each with the selectors of the failing
    nodes. Raises ``ValueError`` on another shape."""
    try:
        violations = list(result["violations"])
    except (KeyError, TypeError) as err:
        raise ValueError("not an axe-core result") from err
    out = []
    for v in violations:
        nodes = v.get("nodes") or []
        out.append({
            "id": str(v["id"]), "impact": v.get("impact") or "minor",
            "help": str(v.get("help", "")), "help_url": str(v.get("helpUrl", "")),
            "tags": [t for t in v.get("tags", []) if str(t).startswith("wcag")],
            "nodes": [{"target": " ".join(str(t) for t in n.get("target", [])),
                       "html": str(n.get("html", ""))[:200]} for n in nodes[:20]],
            "count": len(nodes)})
    return out


def impact_counts(violations: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Violations per impact (each failing node counts), every impact present."""
    counts = dict.fromkeys(IMPACTS, 0)
    for v in violations:
        impact = v["impact"] if v["impact"] in counts else "minor"
        counts[impact] += max(1, int(v.get("count", 1)))
    return counts


class _RootLang(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang: str | None = None
        self.seen_html = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html" and not self.seen_html:
            self.seen_html = True
            self.lang = next((v or "" for k, v in attrs if k == "lang"), None)


def _canonical(charset: str) -> str:
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return charset.lower()


def thai_check(body: bytes, content_type: str | None, *, thai: bool) -> dict[str, Any]:
    """The Thai-language checks: ``lang="th"`` on a Thai page (``thai`` = the config says
    the pages are Thai; a page with Thai letters is Thai anyway), a declared UTF-8 charset
    (HTTP header or ``<meta charset>``, and the two agree) and bytes that are UTF-8."""
    problems: list[str] = []
    header = _HEADER_CHARSET.search(content_type or "")
    meta = _META_CHARSET.search(body[:_PRESCAN])
    declared = {"header": header.group(1) if header else None,
                "meta": meta.group(1).decode("ascii", "replace") if meta else None}
    found = [_canonical(c) for c in declared.values() if c]
    if not found:
        problems.append("charset_missing")
    elif any(c != "utf-8" for c in found):
        problems.append("charset_not_utf8")
    if len(set(found)) > 1:
        problems.append("charset_mismatch")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        problems.append("not_utf8")
        text = body.decode("utf-8", "replace")
    parser = _RootLang()
    with contextlib.suppress(AssertionError):  # HTMLParser on pathological markup
        parser.feed(text[:256 * 1024])
    lang = parser.lang
    has_thai = bool(_THAI.search(text))
    if not lang:
        problems.append("lang_missing")
    elif (thai or has_thai) and lang.split("-")[0].strip().lower() != "th":
        problems.append("lang_not_th")
    return {"ok": not problems, "problems": problems, "lang": lang, "charset": declared,
            "thai_text": has_thai}


#: what each Thai-check problem means, for people
THAI_PROBLEMS = {
    "charset_missing": ("ไม่ได้ประกาศชุดอักขระ (charset)", "no charset declared"),
    "charset_not_utf8": ("ประกาศชุดอักขระที่ไม่ใช่ UTF-8", "a charset other than UTF-8 declared"),
    "charset_mismatch": ("charset ในส่วนหัว HTTP กับใน meta ไม่ตรงกัน",
                         "the HTTP header and the meta tag declare different charsets"),
    "not_utf8": ("เนื้อหาไม่ได้เข้ารหัสเป็น UTF-8", "the bytes are not UTF-8"),
    "lang_missing": ("ไม่มี lang ที่แท็ก html", "no lang on the html element"),
    "lang_not_th": ("หน้าเป็นภาษาไทยแต่ lang ไม่ใช่ th", "a Thai page without lang=\"th\""),
}


def summaries(pages: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """One Thai and one English line for a website's audit."""
    audited = [p for p in pages.values() if not p.get("reason")]
    failed = len(pages) - len(audited)
    errors = sum((p.get("html") or {}).get("errors", 0) for p in audited)
    warnings = sum((p.get("html") or {}).get("warnings", 0) for p in audited)
    violations = sum(sum((p.get("accessibility") or {}).get("impacts", {}).values())
                     for p in audited)
    thai = sum(1 for p in audited if not (p.get("thai") or {}).get("ok", True))
    en = [f"{len(pages)} page(s): {errors} HTML error(s), {warnings} warning(s), "
          f"{violations} accessibility violation(s)"]
    th = [f"{len(pages)} หน้า: ข้อผิดพลาด HTML {errors} รายการ, คำเตือน {warnings} รายการ, "
          f"ปัญหาการเข้าถึง {violations} รายการ"]
    if thai:
        en.append(f"Thai-language problems on {thai} page(s)")
        th.append(f"ปัญหาภาษาไทย {thai} หน้า")
    if failed:
        en.append(f"{failed} page(s) not audited")
        th.append(f"ตรวจไม่ได้ {failed} หน้า")
    return {"en": "; ".join(en), "th": "; ".join(th)}
