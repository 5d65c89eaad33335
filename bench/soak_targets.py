"""Soak at the size issue 10 asks for: 100+ targets, flapping and dead ones, on loopback.

``bench/soak.py`` (the fleet engineer's harness) defaults to 30 units = 94 targets; this
runs the same harness with 34 units: host + 34 NUT UPS (one flapping OL <-> OB) + 34 SNMP
UPS + 34 HTTPS websites + 3 dead targets (a closed NUT port, a silent SNMP port, a refusing
website) = 106 targets, scraped once a second, and prints its markdown report with the issue's
goals: RSS growth < 10 %, fds and tasks flat, every scrape answered.

    python bench/soak_targets.py [--minutes 30] [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soak import soak  # noqa: E402

UNITS = 34  # 1 + 3 * 34 + 3 = 106 targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true",
                        help="3 minutes (unless --minutes is given), samples every 10 s")
    args = parser.parse_args()
    minutes = args.minutes if (not args.quick or "--minutes" in sys.argv) else 3.0
    print(soak(minutes=minutes, units=UNITS, idle_window=10 if args.quick else 30,
               sample_every=10 if args.quick else 30))
    return 0


if __name__ == "__main__":
    sys.exit(main())
