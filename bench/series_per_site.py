"""Series per site, measured from a real agent's /metrics (host + 2 UPS + 3 websites).

Starts a real upsd + dummy-ups, an snmpsim UPS-MIB context and a local HTTPS site, runs
``upkeep run`` with the fleet test's site composition (tests/e2e/fleet_sim.py ``site_config``),
waits until every target is up and counts the series of one scrape by component. Prints a
markdown table; ``--write-docs`` refreshes the ``fleet-series`` marker in
docs/deployment.md that tests/e2e/test_fleet_e2e.py checks against Prometheus.

    python bench/series_per_site.py [--quick] [--write-docs]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.fleet_sim import NUT_UPS, https_server, site_config  # noqa: E402
from tests.nut_rig import NutRig  # noqa: E402
from tests.snmp_rig import SnmpSim, fixture_records  # noqa: E402
from tests.support import AgentProcess, parse_metrics, wait_for  # noqa: E402

#: Prometheus adds these per target: up, scrape_duration_seconds, scrape_samples_scraped,
#: scrape_samples_post_metric_relabeling, scrape_series_added
PROMETHEUS_PER_TARGET = 5


def classify(series: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> dict[str, int]:
    counts = {"host": 0, "ups_nut": 0, "ups_snmp": 0, "websites": 0, "agent_other": 0,
              "targets": 0}
    for name, labels in series:
        lab = dict(labels)
        if name == "upkeep_up":
            counts["targets"] += 1
        if name.startswith("upkeep_ups_") and lab.get("ups") in ("nut", "snmp"):
            counts[f"ups_{lab['ups']}"] += 1
        elif re.fullmatch(r"web[123]", lab.get("website", "")):
            counts["websites"] += 1
        elif name.startswith(("upkeep_host_", "node_")):
            counts["host"] += 1
        else:
            counts["agent_other"] += 1
    counts["total"] = len(series)
    return counts


def measure(tmp: Path) -> dict[str, int]:
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    nut = NutRig(tmp / "nut")
    nut.add_ups("ups001", NUT_UPS)
    sim = SnmpSim({"site-001": fixture_records("ups-mib")})
    try:
        nut.start()
        sim.start()
        with https_server(leaf) as web_port:
            config = site_config("site-001", "127.0.0.1:0", data_dir=tmp / "data",
                                 nut_port=nut.port, nut_ups="ups001",
                                 snmp=sim.snmp_config("site-001"), web_port=web_port,
                                 ca_file=ca_file)
            config.pop("listen")
            (tmp / "agent").mkdir()
            agent = AgentProcess(tmp / "agent", config)
            agent.start()
            try:
                def all_up() -> bool:
                    series = parse_metrics(agent.metrics())
                    ups = [v for (n, _l), v in series.items() if n == "upkeep_up"]
                    return len(ups) == 6 and all(v == 1 for v in ups)

                wait_for(all_up, timeout=60, interval=0.5, message="6 targets up")
                time.sleep(1)
                counts = classify(parse_metrics(agent.metrics()))
                plain = agent.get("/metrics", headers={"Accept": "text/plain",
                                                       "Accept-Encoding": "identity"})
                counts["body_bytes"] = len(plain.content)
                with httpx.stream("GET", f"{agent.url}/metrics", timeout=10,
                                  headers={"Accept": "text/plain",
                                           "Accept-Encoding": "gzip"}) as gz:
                    gz.read()
                    counts["gzip_bytes"] = gz.num_bytes_downloaded
                return counts
            finally:
                agent.stop()
    finally:
        sim.close()
        nut.stop()


def write_docs(counts: dict[str, int]) -> None:
    path = REPO / "docs" / "deployment.md"
    text = path.read_text(encoding="utf-8")
    marker = ("<!-- fleet-series: " + " ".join(
        f"{k}={counts[k]}" for k in ("targets", "ups_nut", "ups_snmp", "websites", "host",
                                     "agent_other", "total")) + " -->")
    text, n = re.subn(r"<!-- fleet-series: .*? -->", marker, text)
    if n != 1:
        raise SystemExit("docs/deployment.md has no fleet-series marker")
    path.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="accepted for run_all (no-op)")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="upkeep-series-") as tmp:
        counts = measure(Path(tmp))
    rows = [("host (this machine)", counts["host"]), ("UPS over NUT (1 unit)", counts["ups_nut"]),
            ("UPS over SNMP (1 unit, UPS-MIB)", counts["ups_snmp"]),
            ("websites (3, with TLS version checks)", counts["websites"]),
            ("agent self, policy and other", counts["agent_other"]),
            ("**one scrape (total)**", counts["total"]),
            ("+ Prometheus per-target series", PROMETHEUS_PER_TARGET),
            ("**series per site in Prometheus**", counts["total"] + PROMETHEUS_PER_TARGET)]
    print("### Series per site (host + 2 UPS + 3 websites)\n")
    print("| component | series |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"\ntargets per site (upkeep_up): {counts['targets']}; one scrape is "
          f"{counts['body_bytes']:,} bytes, {counts['gzip_bytes']:,} gzipped")
    if args.write_docs:
        write_docs(counts)
        print("\ndocs/deployment.md fleet-series marker updated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
