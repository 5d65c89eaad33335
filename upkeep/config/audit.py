"""``audit:`` — the website standards audit (W3C HTML conformance, accessibility, Thai).

Two places: the top-level ``audit:`` says where the optional tools are and bounds every run;
a website's own ``audit:`` switches the audit on for that site (off by default)::

    audit:                      # top level: tools and limits (these are the defaults)
      java: java
      vnu_jar: /opt/upkeep-audit/node_modules/vnu-jar/build/dist/vnu.jar
      axe_js: /opt/upkeep-audit/node_modules/axe-core/axe.min.js
      chromium: /usr/bin/chromium
      max_page_bytes: 5242880
      page_timeout: 30s
      timeout: 5m
    websites:
      - name: office
        url: https://www.example.go.th/
        audit: {enabled: true, interval: 1d, check_interval: 1h, pages: [https://www.example.go.th/news]}
        # or simply ``audit: true``

The audited pages are the website's URL, its ``policy_pages`` and ``audit.pages``. Every
``check_interval`` the pages are fetched and hashed; the full audit runs when ``interval``
has passed since the last one or a page's content changed.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from upkeep.config.base import Duration, StrictModel

#: where scripts/install-test-deps (and docs/deployment.md) put the npm packages
AUDIT_PREFIX = "/opt/upkeep-audit/node_modules"


class AuditToolsConfig(StrictModel):
    """Where the audit's optional tools live, and the limits of one audit run."""

    java: str = "java"
    vnu_jar: str = f"{AUDIT_PREFIX}/vnu-jar/build/dist/vnu.jar"
    axe_js: str = f"{AUDIT_PREFIX}/axe-core/axe.min.js"
    chromium: str = "/usr/bin/chromium"
    #: a page larger than this is not audited (reason ``body_too_large``)
    max_page_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 5 * 1024 * 1024
    #: one page in the browser (load + axe) at most this long
    page_timeout: Duration = 30.0
    #: one whole audit (every page of a website, both tools) at most this long
    timeout: Duration = 300.0

    @model_validator(mode="after")
    def _check(self) -> AuditToolsConfig:
        if self.page_timeout >= self.timeout:
            raise ValueError("page_timeout must be shorter than timeout")
        return self


class WebsiteAuditConfig(StrictModel):
    """A website's own ``audit:`` (``true`` is short for ``{enabled: true}``)."""

    enabled: bool = False
    #: a full audit at least this often
    interval: Duration = 86400.0
    #: pages are fetched and hashed this often; a changed page is audited at once
    check_interval: Duration = 3600.0
    #: more pages to audit besides the website's URL and its policy pages
    pages: list[str] = []
    #: the pages are Thai: ``lang="th"`` is expected on the root element
    thai: bool = True

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value

    @field_validator("pages")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        from upkeep.config.websites import check_url

        return [check_url(v) for v in value]

    @model_validator(mode="after")
    def _check(self) -> WebsiteAuditConfig:
        if self.check_interval > self.interval:
            raise ValueError("check_interval must not be longer than interval")
        return self
