"""Every benchmark, side by side with its anchor, in one run; rewrites bench/RESULTS.md.

    python bench/run_all.py                 # full run (30-minute soak): the numbers to keep
    python bench/run_all.py --quick         # each bench's --quick mode and a 1-minute soak
    python bench/run_all.py --soak-minutes 60 --only host,soak

Runs each bench as its own process (their stdout is a markdown section), then the series
per site and the soak; records the machine, the versions of upkeep's dependencies and of the
anchors, and a summary of every goal from issues 2, 3, 4 and 17 (and the soak's) with met / NOT
met, parsed from the benches' "| goal (...) | met |" tables. Method: docs/background.md section 3.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

#: (name, script, what it compares)
BENCHES = [
    ("host", "bench_host.py", "host agent vs prometheus-node-exporter (issue 2)"),
    ("nut", "bench_nut.py", "NUT collector vs repeated upsc (issue 3)"),
    ("snmp", "bench_snmp.py", "SNMP UPS vs prometheus-snmp-exporter (issue 3)"),
    ("snmp-engines", "bench_snmp_engines.py",
     "SNMP engines in the collector: gufo-snmp vs pysnmp (issue 17)"),
    ("scheduler", "bench_scheduler.py",
     "the poll scheduler: a task per target vs APScheduler 3.x, if installed (issue 17)"),
    ("web", "bench_web.py", "websites vs prometheus-blackbox-exporter (issue 4)"),
    ("series", "series_per_site.py", "series per site (docs/deployment.md)"),
    ("agent", "bench_agent.py", "the whole agent (upkeep run) vs the exporters (issue 17)"),
    ("central", "bench_central.py",
     "the central tier at 80/200/800 simulated sites and what breaks first (issue 16)"),
]
ANCHOR_PACKAGES = ["prometheus-node-exporter", "prometheus-snmp-exporter",
                   "prometheus-blackbox-exporter", "nut-server", "nut-client", "prometheus",
                   "prometheus-alertmanager", "snmp", "openssl"]
_GOAL_HEADER = re.compile(r"^\|\s*goal \(([^)]*)\)\s*\|\s*met\s*\|", re.I)


def sh(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> list[tuple[str, str]]:
    lscpu = dict(line.split(":", 1) for line in sh("lscpu").splitlines() if ":" in line)
    mem_kib = next((int(line.split()[1]) for line in
                    Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal:")), 0)
    os_release = dict(line.split("=", 1) for line in
                      Path("/etc/os-release").read_text().splitlines() if "=" in line)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return [
        ("CPU", f"{lscpu.get('Model name', '?').strip()} ({lscpu.get('CPU(s)', '?').strip()} "
                f"CPUs, {lscpu.get('Thread(s) per core', '?').strip()} thread(s) per core)"),
        ("RAM", f"{mem_kib / 2**20:.1f} GiB"),
        ("kernel", platform.release()),
        ("OS", os_release.get("PRETTY_NAME", "?").strip('"')),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("load average at start", load),
    ]


def versions() -> list[tuple[str, str]]:
    out = [("upkeep", _dist_version("upkeep"))]
    try:
        requires = metadata.requires("upkeep") or []
    except metadata.PackageNotFoundError:
        requires = []
    for req in requires:
        if "extra ==" in req:
            continue
        name = re.split(r"[<>=!~; \[]", req, maxsplit=1)[0]
        out.append((name, _dist_version(name)))
    for package in ANCHOR_PACKAGES:
        version = sh("dpkg-query", "-W", "-f=${Version}", package)
        out.append((f"{package} (Debian)", version or "not installed"))
    return out


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def run_bench(script: str, args: list[str], timeout: float) -> tuple[str, str, float, int]:
    started = time.monotonic()
    try:
        result = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=REPO,
                                capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        code, out, err = result.returncode, result.stdout, result.stderr
    except subprocess.TimeoutExpired as exc:
        code = -1
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = f"timed out after {timeout:g} s"
    return out.strip(), err.strip(), time.monotonic() - started, code


_GOAL_PROSE = re.compile(r"^Goal:\s*(.*)$")


def goals_of(section: str) -> list[tuple[str, str, bool]]:
    """(source, goal, met) from every "| goal (X) | met |" table in a bench's output, and from
    a prose line "Goal: <goal>: met (...). <goal>: NOT met (...)." (bench_web's form)."""
    found: list[tuple[str, str, bool]] = []
    for line in section.splitlines():
        prose = _GOAL_PROSE.match(line.strip())
        if prose:
            for part in re.split(r"(?<=\))\.\s+", prose.group(1)):
                goal, sep, verdict = part.rpartition(": ")
                if sep:
                    found.append(("prose", goal.strip(),
                                  verdict.strip().lower().startswith("met")))
    source = None
    for line in section.splitlines():
        header = _GOAL_HEADER.match(line.strip())
        if header:
            source = header.group(1)
            continue
        if source is None:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            source = None
            continue
        if len(cells) == 2 and not set(cells[0]) <= {"-"}:
            found.append((source, cells[0], cells[1].lower().startswith("yes")))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="every bench's --quick mode and a 1-minute soak (proves the "
                             "harness; the numbers are not the ones to keep)")
    parser.add_argument("--soak-minutes", type=float, default=None,
                        help="soak length (default 30; 1 with --quick)")
    parser.add_argument("--only", default="",
                        help="comma-separated subset: host,nut,snmp,web,series,agent,central,soak")
    parser.add_argument("--out", default=str(BENCH / "RESULTS.md"))
    args = parser.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    soak_minutes = args.soak_minutes if args.soak_minutes is not None else (
        1.0 if args.quick else 30.0)
    started = dt.datetime.now(dt.UTC)
    info = machine()
    sections: list[tuple[str, str, str, float, int]] = []
    plan = [(n, s, d, ["--quick"] if args.quick else [], 3600.0) for n, s, d in BENCHES]
    plan.append(("soak", "soak.py", f"soak, {soak_minutes:g} minutes",
                 ["--minutes", f"{soak_minutes:g}", *(["--quick"] if args.quick else [])],
                 soak_minutes * 60 + 900))
    for name, script, what, extra, timeout in plan:
        if only and name not in only:
            continue
        if not (BENCH / script).exists():
            sections.append((name, what, f"not run: bench/{script} does not exist", 0.0, -2))
            continue
        print(f"== {name}: {what} ...", file=sys.stderr, flush=True)
        out, err, took, code = run_bench(script, extra, timeout)
        body = out or "(no output)"
        if code != 0:
            tail = "\n".join(err.splitlines()[-15:])
            body += f"\n\n**bench/{script} failed (exit {code})**:\n\n```\n{tail}\n```"
        sections.append((name, what, body, took, code))
        print(f"   done in {took:.0f} s (exit {code})", file=sys.stderr, flush=True)

    issue_of = {"host": "issue 2", "nut": "issue 3", "snmp": "issue 3", "web": "issue 4",
                "agent": "issue 17"}
    goals = [(name, issue_of.get(name, "?") if source == "prose" else source, goal, met)
             for name, _w, body, _t, _c in sections for source, goal, met in goals_of(body)]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python bench/run_all.py{' --quick' if args.quick else ''}"
        f"{f' --soak-minutes {soak_minutes:g}' if args.soak_minutes is not None else ''}` "
        f"on {started:%Y-%m-%d %H:%M} UTC; every bench ran its anchor side by side in the "
        "same run (method: docs/background.md section 3). Do not edit by hand.",
        "",
    ]
    if args.quick:
        lines += ["> **Quick run**: reduced sizes and a short soak, to prove the harness works. "
                  "These are not the numbers to judge the goals by; run without `--quick`.", ""]
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info]
    lines += ["", "## Versions", "", "| package | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in versions()]
    lines += ["", "## Goals", "", "| bench | source | goal | met |", "|---|---|---|---|"]
    lines += [f"| {bench} | {source} | {goal} | {'yes' if met else '**NO**'} |"
              for bench, source, goal, met in goals]
    missing = [name for name, _w, _b, _t, code in sections if code != 0]
    if missing:
        lines += ["", f"Benches that failed or did not run: {', '.join(missing)} (their goals "
                      "are missing above; see their sections)."]
    lines += ["", "## Results", ""]
    for name, what, body, took, _code in sections:
        lines += [f"## {name}: {what}", "", f"_{took:.0f} s_", "", body, ""]
    Path(args.out).write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(goals)} goals, {sum(1 for g in goals if g[3])} met)",
          file=sys.stderr)
    return 0 if not missing else 1


if __name__ == "__main__":
    if shutil.which("dpkg-query") is None:
        print("note: dpkg-query missing, anchor versions will read 'not installed'",
              file=sys.stderr)
    sys.exit(main())
