"""``notify:``: the agent's own power-event notifications (what NUT's upsmon NOTIFYCMD does).

Example::

    notify:
      language: both                 # th | en | both
      webhooks:
        - url: https://chat.example/hooks/abc
          headers: {Authorization: "Bearer ${HOOK_TOKEN}"}
      email:
        host: mail.example.go.th
        port: 587
        starttls: true
        username: upkeep
        password_file: /etc/upkeep/smtp-password
        from: upkeep@example.go.th
        to: [it-admins@example.go.th]
      command:
        argv: [/usr/local/bin/page-oncall, --team, it]
      dedup_window: 5m
      retry: {initial: 5s, max: 10m, give_up_after: 24h}
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from upkeep.config.base import Duration, StrictModel
from upkeep.events import EVENT_KINDS


class WebhookConfig(StrictModel):
    """POST a JSON document per event. Header values may hold tokens: they are secrets."""

    url: str
    headers: dict[str, SecretStr] = {}
    timeout: Duration = 10.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value


class EmailConfig(StrictModel):
    """SMTP submission. ``starttls`` upgrades a plain connection (port 587); ``tls`` speaks
    TLS from the first byte (port 465). Certificates are verified against the system store
    or ``ca_file``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    host: str
    port: int = Field(587, gt=0, lt=65536)
    starttls: bool = True
    tls: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    timeout: Duration = 20.0

    @model_validator(mode="after")
    def _one_tls_mode(self) -> EmailConfig:
        if self.starttls and self.tls:
            raise ValueError("give starttls (port 587) or tls (port 465), not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


class CommandConfig(StrictModel):
    """Run a program per event, like upsmon's NOTIFYCMD: the message is appended as the last
    argument and the event is in the environment (NOTIFYTYPE, UPSNAME, UPKEEP_*)."""

    argv: list[str] = Field(min_length=1)
    timeout: Duration = 30.0


class RetryConfig(StrictModel):
    """Exponential backoff per channel: initial, doubled each failure up to max."""

    initial: Duration = 5.0
    max: Duration = 600.0
    #: an event still undelivered after this long is dropped (logged), not sent stale
    give_up_after: Duration = 86400.0

    @model_validator(mode="after")
    def _ordered(self) -> RetryConfig:
        if self.max < self.initial:
            raise ValueError("max must not be shorter than initial")
        return self


class NotifyConfig(StrictModel):
    webhooks: list[WebhookConfig] = []
    email: EmailConfig | None = None
    command: CommandConfig | None = None
    language: Literal["th", "en", "both"] = "both"
    #: which power events to send (default: all of them)
    events: list[str] = list(EVENT_KINDS)
    #: the same event for the same UPS again within this window is not sent twice
    dedup_window: Duration = 300.0
    retry: RetryConfig = RetryConfig()
    #: finished outbox rows (sent, dropped, suppressed) are deleted this long after they
    #: finished; the power events themselves stay in the events table
    keep_history: Duration = 90 * 86400.0

    @field_validator("events")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EVENT_KINDS))
        if unknown:
            raise ValueError(f"unknown event kinds {unknown}; known: {', '.join(EVENT_KINDS)}")
        return value

    @model_validator(mode="after")
    def _history_covers_the_windows(self) -> NotifyConfig:
        # dedup compares an event with the previous row of its UPS: that row must still exist
        if self.keep_history <= self.dedup_window:
            raise ValueError(f"keep_history must be longer than dedup_window "
                             f"({self.dedup_window:g}s)")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.webhooks or self.email or self.command)
