"""``upkeep run``: the long-running agent."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import ssl
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from pydantic import ValidationError

from upkeep.agents.config_security import warn_if_exposed
from upkeep.agents.front import AgentFront
from upkeep.agents.runtime import Agent
from upkeep.agents.web_tls import (
    ReloadingContext,
    exposure_warnings,
    san_checking_protocol,
    server_context,
)
from upkeep.config import Config, ConfigError, check_listen, load_config
from upkeep.kit.cli import EXIT_CONFIG, EXIT_OK, add_config_arg, print_config_error, with_config

log = logging.getLogger("upkeep.agents.run")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="run the agent (no -c: monitor this host on the "
                                        "embedded default config)")
    add_config_arg(parser)
    parser.add_argument("--listen", metavar="HOST:PORT",
                        help="listen here instead of the config's `listen` (e.g. 127.0.0.1:10317)")
    parser.set_defaults(func=with_config(run))


def with_listen(config: Config, listen: str) -> Config:
    """``config`` with ``listen`` replaced, validated as the YAML key is; raises ConfigError."""
    try:
        return Config.model_validate({**dict(config), "listen": listen})
    except ValidationError as err:
        problems = [("--listen", e["msg"].removeprefix("Value error, ")) for e in err.errors()]
        raise ConfigError(problems) from None


def run(args: argparse.Namespace, config: Config) -> int:
    try:
        if args.listen:
            config = with_listen(config, args.listen)
        check_listen(config)
        toolkit = config.web.toolkit()
        if toolkit.tls_server_config is not None:
            server_context(toolkit.tls_server_config)  # bad cert/key: exit 2 before serving
    except ValueError as err:
        print_config_error(ConfigError([("web", str(err))]), args.config or "<embedded default>")
        return EXIT_CONFIG
    except (OSError, ssl.SSLError) as err:
        print_config_error(ConfigError([("web.tls_server_config", f"cannot load: {err}")]),
                           args.config or "<embedded default>")
        return EXIT_CONFIG
    except ConfigError as err:
        print_config_error(err, args.config or "<embedded default>")
        return EXIT_CONFIG
    warn_if_exposed(args.config, config)
    for problem in exposure_warnings(config.listen_host, toolkit, config.web):
        log.warning("listening on %s beyond loopback %s", config.listen, problem)
    agent = Agent(config)
    path = args.config

    def reload_from_disk() -> None:
        if not path:
            log.info("SIGHUP: running on the embedded default, nothing to reload")
            return
        try:
            new = load_config(path)
            if args.listen:
                new = with_listen(new, args.listen)
        except ConfigError as err:
            log.error("SIGHUP: %s is invalid, keeping the running config: %s", path, err)
            return
        asyncio.get_running_loop().create_task(agent.reload(new))

    def started() -> None:
        if not install_reload_signal(asyncio.get_running_loop(), reload_from_disk):
            log.info("no SIGHUP on this platform: restart the agent to apply a new config")
        scheme = "https" if toolkit.tls_server_config is not None else "http"
        log.info("upkeep serving site %s on %s://%s/metrics (data in %s)",
                 config.site, scheme, config.listen, config.data_dir)
        # what start-up made (modules, classes, the config) lives as long as the process: out
        # of the collector's sight, a full collection scans only what polls make (a 500-UPS
        # agent: 55 ms pauses of the event loop before, see bench/RESULTS.md)
        gc.collect()
        gc.freeze()
        release_free_heap()

    front = AgentFront(agent, on_started=started)
    server = QuietServer(_server_config(front, config))
    server.run()
    return EXIT_OK


def release_free_heap() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``).

    Validating the config and starting the parts leaves the heap full of holes that glibc
    keeps mapped; trimming once after start-up takes ~1 MiB off a host-only agent's resident
    memory. Elsewhere (musl, macOS) there is nothing to call."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # only here

    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class QuietServer(uvicorn.Server):
    """uvicorn's server without its clock tick.

    uvicorn wakes every 0.1 s to refresh its ``Date`` header and to notice a stop signal; on
    an agent that is otherwise idle, waking a Python process costs ~0.15 ms of CPU each time,
    most of what the agent spends between scrapes. Here the ``Date`` header is written per
    response by the front (``AgentFront``; uvicorn's own is off) and a signal ends the wait
    directly, so nothing wakes the server between requests."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._tick: asyncio.Future[None] | None = None

    async def main_loop(self) -> None:
        loop = asyncio.get_running_loop()
        should_exit = await self.on_tick(0)  # sets the default headers once
        while not should_exit:
            self._tick = loop.create_future()
            if self.should_exit:  # a signal that came before the future existed
                break
            await self._tick
            should_exit = await self.on_tick(0)

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        tick = self._tick
        if tick is not None:  # a signal handler runs between bytecodes: hand over to the loop
            tick.get_loop().call_soon_threadsafe(_wake, tick)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def install_reload_signal(loop: asyncio.AbstractEventLoop, reload: Callable[[], None]
                          ) -> bool:
    """SIGHUP reloads the config where there is one (POSIX; Windows has none)."""
    if not hasattr(signal, "SIGHUP"):
        return False
    loop.add_signal_handler(signal.SIGHUP, reload)
    return True


def _server_config(front: AgentFront, config: Config) -> uvicorn.Config:
    """One uvicorn worker; TLS from ``web:`` with certificate reload and the SAN allow-list."""
    security = front.security()
    options: dict[str, Any] = {}
    if security.toolkit().tls_server_config is not None:
        reloading = ReloadingContext(security.toolkit)
        # uvicorn's factory hook: our context (versions, client auth, reload) instead of its own
        options["ssl_context_factory"] = lambda _config, _default: reloading.context
        options["ssl_certfile"] = reloading.tls.cert_file
        options["http"] = san_checking_protocol(reloading.allowed_sans)
    return uvicorn.Config(
        front, host=config.listen_host, port=config.listen_port, log_level="warning",
        access_log=False, lifespan="on", timeout_graceful_shutdown=3, workers=1,
        date_header=False,  # written by AgentFront per response (QuietServer has no tick)
        **options)
