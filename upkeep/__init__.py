"""upkeep: a lightweight monitoring agent for UPS units, servers and websites.

This package is the small core every room shares (version, config models, the ``Reading``
type, metric specifications, errors). It imports no room.
"""

from __future__ import annotations

__version__ = "0.1.0"
