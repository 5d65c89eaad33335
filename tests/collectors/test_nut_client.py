"""The NUT client against a scripted TCP server on loopback, for what a real upsd + dummy-ups
cannot produce: escaped quotes and backslashes, non-UTF-8 bytes, malformed lines, a server
dropping the connection (dummy-ups's parser garbles quotes and drops high bytes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from upkeep.collectors.base import Target
from upkeep.collectors.nut import NutCollector
from upkeep.collectors.nut_client import NutClient
from upkeep.config.ups import UpsConfig
from upkeep.errors import ProtocolError, TargetUnreachable
from upkeep.reading import Reading

Script = Callable[[bytes], bytes | None]


async def serve(lines: list[bytes], *, close_after: int | None = None
                ) -> tuple[asyncio.Server, int, list[int]]:
    """Answers LIST VAR u with ``lines``; closes each connection after ``close_after``
    commands. Returns the server, its port and a list counting connections."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        count = 0
        try:
            while line := await reader.readline():
                count += 1
                if line.startswith(b"LIST VAR u"):
                    writer.write(b"BEGIN LIST VAR u\n" + b"".join(x + b"\n" for x in lines)
                                 + b"END LIST VAR u\n")
                elif line.startswith(b"LIST CLIENT u"):
                    writer.write(b"BEGIN LIST CLIENT u\nCLIENT u 127.0.0.1\nEND LIST CLIENT u\n")
                else:
                    writer.write(b"ERR UNKNOWN-COMMAND\n")
                await writer.drain()
                if close_after is not None and count >= close_after:
                    break
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], connections


async def poll_once(port: int) -> Reading:
    from upkeep.agents.runtime import poll_target

    entry = UpsConfig.model_validate({"name": "u", "nut": {"host": "127.0.0.1", "port": port,
                                                           "ups": "u", "interval": "3s",
                                                           "timeout": "2s"}})
    collector = NutCollector([entry])
    try:
        [reading] = await poll_target(collector, collector.targets()[0])
    finally:
        await collector.aclose()
    return reading


def run_with(lines: list[bytes]) -> Reading:
    async def main() -> Reading:
        server, port, _ = await serve(lines)
        async with server:
            return await poll_once(port)

    return asyncio.run(main())


def test_escaped_values_and_non_utf8_bytes() -> None:
    reading = run_with([b'VAR u ups.status "OL"', rb'VAR u ups.model "Smart \"X\" \\ 1500"',
                        b'VAR u ups.mfr "Onduleur \xe9t\xe9"', b'VAR u battery.charge "55"'])
    assert reading.ok, reading.message
    assert reading.info["model"] == 'Smart "X" \\ 1500'
    assert reading.info["mfr"] == "Onduleur \ufffdt\ufffd"
    assert reading.info["clients"] == ["127.0.0.1"]
    assert reading.info["battery_charge"] == pytest.approx(0.55)


@pytest.mark.parametrize(("lines", "message"), [
    ([b'VAR u ups.model "unterminated'], "unterminated quote"),
    ([b'VAR u ups.status "OL \xff\xfe"'], "absurd ups.status"),
    ([b"HELLO"], "unexpected line"),
    ([b'VAR other ups.status "OL"'], "unexpected line"),
])
def test_malformed_answers_fail_with_protocol_reason(lines: list[bytes], message: str) -> None:
    reading = run_with(lines)
    assert (reading.ok, reading.reason) == (False, "protocol")
    assert message in reading.message


def test_kept_connection_dropped_by_server_is_retried_once() -> None:
    async def main() -> tuple[dict[str, str], dict[str, str], int]:
        server, port, connections = await serve([b'VAR u ups.status "OL"'], close_after=1)
        async with server:
            client = NutClient("127.0.0.1", port, timeout=2)
            try:
                first = await client.list_var("u")
                await asyncio.sleep(0.05)  # the server has closed its side by now
                second = await client.list_var("u")
            finally:
                await client.aclose()
        return first, second, len(connections)

    first, second, connections = asyncio.run(main())
    assert first == second == {"ups.status": "OL"}
    assert connections == 2


def test_server_closing_mid_answer_is_unreachable() -> None:
    async def main() -> BaseException:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readline()
            writer.write(b"BEGIN LIST VAR u\nVAR u ups.status \"OL\"\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            client = NutClient("127.0.0.1", server.sockets[0].getsockname()[1], timeout=2)
            try:
                await client.list_var("u")
            except (TargetUnreachable, ProtocolError) as err:
                return err
            finally:
                await client.aclose()
        raise AssertionError("no error")

    err = asyncio.run(main())
    assert isinstance(err, TargetUnreachable)


def test_targets_follow_config() -> None:
    entry = UpsConfig.model_validate({"name": "rack-a", "nut": {"ups": "ups1", "interval": "20s",
                                                                "timeout": "4s"}})
    [target] = NutCollector([entry]).targets()
    assert isinstance(target, Target)
    assert (target.kind, target.name, target.interval, target.timeout) == ("nut", "rack-a", 20, 4)


def test_names_that_would_break_the_protocol_are_refused() -> None:
    async def main() -> str:
        client = NutClient("127.0.0.1", 9, timeout=1)  # never contacted
        try:
            await client.list_var("ups1\nFSD ups1")
        except Exception as err:
            return f"{type(err).__name__}:{getattr(err, 'reason', '')}"
        finally:
            await client.aclose()
        return "sent"

    assert asyncio.run(main()) == "CollectorError:config"
