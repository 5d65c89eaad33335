"""The configuration: one YAML file, validated once into a frozen pydantic tree.

``load_config(path)`` returns a ``Config`` or raises ``ConfigError`` listing every problem
with its location (``host.filesystems.stat_timeout``) and, where known, the YAML line.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from upkeep.config.audit import AuditToolsConfig
from upkeep.config.base import Duration, StrictModel, parse_duration, reveal
from upkeep.config.host import HostConfig
from upkeep.config.notify import NotifyConfig
from upkeep.config.policies import PoliciesConfig
from upkeep.config.systems import SystemConfig
from upkeep.config.ups import UpsConfig
from upkeep.config.web import WebConfig
from upkeep.config.websites import ResolverConfig, WebsiteConfig
from upkeep.errors import ConfigError

__all__ = [
    "Config", "ConfigError", "Duration", "HostConfig", "StrictModel", "default_config",
    "load_config", "parse_config", "parse_duration", "reveal",
]

#: upkeep's default port: 9100–9999 of the Prometheus "default port allocations" wiki page
#: are taken, exporters now register above 10000 (see docs/deployment.md)
DEFAULT_PORT = 10316
_SITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def _default_data_dir() -> str:
    """Per-user data directory (XDG on Unix, %LOCALAPPDATA% on Windows)."""
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return str(Path(base) / "upkeep")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "upkeep")


def _split_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:{DEFAULT_PORT})")
    host = host.strip("[]")
    if not host:
        raise ValueError(f"{value!r} has no host part")
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError(f"port {number} is out of range 1-65535")
    return host, number


class Config(StrictModel):
    site: str = Field(default_factory=lambda: socket.gethostname().split(".")[0] or "site")
    listen: str = f"127.0.0.1:{DEFAULT_PORT}"
    data_dir: str = Field(default_factory=_default_data_dir)
    host: HostConfig = HostConfig()
    ups: list[UpsConfig] | None = None
    websites: list[WebsiteConfig] = []
    resolver: ResolverConfig = ResolverConfig()
    systems: list[SystemConfig] = []
    policies: PoliciesConfig = PoliciesConfig()
    notify: NotifyConfig = NotifyConfig()
    web: WebConfig = WebConfig()
    audit: AuditToolsConfig = AuditToolsConfig()  # the standards audit's tools and limits
    inventory: str | None = None  # fleet inventory served at /api/v1/sd (docs/deployment.md)

    @field_validator("site")
    @classmethod
    def _site_label(cls, value: str) -> str:
        if not _SITE.match(value):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 63), e.g. branch-chiangmai")
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        _split_listen(value)
        return value

    @model_validator(mode="after")
    def _audit_fits(self) -> Config:
        for website in self.websites:
            if website.audit.enabled and self.audit.timeout >= website.audit.check_interval:
                raise ValueError(f"websites {website.name}: audit.check_interval must be longer "
                                 f"than audit.timeout ({self.audit.timeout:g}s)")
        return self

    @property
    def listen_host(self) -> str:
        return _split_listen(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return _split_listen(self.listen)[1]

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        named: tuple[tuple[str, Sequence[UpsConfig | WebsiteConfig | SystemConfig]], ...] = (
            ("ups", self.ups or []), ("websites", self.websites), ("systems", self.systems))
        for key, items in named:
            seen: dict[str, int] = {}
            for index, item in enumerate(items):
                name = item.name
                if name in seen:
                    raise ValueError(
                        f"{key}[{index}].name: duplicate name {name!r} (also {key}[{seen[name]}])")
                seen[name] = index
        return self


# --- loading -------------------------------------------------------------------------------

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(node: Any, path: tuple[str | int, ...], problems: list[tuple[str, str]]) -> Any:
    if isinstance(node, dict):
        return {k: _expand_env(v, (*path, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, (*path, i), problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                problems.append((_dotted(path), f"environment variable {name} is not set"))
                return ""
            return os.environ[name]
        return _ENV.sub(replace, node)
    return node


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _yaml_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Map every key path in the document to its 1-based line, for error messages."""
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def _iter_problems(err: ValidationError, lines: dict[tuple[str | int, ...], int]
                   ) -> Iterator[tuple[str, str]]:
    for item in err.errors():
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and "[" in p))
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        line = None
        for cut in range(len(loc), -1, -1):
            if loc[:cut] in lines:
                line = lines[loc[:cut]]
                break
        where = _dotted(loc) or "(top level)"
        yield (where, f"{msg} (line {line})" if line else msg)


def parse_config(text: str, *, source: str = "<config>") -> Config:
    """Validate YAML text; raise ``ConfigError`` with every problem found."""
    try:
        return _parse_config(text, source)
    except RecursionError:  # a recursive alias (&a [*a]) or absurd nesting
        raise ConfigError([("", f"{source}: nested too deeply (or a recursive YAML alias)")]
                          ) from None


def _parse_config(text: str, source: str) -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else source
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError([("", f"{source}: invalid YAML at {where}: {problem}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([("", f"{source}: the top level must be a mapping of keys")])
    problems: list[tuple[str, str]] = []
    data = _expand_env(data, (), problems)
    if problems:
        raise ConfigError(problems)
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(list(_iter_problems(err, _yaml_lines(text)))) from None


def load_config(path: str | os.PathLike[str]) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([("", f"cannot read {path}: {err}")]) from None
    return parse_config(text, source=str(path))


def default_config() -> Config:
    """The embedded default: monitor this host, listen on loopback, per-user data dir."""
    from importlib import resources  # (with tempfile, shutil ...) only when it is read

    text = resources.files("upkeep").joinpath("default-config.yml").read_text(encoding="utf-8")
    return parse_config(text, source="<embedded default>")


def check_listen(config: Config) -> None:
    """Raise ``ConfigError`` when ``listen`` cannot be bound (in use, no such address)."""
    family = socket.AF_INET6 if ":" in config.listen_host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((config.listen_host, config.listen_port))
    except OSError as err:
        raise ConfigError([("listen", f"cannot listen on {config.listen}: {err.strerror}")]) from None

