"""The ``Reading``: what one poll of one target saw.

A reading is immutable. ``ok`` is False when the poll failed; ``reason`` is then a short code
(``timeout``, ``unreachable``, ``auth``, ``stale`` ...) and ``message`` a human sentence.
``samples`` feed the exposition, ``info`` feeds the JSON API, the UI and the policies
(plain JSON-able values only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from upkeep.metrics import Sample


@dataclass(frozen=True)
class Reading:
    kind: str
    target: str
    time: float
    ok: bool
    duration: float = 0.0
    reason: str = ""
    message: str = ""
    samples: Sequence[Sample] = ()
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.target)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "time": self.time,
            "ok": self.ok,
            "duration_seconds": self.duration,
            "reason": self.reason or None,
            "message": self.message or None,
            "info": dict(self.info),
        }
