"""``upkeep audit``: the website standards audit once, now (``upkeep.collectors.web_audit``).

``upkeep audit -c FILE`` audits every configured website (its ``audit:`` switch only governs
the agent's schedule); ``upkeep audit URL ...`` audits those pages (with ``-c``, using that
config's tools, limits and resolver). ``--check-tools`` says which optional tool is missing
and the command that installs it. Exit 0 when everything audited is clean, 1 when a page has
findings or could not be audited (or a tool is missing), 2 on bad usage or config.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from typing import Any

from upkeep.config import Config
from upkeep.config.websites import WebsiteConfig
from upkeep.kit.cli import EXIT_DOWN, EXIT_OK, UsageError, add_config_arg, with_config
from upkeep.reading import Reading


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("audit", help="check websites' pages against W3C HTML, WCAG 2.1 "
                                          "A/AA and the Thai-language rules now")
    add_config_arg(parser)
    parser.add_argument("urls", nargs="*", metavar="URL", help="pages to audit instead of "
                        "the configured websites")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--check-tools", action="store_true",
                        help="only say which audit tools are missing and how to install them")
    parser.add_argument("--ca-file", metavar="PEM", help="extra CA trusted for URL arguments")
    parser.set_defaults(func=with_config(audit_command))


def _websites(args: argparse.Namespace, config: Config) -> list[WebsiteConfig]:
    if args.urls:
        try:
            site = WebsiteConfig.model_validate({
                "name": "cli", "url": args.urls[0], "tls": {"ca_file": args.ca_file},
                "audit": {"enabled": True, "pages": args.urls[1:]}})
        except ValueError as err:
            raise UsageError(f"bad URL: {err}") from None
        return [site]
    if not config.websites:
        raise UsageError("no websites to audit: give URLs, or -c FILE with websites:")
    return [w.model_copy(update={"audit": w.audit.model_copy(update={"enabled": True})})
            for w in config.websites]


async def _audit_all(config: Config, websites: Sequence[WebsiteConfig]) -> list[Reading]:
    from upkeep.collectors.web_audit import AuditCollector

    collector = AuditCollector(websites, config.resolver, config.audit)
    try:
        return [await collector.run(w, config.audit.timeout, force=True) for w in websites]
    finally:
        await collector.aclose()


def format_tools(tools: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, tool in tools.items():
        lines.append(f"{name:<11} {'ok' if tool['ok'] else 'MISSING':<8} {tool['detail']}")
    missing = [t["install"] for t in tools.values() if not t["ok"]]
    if missing:
        lines += ["", "to install what is missing:", *(f"  {c}" for c in missing)]
    return "\n".join(lines)


def _count(part: dict[str, Any], key: str) -> str:
    if part.get("reason"):
        return "n/a"
    value = part[key]
    return str(sum(value.values()) if isinstance(value, dict) else value)


def format_report(readings: Sequence[Reading]) -> str:
    out: list[str] = []
    for r in readings:
        out.append(f"== {r.target}  {r.info.get('summary', {}).get('en', r.message)}")
        for name, page in (r.info.get("pages") or {}).items():
            if page["reason"]:
                out.append(f"  {name}  {page['url']}  NOT AUDITED ({page['reason']}): "
                           f"{page['message']}")
                continue
            html, axe, thai = page["html"], page["accessibility"], page["thai"]
            out.append(f"  {name}  {page['url']}  html errors {_count(html, 'errors')}, "
                       f"warnings {_count(html, 'warnings')}; accessibility "
                       f"{_count(axe, 'impacts')}; thai "
                       f"{'ok' if thai['ok'] else ', '.join(thai['problems'])}")
            for part in (html, axe):
                if part["reason"]:
                    out.append(f"    not available ({part['reason']}): {part['message']}")
            for m in html.get("messages", []):
                out.append(f"    line {m['line']}:{m['column']} {m['type']}: {m['message']}")
            for v in axe.get("violations", []):
                where = ", ".join(n["target"] for n in v["nodes"][:3])
                out.append(f"    [{v['impact']}] {v['id']}: {v['help']} ({where})")
    return "\n".join(out)


def audit_command(args: argparse.Namespace, config: Config) -> int:
    # the audit's stack (dnspython, cryptography ...) loads only when the command runs: the
    # CLI's parser imports this module for `upkeep run` too
    from upkeep.collectors.web_audit import check_tools, findings

    if args.check_tools:
        tools = check_tools(config.audit)
        print(json.dumps(tools, indent=2) if args.json else format_tools(tools))
        return EXIT_OK if all(t["ok"] for t in tools.values()) else EXIT_DOWN
    readings = asyncio.run(_audit_all(config, _websites(args, config)))
    if args.json:
        print(json.dumps([r.to_json() for r in readings], indent=2, ensure_ascii=False))
    else:
        print(format_report(readings))
    return EXIT_DOWN if any(next(findings(r), None) for r in readings) else EXIT_OK
