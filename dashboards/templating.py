"""Jinja2 with autoescape for the UI: every value is escaped unless it is already ``Markup``.

jinja2 itself is imported on the first page rendered, so an agent nobody browses never
loads it. Templates ship as package
data under ``dashboards/templates/`` and are read through ``importlib.resources`` (works from
a wheel, a zip and the editable install alike).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

if TYPE_CHECKING:
    from jinja2 import Environment


def _source(name: str) -> str:
    return resources.files("upkeep.dashboards").joinpath("templates", name).read_text(
        encoding="utf-8")


@cache
def environment() -> Environment:
    from jinja2 import Environment, FunctionLoader, StrictUndefined

    # StrictUndefined: a misspelt variable is an error, not an empty string on the page
    return Environment(loader=FunctionLoader(_source), autoescape=True,
                       undefined=StrictUndefined, keep_trailing_newline=True)


def render(name: str, **context: Any) -> Markup:
    return Markup(environment().get_template(name).render(**context))
