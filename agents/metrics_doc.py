"""Generate docs/metrics.md from the metric declarations: ``python -m upkeep.agents.metrics_doc``.

Every metric any room can export is declared once with ``upkeep.metrics.gauge``/``counter``;
importing every collector and service module fills ``METRICS``. A test fails when the
committed docs/metrics.md differs from this output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from upkeep.errors import Reason
from upkeep.metrics import METRICS, MetricSpec

ROOM_TITLES = {
    "core": "Agent (self-monitoring)",
    "host": "Host (psutil; node_exporter names under `upkeep_host_`)",
    "ups": "UPS (NUT and SNMP: one model)",
    "web": "Websites and TLS",
    "events": "Power events",
    "policies": "Systems, incidents, KPI, checklist and assets",
}


#: what a reader needs before a room's table
ROOM_NOTES = {
    "ups": "The `ups` label is the entry's `name` for an entry with `nut.ups` or `snmp:`. An"
           " entry whose `nut:` has no `ups:` monitors every UPS its upsd lists, each under"
           " its NUT name; so that two upsd with a UPS of the same name never share a series,"
           " a discovered UPS is labelled `NAME@ENTRY` (the NUT name, `@`, the entry's `name`)"
           " when the config has more than one such entry or when `NAME` is another entry's"
           " `name`; a UPS named like its own entry keeps the plain name. A UPS its upsd no"
           " longer lists stays, with `upkeep_up 0` and reason `config`, until the agent"
           " restarts or reloads its config; an upsd that lists no UPS is `upkeep_up{target=ENTRY} 0`, reason"
           " `config`.",
}


def load_everything() -> None:
    """Import every module that declares metrics."""
    import upkeep.agents.exposition  # noqa: F401
    import upkeep.agents.lateness  # noqa: F401
    from upkeep.agents.services import service_factories
    from upkeep.collectors.base import load_all

    load_all()
    service_factories()


def _row(spec: MetricSpec) -> str:
    labels = ", ".join(f"`{label}`" for label in spec.labels) or "—"
    counterpart = spec.counterpart.replace("|", "\\|") if spec.counterpart else ""
    return f"| `{spec.name}` | {spec.type} | {labels} | {spec.help} | {counterpart} |"


def generate() -> str:
    load_everything()
    lines = [
        "# Metrics",
        "",
        "Generated from the code by `python -m upkeep.agents.metrics_doc -o docs/metrics.md`;"
        " do not edit by hand (a test fails when this file is stale).",
        "",
        "Conventions: prefix `upkeep_`, base units (seconds, bytes, volts, ratio 0–1), `_total`"
        " counters, no timestamps on samples, info metrics with value 1, state sets always"
        " present as 0/1. The `site` label is added by Prometheus as a target label from"
        " service discovery; the agent itself exposes `upkeep_agent_info{site}`.",
        "The last column names the counterpart in node_exporter, blackbox_exporter or the NUT"
        " exporters, so existing alerts and dashboards can be ported.",
        "",
    ]
    rooms: dict[str, list[MetricSpec]] = {}
    for spec in METRICS.values():
        if spec.name.startswith("node_"):
            continue  # node_compat duplicates, listed once below
        rooms.setdefault(spec.room, []).append(spec)
    order = [r for r in ROOM_TITLES if r in rooms] + sorted(set(rooms) - set(ROOM_TITLES))
    for room in order:
        lines += [f"## {ROOM_TITLES.get(room, room)}", "",
                  *([ROOM_NOTES[room], ""] if room in ROOM_NOTES else []),
                  "| metric | type | labels | meaning | counterpart |", "|---|---|---|---|---|"]
        lines += [_row(spec) for spec in sorted(rooms[room], key=lambda s: s.name)]
        lines.append("")
    compat = sorted(s.name for s in METRICS.values() if s.name.startswith("node_"))
    if compat:
        lines += ["## node_exporter compatibility (`host.node_compat: true`)", "",
                  "With `node_compat` on, these core series are also exposed under"
                  " node_exporter's own names, so the node-mixin alerts and the popular Node"
                  " Exporter dashboards work unchanged. Do not enable it on a host that also"
                  " runs node_exporter into the same Prometheus job.", "",
                  ", ".join(f"`{name}`" for name in compat), ""]
    lines += ["## Reasons", "",
              "Every value the `reason` label of `upkeep_poll_error` and"
              " `upkeep_tls_cert_problem` can take, also the `reason` of a reading, of a"
              " website's address, redirect check and policy page in the JSON API"
              " (`upkeep.errors.Reason`):", "",
              ", ".join(f"`{reason.value}`" for reason in Reason), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", help="write here instead of stdout")
    args = parser.parse_args(argv)
    text = generate()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
