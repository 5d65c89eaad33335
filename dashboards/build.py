"""Build the Grafana dashboards as plain dicts and write the committed JSON.

Run ``python dashboards/build.py`` after a change and commit the JSON it writes;
``python dashboards/build.py --check`` exits 1 when a committed file is stale (the static test
does the same). Classic dashboard JSON with a pinned ``schemaVersion``: it is what Grafana's file
provisioning imports, and it needs no SDK (grafana-foundation-sdk is alpha and leaves panel ids
and refIds unset, see docs in the alerts-dashboards reference).

Every panel queries ``${datasource}`` (never a uid from somebody's instance) and filters on
``site=~"$site"``; the ``site`` label is the target label Prometheus adds from upkeep's service
discovery, so these dashboards work for one agent and for the whole fleet alike.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from upkeep.dashboards.grafana_json import (
    DS,
    UIDS,
    Layout,
    S,
    dashboard,
    query_var,
    site_var,
    stat,
    state_timeline,
    table,
    timeseries,
)

HERE = Path(__file__).resolve().parent


def _board(key: str, layout: Layout, **kwargs: Any) -> dict[str, Any]:
    # typed here: mypy sees the package-dir-mapped module only as Any
    out: dict[str, Any] = dashboard(key, layout, **kwargs)
    return out

POWER_ANNOTATION = {
    "name": "On battery", "datasource": DS, "enable": True, "iconColor": "orange",
    "expr": f'changes(upkeep_ups_status{{flag="OB", {S}}}[2m]) > 0',
    "titleFormat": "Power event", "textFormat": "{{site}} {{ups}} on-battery flag changed",
    "step": "60s",
}

OK_BAD: list[tuple[float | None, str]] = [(None, "green"), (1, "red")]


# --- the dashboards ---------------------------------------------------------------------------

def fleet() -> dict[str, Any]:
    lay = Layout()
    lay.row("Now")
    lay.add(stat("Sites reporting", f"count(upkeep_agent_info{{{S}}}) or vector(0)",
                 description="Agents Prometheus scrapes (one per site)."), 4, 4)
    lay.add(stat("UPS on battery", f'count(upkeep_ups_status{{flag="OB", {S}}} == 1) or vector(0)',
                 steps=OK_BAD, description="UPS units reporting the OB flag now."), 4, 4)
    lay.add(stat("Targets down", f"count(upkeep_up{{{S}}} == 0) or vector(0)", steps=OK_BAD,
                 description="Targets whose last poll failed (any kind)."), 4, 4)
    lay.add(stat("Websites down",
                 f"count(max by (site, website) (upkeep_website_up{{{S}}}) == 0) or vector(0)",
                 steps=OK_BAD), 4, 4)
    lay.add(stat("Open incidents", f"sum(upkeep_incident_open{{{S}}}) or vector(0)",
                 steps=OK_BAD), 4, 4)
    lay.add(stat("Certificates < 30 days",
                 f"count((upkeep_tls_cert_not_after_timestamp_seconds{{{S}}} - time()) "
                 f"< 30 * 86400) or vector(0)", steps=OK_BAD), 4, 4)
    lay.row("Sites")
    site_link = [{"title": "Site detail",
                  "url": f"/d/{UIDS['site']}?var-site=${{__data.fields.site}}"}]
    lay.add(table(
        "Every site",
        (f"max by (site) (upkeep_ups_status{{flag=\"OB\", {S}}})", "on battery"),
        (f"sum by (site) (1 - upkeep_up{{{S}}})", "targets down"),
        (f'min by (site) (upkeep_up{{kind="host", {S}}})', "hosts up"),
        (f"min by (site) (upkeep_website_up{{{S}}})", "websites up"),
        (f"sum by (site) (upkeep_incident_open{{{S}}})", "open incidents"),
        (f"min by (site) (upkeep_kpi_recovery_level{{{S}}})", "KPI level"),
        description="One row per site: power, failed targets, hosts, websites, incidents, "
                    "KPI level.",
        links=site_link), 24, 9)
    lay.row("History")
    lay.add(timeseries("UPS on battery by site",
                       (f'max by (site) (upkeep_ups_status{{flag="OB", {S}}})', "{{site}}"),
                       min_=0, max_=1), 12, 7)
    lay.add(timeseries("Targets up by kind",
                       (f"sum by (kind) (upkeep_up{{{S}}})", "{{kind}}"), min_=0), 12, 7)
    return _board("fleet", lay, tags=["fleet"], variables=[site_var()],
                     annotations=[POWER_ANNOTATION],
                     description="Every site at a glance: power, hosts, websites, open incidents, "
                                 "KPI level.")


def site_detail() -> dict[str, Any]:
    lay = Layout()
    lay.row("Targets")
    lay.add(table("Targets and their last poll",
                  (f"upkeep_up{{{S}}}", "up"),
                  (f"time() - upkeep_last_success_timestamp_seconds{{{S}}}", "since success"),
                  (f"upkeep_poll_duration_seconds{{{S}}}", "poll duration"),
                  steps=[(None, "red"), (1, "green")]), 16, 8)
    lay.add(stat("Poll errors", f"count(upkeep_poll_error{{{S}}} == 1) or vector(0)",
                 steps=OK_BAD), 8, 4)
    lay.add(stat("Agent version", f"count by (version) (upkeep_build_info{{{S}}})",
                 legend="{{version}}"), 8, 4)
    lay.row("Power")
    lay.add(state_timeline("UPS flags",
                           f'upkeep_ups_status{{flag=~"OL|OB|LB|RB", {S}}}', "{{ups}} {{flag}}"),
            12, 7)
    lay.add(timeseries("Battery charge", (f"upkeep_ups_battery_charge_ratio{{{S}}}", "{{ups}}"),
                       unit="percentunit", min_=0, max_=1), 12, 7)
    lay.row("Hosts and websites")
    lay.add(timeseries("Load (1m)", (f"upkeep_host_load1{{{S}}}", "{{site}}")), 8, 7)
    lay.add(timeseries("Memory available",
                       (f"upkeep_host_memory_MemAvailable_bytes{{{S}}} / "
                        f"upkeep_host_memory_MemTotal_bytes{{{S}}}", "{{site}}"),
                       unit="percentunit", min_=0, max_=1), 8, 7)
    lay.add(timeseries("Websites up", (f"upkeep_website_up{{{S}}}", "{{website}} {{family}}"),
                       min_=0, max_=1), 8, 7)
    return _board("site", lay, tags=["site"], variables=[site_var()],
                     annotations=[POWER_ANNOTATION],
                     description="One site: its targets, power, hosts and websites.")


def ups_detail() -> dict[str, Any]:
    U = f'{S}, ups=~"$ups"'
    lay = Layout()
    lay.row("Status")
    lay.add(stat("On battery", f'max(upkeep_ups_status{{flag="OB", {U}}}) or vector(0)',
                 steps=OK_BAD), 6, 4)
    lay.add(stat("Battery charge", f"min(upkeep_ups_battery_charge_ratio{{{U}}})",
                 unit="percentunit", steps=[(None, "red"), (0.5, "orange"), (0.8, "green")]), 6, 4)
    lay.add(stat("Runtime", f"min(upkeep_ups_battery_runtime_seconds{{{U}}})", unit="s",
                 steps=[(None, "red"), (600, "orange"), (1200, "green")]), 6, 4)
    lay.add(stat("Replace battery", f"max(upkeep_ups_battery_replace_needed{{{U}}})",
                 steps=OK_BAD), 6, 4)
    lay.add(state_timeline("Status timeline",
                           f'upkeep_ups_status{{flag=~"OL|OB|LB|RB|CHRG|BYPASS|OVER", {U}}}',
                           "{{ups}} {{flag}}"), 24, 8)
    lay.row("Battery and load")
    lay.add(timeseries("Charge", (f"upkeep_ups_battery_charge_ratio{{{U}}}", "{{site}} {{ups}}"),
                       unit="percentunit", min_=0, max_=1), 8, 7)
    lay.add(timeseries("Runtime",
                       (f"upkeep_ups_battery_runtime_seconds{{{U}}}", "{{site}} {{ups}}"),
                       unit="s", min_=0), 8, 7)
    lay.add(timeseries("Load", (f"upkeep_ups_load_ratio{{{U}}}", "{{site}} {{ups}}"),
                       unit="percentunit", min_=0), 8, 7)
    lay.add(timeseries("Voltages",
                       (f"upkeep_ups_input_voltage_volts{{{U}}}", "{{ups}} input"),
                       (f"upkeep_ups_output_voltage_volts{{{U}}}", "{{ups}} output"),
                       unit="volt"), 12, 7)
    lay.add(table("Battery age against policy",
                  (f"(time() - upkeep_ups_battery_installed_timestamp_seconds{{{U}}}) "
                   f"/ (365.25 * 86400)", "age (years)"),
                  (f"upkeep_ups_battery_replace_needed{{{U}}}", "replace flag"),
                  (f'(upkeep_asset_end_of_life_timestamp_seconds{{class="ups_battery", {S}}}'
                   f" - time()) / 86400", "days to end of life (policy)"),
                  description="Battery age in years, and the days left before the asset "
                              "policy's end of life (VRLA default 3 years, earlier on a failed "
                              "self-test or the replace flag).",
                  steps=[(None, "green"), (3, "red")]), 12, 7)
    lay.row("Power events")
    lay.add(timeseries("Status changes",
                       (f"increase(upkeep_ups_status_changes_total{{{U}}}[$__rate_interval])",
                        "{{ups}} {{flag}}")), 12, 7)
    lay.add(stat("Time on battery in range",
                 f"sum(increase(upkeep_ups_on_battery_seconds_total{{{U}}}[$__range])) "
                 f"or vector(0)", unit="s"), 12, 7)
    ups = query_var("ups", "UPS", 'label_values(upkeep_ups_info{site=~"$site"}, ups)')
    return _board("ups", lay, tags=["ups"], variables=[site_var(), ups],
                     annotations=[POWER_ANNOTATION],
                     description="One or more UPS units: status timeline, charge and runtime, "
                                 "load, battery age, power events.")


def websites() -> dict[str, Any]:
    W = f'{S}, website=~"$website"'
    lay = Layout()
    lay.row("Certificates")
    lay.add(table("Days to certificate expiry",
                  (f"(upkeep_tls_cert_not_after_timestamp_seconds{{{W}}} - time()) / 86400",
                   "leaf"),
                  (f"(upkeep_tls_chain_earliest_expiry_timestamp_seconds{{{W}}} - time()) / 86400",
                   "chain"),
                  (f"upkeep_tls_cert_valid{{{W}}}", "valid"),
                  steps=[(None, "red"), (14, "orange"), (30, "green")]), 14, 8)
    lay.add(table("Problems", (f"upkeep_tls_cert_problem{{{W}}} == 1", "problem"),
                  description="Certificate problems by reason (expired, hostname mismatch, "
                              "untrusted ...)."), 10, 8)
    lay.row("Reachability")
    lay.add(table("Up by address family", (f"upkeep_website_up{{{W}}}", "up"),
                  steps=[(None, "red"), (1, "green")]), 8, 7)
    lay.add(table("IPv6 parity", (f"upkeep_website_ipv6_parity{{{W}}}", "parity"),
                  steps=[(None, "red"), (1, "green")]), 8, 7)
    lay.add(table("HTTP status", (f"upkeep_website_http_status_code{{{W}}}", "status")), 8, 7)
    lay.add(timeseries("HTTP duration by phase",
                       (f"sum by (website, phase) (upkeep_website_http_duration_seconds{{{W}}})",
                        "{{website}} {{phase}}"), unit="s"), 12, 7)
    lay.row("TLS")
    lay.add(table("TLS versions accepted", (f"upkeep_tls_protocol_accepted{{{W}}}", "accepted"),
                  description="TLS 1.0 and 1.1 should be refused (0), 1.2 or 1.3 accepted (1).")
            , 12, 7)
    lay.add(table("HSTS max-age (days)",
                  (f"upkeep_http_hsts_max_age_seconds{{{W}}} / 86400", "days"),
                  steps=[(None, "red"), (365, "green")]), 12, 7)
    website = query_var("website", "Website",
                        'label_values(upkeep_website_up{site=~"$site"}, website)')
    return _board("websites", lay, tags=["websites", "tls"], variables=[site_var(), website],
                     description="Websites and their certificates: days to expiry, TLS versions "
                                 "accepted, IPv6 parity, problems.")


def hosts() -> dict[str, Any]:
    lay = Layout()
    lay.row("CPU and memory")
    lay.add(timeseries("CPU busy",
                       (f'1 - avg by (site) (rate(upkeep_host_cpu_seconds_total{{mode="idle", {S}}}'
                        f"[$__rate_interval]))", "{{site}}"), unit="percentunit", min_=0, max_=1),
            12, 7)
    lay.add(timeseries("Load", (f"upkeep_host_load1{{{S}}}", "{{site}} 1m"),
                       (f"upkeep_host_load15{{{S}}}", "{{site}} 15m")), 12, 7)
    lay.add(timeseries("Memory available",
                       (f"upkeep_host_memory_MemAvailable_bytes{{{S}}}", "{{site}}"),
                       unit="bytes", min_=0), 12, 7)
    lay.add(table("Filesystems used",
                  (f'1 - upkeep_host_filesystem_avail_bytes{{{S}}} '
                   f'/ upkeep_host_filesystem_size_bytes{{{S}}}', "used"),
                  unit="percentunit", steps=[(None, "green"), (0.8, "orange"), (0.9, "red")]),
            12, 7)
    lay.row("Network and services")
    lay.add(timeseries("Network received",
                       (f"rate(upkeep_host_network_receive_bytes_total{{{S}}}[$__rate_interval])",
                        "{{site}} {{device}}"), unit="Bps"), 12, 7)
    lay.add(timeseries("Network transmitted",
                       (f"rate(upkeep_host_network_transmit_bytes_total{{{S}}}[$__rate_interval])",
                        "{{site}} {{device}}"), unit="Bps"), 12, 7)
    lay.add(stat("Uptime", f"max(time() - upkeep_host_boot_time_seconds{{{S}}})", unit="s"), 8, 4)
    lay.add(stat("Processes", f"sum(upkeep_host_processes{{{S}}})"), 8, 4)
    lay.add(stat("Failing service checks",
                 f"count(upkeep_host_service_up{{{S}}} == 0) or vector(0)", steps=OK_BAD), 8, 4)
    return _board("hosts", lay, tags=["hosts"], variables=[site_var()],
                     description="Servers sampled by the agents (node_exporter-compatible names "
                                 "under upkeep_host_).")


def kpi() -> dict[str, Any]:
    lay = Layout()
    lay.row("Outage-recovery KPI")
    lay.add(table("Level per system and fiscal year",
                  (f"upkeep_kpi_recovery_level{{{S}}}", "level"),
                  (f"upkeep_kpi_recovery_worst_seconds{{{S}}} / 3600", "worst (hours)"),
                  description="Levels 5..1 for recovery within 12/24/36/48/60 hours; 0 = not "
                              "achieved. Fiscal years are Buddhist Era (1 Oct - 30 Sep).",
                  steps=[(None, "red"), (3, "orange"), (5, "green")]), 14, 8)
    lay.add(stat("Open incidents", f"sum(upkeep_incident_open{{{S}}}) or vector(0)",
                 steps=OK_BAD), 5, 4)
    lay.add(stat("Systems down", f"count(upkeep_system_up{{{S}}} == 0) or vector(0)",
                 steps=OK_BAD), 5, 4)
    lay.add(table("Open incidents: time left before the level drops",
                  (f"upkeep_incident_open_duration_seconds{{{S}}} / 3600", "open (hours)"),
                  (f"upkeep_kpi_next_threshold_seconds{{{S}}} / 3600", "left (hours)")), 10, 4)
    lay.row("Security checklist")
    lay.add(stat("Checklist level", f"min(upkeep_checklist_level{{{S}}})",
                 steps=[(None, "red"), (3, "orange"), (5, "green")]), 6, 7)
    lay.add(table("Controls by status", (f"upkeep_checklist_control_status{{{S}}} == 1", "status"))
            , 18, 7)
    lay.row("Assets")
    lay.add(table("End of life",
                  (f"(upkeep_asset_end_of_life_timestamp_seconds{{{S}}} - time()) / 86400",
                   "days left"), steps=[(None, "red"), (0, "orange"), (365, "green")]), 24, 8)
    return _board("kpi", lay, tags=["kpi", "compliance"], variables=[site_var()],
                     time_from="now-7d",
                     description="KPI levels per system per fiscal year, open incidents, "
                                 "checklist status and assets due.")


BUILDERS = {"fleet-overview.json": fleet, "site-detail.json": site_detail,
            "ups-detail.json": ups_detail, "websites-certificates.json": websites,
            "hosts.json": hosts, "kpi-compliance.json": kpi}


def build_all() -> dict[str, str]:
    """File name -> the JSON text to commit (stable key order, trailing newline)."""
    return {name: json.dumps(fn(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            for name, fn in BUILDERS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when committed JSON is stale")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    stale = []
    for name, text in build_all().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("stale (run python dashboards/build.py):", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
