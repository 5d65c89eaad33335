"""The action forms (outside the auto-refreshed part, so typing is never interrupted).

A form names the JSON API endpoint it calls (``data-endpoint``, with ``{field}`` placeholders
filled from the form) and the method; ``ui.js`` sends the fields as JSON (or the file as
multipart) with ``Authorization: Bearer <token>`` when a token was entered. The API refuses
writes without it (401/403) and records who acted; the form shows the API's answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from upkeep.dashboards.i18n import Lang, label
from upkeep.dashboards.templating import render


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


def actions(page: str, lang: Lang) -> Markup:
    """The page's forms (``templates/actions.html``), or nothing on a read-only page."""
    return render("actions.html", actions=ACTIONS.get(page, ()),
                  label=lambda key: label(key, lang))
