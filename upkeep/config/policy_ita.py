"""``policies.ita:``: where the website publishes each ITA disclosure (OIT) item.

Example::

    policies:
      ita:
        assessment_year: 2568   # the NACC assessment year the catalogue's items are for
        max_age: 365d           # a page must have been updated within this period
        interval: 1d            # how often the pages are fetched
        timeout: 15s
        pages:
          O1: {url: "https://jfo.moj.go.th/structure", expect_text: โครงสร้างหน่วยงาน}
          O5: {url: "https://jfo.moj.go.th/contact"}   # the catalogue's heading is expected

An item of the catalogue (``ITA-O1`` ...) with a configured URL is judged automatically: the
page must answer 200 over a verified connection, contain the expected heading text and have
been updated within ``max_age`` (``Last-Modified``, or when upkeep first saw its current
content). An item without a URL stays manual: it needs an attestation.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from upkeep.config.base import Duration, StrictModel
from upkeep.config.websites import check_url


class ItaPageConfig(StrictModel):
    url: str
    #: the heading the page must show (default: the catalogue item's ``params.heading``)
    expect_text: str | None = None
    #: this page's own freshness period (default: ``policies.ita.max_age``)
    max_age: Duration | None = None

    _url = field_validator("url")(check_url)


class ItaConfig(StrictModel):
    assessment_year: Annotated[int, Field(ge=2400, le=3000)] | None = None
    max_age: Duration = 365 * 86400.0
    interval: Duration = 86400.0
    timeout: Duration = 15.0
    #: extra CA bundle (PEM) trusted for these pages, besides the system store
    ca_file: str | None = None
    #: OIT item id (``O1`` ...) -> its page
    pages: dict[str, ItaPageConfig] = {}

    @model_validator(mode="after")
    def _check(self) -> ItaConfig:
        if self.timeout >= self.interval:
            raise ValueError("timeout must be shorter than interval")
        return self
