"""The agent's own power-event notifications: webhooks, SMTP e-mail and/or a command.

Prometheus and Alertmanager page for a branch from the centre; but a branch on battery may
have lost its link to the centre, so the agent also tells people itself, at once, the way
NUT's upsmon NOTIFYCMD does. ``Notifier`` (service ``"notify"``) listens to the power-event
recorder (``upkeep.agents.events``), queues every event per channel in a durable SQLite outbox
(``upkeep.agents.outbox``) and delivers it:

- at once, then with exponential backoff per channel (``notify.retry``) while a receiver is
  down; per channel the order of events is kept (no "back on line" before "on battery");
- across restarts: the outbox and its watermark live in the agent's database, and events
  recorded while the notifier was not running are picked up from the events table;
- at least once: a receiver may see a retried delivery twice, so each carries a stable id
  (webhook ``Idempotency-Key`` header and body ``id``, e-mail ``Message-ID``);
- deduplicated: the same event for the same UPS again within ``dedup_window`` is not sent;
- in Thai, English or both (``notify.language``); never with a secret in a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import ssl
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from upkeep.agents.events import find_recorder
from upkeep.agents.notify_templates import Language, document, render
from upkeep.agents.outbox import Item, Outbox
from upkeep.config.base import reveal
from upkeep.config.notify import CommandConfig, EmailConfig, NotifyConfig, WebhookConfig
from upkeep.errors import StoreError
from upkeep.events import UPSMON_NAMES, Event
from upkeep.kit.db import Database
from upkeep.metrics import Sample, counter, gauge, sample

if TYPE_CHECKING:
    from email.message import EmailMessage

    from upkeep.agents.runtime import Agent

log = logging.getLogger(__name__)
_R = "events"

PENDING = gauge("upkeep_notify_pending", "Power-event notifications waiting in the outbox "
                "(receiver down or retrying).", ("channel",), room=_R)
SENT = counter("upkeep_notify_sent_total", "Power-event notifications delivered.",
               ("channel",), room=_R)
FAILURES = counter("upkeep_notify_failures_total", "Failed delivery attempts of power-event "
                   "notifications (each retry counts).", ("channel",), room=_R)
DROPPED = counter("upkeep_notify_dropped_total", "Power-event notifications given up "
                  "(older than retry.give_up_after, or refused for good by the receiver).",
                  ("channel",), room=_R)

#: how often finished outbox rows are pruned (at start, then this often)
PRUNE_EVERY = 6 * 3600.0
#: the outbox metrics are recomputed when the outbox changes; this is only a safety net
SOURCE_EVERY = 60.0

#: HTTP statuses worth retrying; any other 4xx means the request itself is wrong
_RETRY_STATUSES = {408, 425, 429}


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    key: str

    async def deliver(self, event: Event, site: str, language: Language) -> None: ...

    async def aclose(self) -> None: ...


class WebhookChannel:
    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        digest = hashlib.sha256(config.url.encode()).hexdigest()[:8]
        # the URL may carry a token: the key (a metric label, log text) shows only host + hash
        self.key = f"webhook:{urlsplit(config.url).hostname}:{digest}"
        import httpx  # only agents with a webhook pay for httpx (and what it pulls in)

        self._client = httpx.AsyncClient(timeout=config.timeout, follow_redirects=False)

    async def deliver(self, event: Event, site: str, language: Language) -> None:
        headers = {name: reveal(value) or "" for name, value in self.config.headers.items()}
        headers["Idempotency-Key"] = f"upkeep-{site}-{event.id}"
        import httpx

        try:
            response = await self._client.post(self.config.url, headers=headers,
                                               json=document(event, site, language))
        except httpx.HTTPError as err:
            raise DeliveryError(f"{type(err).__name__}: {_scrub(str(err), self.config.url)}"
                                ) from None
        if response.is_success:
            return
        status = response.status_code
        permanent = 400 <= status < 500 and status not in _RETRY_STATUSES
        raise DeliveryError(f"HTTP {status}", permanent=permanent)

    async def aclose(self) -> None:
        await self._client.aclose()


class EmailChannel:
    key = "email"

    def __init__(self, config: EmailConfig) -> None:
        self.config = config

    def message(self, event: Event, site: str, language: Language) -> EmailMessage:
        # only agents that send mail load the email package and smtplib
        from email.message import EmailMessage
        from email.utils import formatdate

        text = render(event, site, language)
        msg = EmailMessage()
        msg["Subject"] = f"[upkeep] {text.title}"
        msg["From"] = self.config.from_
        msg["To"] = ", ".join(self.config.to)
        msg["Date"] = formatdate(event.time, localtime=False)
        # stable across retries and restarts, so a mail client can drop a duplicate
        msg["Message-ID"] = f"<upkeep.{event.id}.{_slug(site)}@{_slug(socket.gethostname())}>"
        msg["X-Upkeep-Event"] = f"{event.kind} {UPSMON_NAMES[event.kind]}"
        msg.set_content(text.body)
        return msg

    async def deliver(self, event: Event, site: str, language: Language) -> None:
        msg = self.message(event, site, language)
        await asyncio.to_thread(self._send, msg)

    def _send(self, msg: EmailMessage) -> None:
        import smtplib

        cfg = self.config
        try:
            context = ssl.create_default_context(cafile=cfg.ca_file)
            smtp: smtplib.SMTP = (smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout,
                                                   context=context) if cfg.tls
                                  else smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout))
            with smtp:
                if cfg.starttls:
                    smtp.starttls(context=context)
                if cfg.username is not None:
                    smtp.login(cfg.username, reveal(cfg.password) or "")
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as err:
            codes = [code for code, _ in err.recipients.values()]
            raise DeliveryError(f"recipients refused: {sorted(set(codes))}",
                                permanent=all(code >= 500 for code in codes)) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as err:
            # 5xx: this message will never be accepted; 4xx: try again later
            raise DeliveryError(f"{type(err).__name__}: SMTP {err.smtp_code}",
                                permanent=err.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as err:
            # auth failures stay retryable: a corrected password (reload) still delivers
            raise DeliveryError(f"{type(err).__name__}: {err}") from None

    async def aclose(self) -> None:
        pass


class CommandChannel:
    key = "command"

    def __init__(self, config: CommandConfig) -> None:
        self.config = config

    async def deliver(self, event: Event, site: str, language: Language) -> None:
        text = render(event, site, language)
        env = {**os.environ, "NOTIFYTYPE": UPSMON_NAMES[event.kind], "UPSNAME": event.ups,
               "UPKEEP_SITE": site, "UPKEEP_EVENT": event.kind, "UPKEEP_EVENT_ID": str(event.id),
               "UPKEEP_SEVERITY": event.severity, "UPKEEP_TITLE": text.title,
               "UPKEEP_TIME": str(event.time)}
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.config.argv, f"{text.title}\n{text.body}", env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
        except OSError as err:
            raise DeliveryError(f"cannot run {self.config.argv[0]}: {err.strerror}") from None
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), self.config.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise DeliveryError(f"no exit within {self.config.timeout:g}s") from None
        if proc.returncode != 0:
            tail = output.decode(errors="replace").strip()[-200:]
            raise DeliveryError(f"exit status {proc.returncode}: {tail}")

    async def aclose(self) -> None:
        pass


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in text) or "x"


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "<webhook url>")


def build_channels(config: NotifyConfig) -> list[Channel]:
    channels: list[Channel] = [WebhookChannel(w) for w in config.webhooks]
    if config.email is not None:
        channels.append(EmailChannel(config.email))
    if config.command is not None:
        channels.append(CommandChannel(config.command))
    return channels


def backoff(failures: int, initial: float, maximum: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: initial, 2x, 4x ... max."""
    return float(min(initial * 2 ** max(failures - 1, 0), maximum))


