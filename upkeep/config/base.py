"""Building blocks shared by every config model: strict models, durations, secrets."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ModelWrapValidatorHandler,
    SecretStr,
    model_validator,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """``"900ms"``, ``"15s"``, ``"5m"``, ``"1h"``, ``"90d"`` (or a bare number of seconds) -> seconds > 0."""
    if isinstance(value, bool):
        raise ValueError("a duration like 15s, 900ms, 5m or 1h is required")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration (use ms, s, m, h or d, e.g. 15s)")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError("a duration like 15s, 900ms, 5m or 1h is required")
    if seconds <= 0:
        raise ValueError("a duration must be greater than zero")
    return seconds


#: seconds as float; accepts ``15s`` style strings in YAML
Duration = Annotated[float, BeforeValidator(parse_duration)]


def _is_secret(annotation: Any) -> bool:
    return "SecretStr" in repr(annotation)


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values are frozen.

    A secret field ``password`` may instead be given as ``password_file: /path`` (the file's
    content, trailing newline removed), as systemd credentials and Kubernetes secrets
    deliver them. ``${VAR}`` in any string is expanded by the loader before validation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key in list(data):
            if not (isinstance(key, str) and key.endswith("_file")):
                continue
            stem = key[: -len("_file")]
            field = cls.model_fields.get(stem)
            if field is None or not _is_secret(field.annotation) or key in cls.model_fields:
                continue
            if stem in data:
                raise ValueError(f"give either {stem} or {key}, not both")
            path = Path(str(data[key]))
            try:
                out[stem] = path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as err:
                raise ValueError(f"{key}: cannot read {path}: {err.strerror}") from None
            del out[key]
        return out


class Polled(StrictModel):
    """A block polled every ``interval``, each poll bounded by ``timeout`` (both declared by
    the subclass with their defaults).

    Prometheus' ``scrape_timeout`` rule: a timeout that is not set is the smaller of its
    default and the interval, so ``host: {interval: 2s}`` is valid (timeout 2 s; the
    scheduler's hard ``wait_for`` still bounds it). A timeout that *is* set must be shorter
    than the interval.
    """

    @model_validator(mode="wrap")
    @classmethod
    def _timeout_within_interval(cls, data: Any, handler: ModelWrapValidatorHandler[Self]
                                 ) -> Self:
        if not isinstance(data, dict):  # an instance (checked when it was made) or a type error
            return handler(data)
        explicit = "timeout" in data
        if not explicit and "interval" in data:
            default = cls.model_fields["timeout"].default
            # a bad interval is left as it is: its field reports it
            with contextlib.suppress(ValueError):
                data = {**data, "timeout": min(default, parse_duration(data["interval"]))}
        model = handler(data)
        timeout, interval = getattr(model, "timeout"), getattr(model, "interval")  # noqa: B009
        if explicit and timeout >= interval:
            raise ValueError(f"timeout ({timeout:g}s) must be shorter than interval "
                             f"({interval:g}s)")
        return model


def reveal(secret: SecretStr | None) -> str | None:
    """The one place a secret's value is taken out of its wrapper."""
    return None if secret is None else secret.get_secret_value()
