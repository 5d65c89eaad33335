"""The action forms (outside the auto-refreshed part, so typing is never interrupted).

A form names the JSON API endpoint it calls (``data-endpoint``, with ``{field}`` placeholders
filled from the form) and the method; ``ui.js`` sends the fields as JSON (or the file as
multipart) with ``Authorization: Bearer <token>`` when a token was entered. The API refuses
writes without it (401/403) and records who acted; the form shows the API's answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from upkeep.dashboards.i18n import Lang, label
from upkeep.dashboards.web_pages import e


@dataclass(frozen=True)
class Field:
    name: str
    label_key: str
    type: str = "text"
    required: bool = True


@dataclass(frozen=True)
class Action:
    id: str
    title_key: str
    method: str
    endpoint: str
    fields: tuple[Field, ...]
    #: "json": the fields as a JSON object; "raw": the one file as the body, ?filename=NAME
    encoding: str = "json"
    #: the API records the token's holder only as "token": put the person's name in front of
    #: this text field so the ledger says who acted
    merge_by: str = ""


BY = Field("by", "by")

ACTIONS: dict[str, tuple[Action, ...]] = {
    "incidents": (
        Action("ack", "ack", "POST", "/api/v1/incidents/{id}/ack",
               (Field("id", "incident_id", "number"), BY,
                Field("note", "note", "textarea", required=False)), merge_by="note"),
        Action("annotate", "annotate", "POST", "/api/v1/incidents/{id}/notes",
               (Field("id", "incident_id", "number"), BY, Field("text", "note", "textarea")),
               merge_by="text"),
        Action("maintenance", "maintenance", "POST", "/api/v1/maintenance",
               (Field("system", "system", required=False),
                Field("starts_at", "start", "datetime-local"),
                Field("ends_at", "end", "datetime-local"), Field("approved_by", "by"),
                Field("reason", "note", "textarea", required=False))),
    ),
    "checklist": (
        Action("attest", "attest", "POST", "/api/v1/checklist/attest",
               (Field("control", "control"), BY, Field("evidence_url", "evidence_url", "url"),
                Field("valid_until", "valid_until", "date"),
                Field("note", "note", "textarea", required=False))),
    ),
    "assets": (
        Action("import", "import_assets", "POST", "/api/v1/assets/import",
               (Field("file", "file", "file"),), encoding="raw"),
    ),
}


def _field(action: Action, f: Field, lang: Lang) -> str:
    fid = f"{action.id}-{f.name}"
    req = " required" if f.required else ""
    text = e(label(f.label_key, lang))
    if f.type == "textarea":
        control = f'<textarea id="{fid}" name="{f.name}" rows="2"{req}></textarea>'
    elif f.type == "file":
        control = (f'<input id="{fid}" name="{f.name}" type="file" '
                   f'accept=".csv,.xlsx,text/csv"{req}>')
    else:
        control = f'<input id="{fid}" name="{f.name}" type="{f.type}"{req}>'
    return f'<p class="field"><label for="{fid}">{text}</label>{control}</p>'


def actions(page: str, lang: Lang) -> str:
    items = ACTIONS.get(page)
    if not items:
        return ""
    out = [f'<section id="actions" class="actions" aria-labelledby="actions-h">'
           f'<h2 id="actions-h">{e(label("actions", lang))}</h2>'
           f'<form id="token-form" class="token"><p class="field">'
           f'<label for="token">{e(label("token", lang))}</label>'
           f'<input id="token" name="token" type="password" autocomplete="off"></p>'
           f'<p class="hint">{e(label("token_help", lang))}</p>'
           f'<button type="submit">{e(label("save_token", lang))}</button> '
           f'<button type="button" id="forget-token">{e(label("forget_token", lang))}</button>'
           f'<output id="token-state" aria-live="polite"></output></form>']
    for action in items:
        fields = "".join(_field(action, f, lang) for f in action.fields)
        out.append(
            f'<form class="action" id="action-{action.id}" data-method="{action.method}" '
            f'data-endpoint="{e(action.endpoint)}" data-encoding="{action.encoding}" '
            f'data-merge-by="{action.merge_by}" '
            f'data-done="{e(label("done", lang))}" data-refused="{e(label("refused", lang))}">'
            f'<fieldset><legend>{e(label(action.title_key, lang))}</legend>{fields}'
            f'<button type="submit">{e(label("submit", lang))}</button>'
            f'<output class="result" aria-live="polite"></output></fieldset></form>')
    out.append("</section>")
    return "".join(out)