class Notifier:
    name = "notify"

    def __init__(self, config: NotifyConfig, site: str, db: Database) -> None:
        self.config = config
        self.site = site
        self.outbox = Outbox(db)
        self.channels = {c.key: c for c in build_channels(config)}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._agent: Agent | None = None
        self._pruned_at = 0.0

    # --- service ---------------------------------------------------------------------------
    async def start(self, agent: Agent) -> None:
        self._agent = agent
        recorder = find_recorder(agent)
        if recorder is None:
            log.error("no power-event recorder: notifications are not sent")
        else:
            # events recorded while we were away (crash between commit and queue, restart)
            for event in self.outbox.missed_events(self.outbox.start_watermark()):
                self.take(event)
            recorder.add_listener(self.take)
        # outbox counts: recomputed when a notification is queued or its state changes
        agent.store.add_source(self.samples, every=SOURCE_EVERY)
        self._task = asyncio.create_task(self._run(), name="notify delivery")

    async def stop(self) -> None:
        if self._agent is not None:
            recorder = find_recorder(self._agent)
            if recorder is not None:
                recorder.remove_listener(self.take)
            self._agent.store.remove_source(self.samples)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for channel in self.channels.values():
            await channel.aclose()

    # --- queueing --------------------------------------------------------------------------
    def take(self, event: Event) -> None:
        """Listener of the recorder: queue the event durably, wake the delivery loop."""
        try:
            result = self.outbox.enqueue(event, self.channels, now=time.time(),
                                         dedup_window=self.config.dedup_window,
                                         wanted=event.kind in self.config.events)
        except StoreError:
            # the event stays in the events table above the watermark: taken at next start
            log.exception("cannot queue notification of %s %s", event.ups, event.kind)
            return
        self._changed()
        if result == "suppressed":
            log.info("UPS %s %s again within %gs: not notified twice", event.ups, event.kind,
                     self.config.dedup_window)
        self._wake.set()

    # --- delivery --------------------------------------------------------------------------
    def prune(self, now: float) -> int:
        """Forget finished outbox rows older than ``keep_history`` (the events stay)."""
        deleted = self.outbox.prune(now - self.config.keep_history)
        self._pruned_at = now
        if deleted:
            log.info("pruned %d finished notifications older than %gs", deleted,
                     self.config.keep_history)
        return deleted

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if time.time() - self._pruned_at >= PRUNE_EVERY:
                try:
                    self.prune(time.time())
                except StoreError:  # a full disk must not hold deliveries up: try again later
                    log.exception("cannot prune the notification outbox")
                    self._pruned_at = time.time()
            try:
                wait = await self.deliver_due()
            except StoreError:
                log.exception("notification outbox unreadable; retrying in 30s")
                wait = 30.0
            with contextlib.suppress(TimeoutError):  # (asyncio.timeout: see exposition.py)
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def deliver_due(self) -> float:
        """Deliver what is due on every channel concurrently; seconds until the next retry."""
        by_channel: dict[str, list[Item]] = defaultdict(list)
        for item in self.outbox.pending():
            by_channel[item.channel].append(item)
        waits = await asyncio.gather(*(self._deliver_channel(key, items)
                                       for key, items in by_channel.items()))
        return min([3600.0, *waits])

    async def _deliver_channel(self, key: str, items: list[Item]) -> float:
        channel = self.channels.get(key)
        retry = self.config.retry
        for item in items:
            now = time.time()
            if channel is None:
                self.outbox.dropped(item, "channel no longer configured", now)
                log.warning("dropped notification %s of %s: %s is no longer configured",
                            item.event.kind, item.event.ups, key)
                self._changed()
                continue
            if now - item.created > retry.give_up_after:
                self.outbox.dropped(item, f"undelivered after {retry.give_up_after:g}s: "
                                    f"{item.last_error}", now)
                log.error("gave up notifying %s of %s %s: %s", key, item.event.ups,
                          item.event.kind, item.last_error)
                self._changed()
                continue
            if item.next_attempt > now:
                return float(item.next_attempt - now)  # keep the order: nothing overtakes the head
            try:
                await channel.deliver(item.event, self.site, self.config.language)
            except DeliveryError as err:
                if err.permanent:
                    self.outbox.failed(item, str(err), now)
                    self.outbox.dropped(item, str(err), time.time())
                    log.error("%s refused notification of %s %s for good: %s", key,
                              item.event.ups, item.event.kind, err)
                    self._changed()
                    continue
                delay = backoff(item.attempts + 1, retry.initial, retry.max)
                self.outbox.failed(item, str(err), time.time() + delay)
                if item.attempts == 0:  # once per outage, not every retry
                    log.warning("%s unreachable (%s); retrying with backoff", key, err)
                self._changed()
                return delay
            self.outbox.sent(item, time.time())
            if item.attempts:
                log.info("%s delivered %s %s after %d retries", key, item.event.ups,
                         item.event.kind, item.attempts)
            self._changed()
        return 3600.0

    def _changed(self) -> None:
        if self._agent is not None:
            self._agent.store.source_changed(self.samples)

    # --- metrics ---------------------------------------------------------------------------
    def samples(self) -> Iterator[Sample]:
        counts = self.outbox.counts()
        failures = self.outbox.failures()
        for key in sorted(set(self.channels) | {c for c, _ in counts}):
            yield sample(PENDING, counts.get((key, "pending"), 0), channel=key)
            yield sample(SENT, counts.get((key, "sent"), 0), channel=key)
            yield sample(DROPPED, counts.get((key, "dropped"), 0), channel=key)
            yield sample(FAILURES, failures.get(key, 0), channel=key)


def factory(agent: Agent) -> Notifier | None:
    config = agent.config.notify
    if not config.enabled:
        return None
    if agent.db is None:
        log.error("no database (%s): power-event notifications are off", agent.db_error)
        return None
    return Notifier(config, agent.config.site, agent.db)
