"""``upkeep run``: the long-running agent."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

import uvicorn
from upkeep.agents.app import create_app
from upkeep.agents.cli import EXIT_CONFIG, EXIT_OK, add_config_arg, print_config_error, with_config
from upkeep.agents.runtime import Agent

from upkeep.config import Config, ConfigError, check_listen, load_config

log = logging.getLogger("upkeep.agents.run")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help="run the agent (no -c: monitor this host on the "
                                        "embedded default config)")
    add_config_arg(parser)
    parser.set_defaults(func=with_config(run))


def run(args: argparse.Namespace, config: Config) -> int:
    try:
        check_listen(config)
    except ConfigError as err:
        print_config_error(err, args.config or "<embedded default>")
        return EXIT_CONFIG
    agent = Agent(config)
    path = args.config

    def reload_from_disk() -> None:
        if not path:
            log.info("SIGHUP: running on the embedded default, nothing to reload")
            return
        try:
            new = load_config(path)
        except ConfigError as err:
            log.error("SIGHUP: %s is invalid, keeping the running config: %s", path, err)
            return
        asyncio.get_running_loop().create_task(agent.reload(new))

    def started() -> None:
        loop = asyncio.get_running_loop()
        if hasattr(signal, "SIGHUP"):
            loop.add_signal_handler(signal.SIGHUP, reload_from_disk)
        log.info("upkeep serving site %s on http://%s/metrics (data in %s)",
                 config.site, config.listen, config.data_dir)

    app = create_app(agent, on_started=started)
    web = config.web
    ssl: dict[str, object] = {}
    if web.tls_server_config is not None:
        import ssl as ssl_mod

        ssl = {"ssl_certfile": web.tls_server_config.cert_file,
               "ssl_keyfile": web.tls_server_config.key_file}
        if web.tls_server_config.client_ca_file:
            ssl["ssl_ca_certs"] = web.tls_server_config.client_ca_file
            ssl["ssl_cert_reqs"] = ssl_mod.CERT_REQUIRED
    server = uvicorn.Server(uvicorn.Config(
        app, host=config.listen_host, port=config.listen_port, log_level="warning",
        access_log=False, lifespan="on", timeout_graceful_shutdown=3, workers=1,
        **ssl))  # type: ignore[arg-type]
    server.run()
    return EXIT_OK
