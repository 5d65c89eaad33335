"""The fleet inventory: every site, its agents' addresses and the labels Prometheus should add.

A separate YAML file (not part of an agent's config), read by ``upkeep sd`` and by the central
agent's ``/api/v1/sd`` (``inventory: FILE`` in its config). Example::

    defaults: {port: 10316, labels: {org: moph}}
    sites:
      - site: hq
        region: bangkok
        office_type: central
        agents: ["10.0.0.5", "10.0.0.6:10316"]
        probes:                       # checked by this site's agent for the centre (/probe)
          - {target: "https://intranet.example.go.th/", module: https_full}
      - site: branch-chiangmai
        region: north
        office_type: provincial
        agents: ["10.8.1.5"]
        push: true                    # behind NAT: pushes via agent mode/vmagent, not pulled

``site``, ``region`` and ``office_type`` become target labels, as the Prometheus exporter
guidelines ask (the agent never sets them itself).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from upkeep.config.base import StrictModel

#: upkeep's default port (the same constant as ``upkeep.config.DEFAULT_PORT``)
AGENT_PORT = 10316
_SITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:\d{1,5})?$")
#: labels SD sets from dedicated fields; ``labels:`` may not override them
RESERVED = ("site", "region", "office_type", "instance", "job")

Name = Annotated[str, Field(min_length=1, max_length=63)]


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key in labels:
        if not _LABEL.match(key) or key.startswith("__"):
            raise ValueError(f"label {key!r} is not a valid Prometheus label name "
                             "(letters, digits, '_', not starting with '__')")
        if key in RESERVED:
            raise ValueError(f"label {key!r} is set by the inventory itself; use the field")
    return labels


class ProbeEntry(StrictModel):
    #: what the site's agent probes through ``/probe`` (a website URL)
    target: Annotated[str, Field(min_length=1)]
    #: ``https_2xx`` (blackbox's basic https), ``https_full`` (every check) or the name of a
    #: website in that agent's config (its expectations and CA file)
    module: Annotated[str, Field(min_length=1)] = "https_2xx"


class FleetDefaults(StrictModel):
    port: Annotated[int, Field(ge=1, le=65535)] = AGENT_PORT
    labels: dict[str, str] = {}

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        return _check_labels(labels)


class SiteEntry(StrictModel):
    site: Name
    region: Name
    office_type: Name
    agents: Annotated[list[str], Field(min_length=1)]
    labels: dict[str, str] = {}
    #: behind NAT or on a flaky link: the branch pushes (agent mode / vmagent), so pull SD
    #: leaves it out
    push: bool = False
    probes: list[ProbeEntry] = []

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        return _check_labels(labels)

    @field_validator("site")
    @classmethod
    def _site(cls, value: str) -> str:
        if not _SITE.match(value):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 63)")
        return value

    @field_validator("agents")
    @classmethod
    def _agents(cls, agents: list[str]) -> list[str]:
        for address in agents:
            if not _ADDRESS.match(address):
                raise ValueError(f"{address!r} is not HOST or HOST:PORT ([v6]:PORT for IPv6)")
        return agents


class Inventory(StrictModel):
    defaults: FleetDefaults = FleetDefaults()
    sites: list[SiteEntry] = []

    @model_validator(mode="after")
    def _unique(self) -> Inventory:
        seen: dict[str, int] = {}
        owner: dict[str, str] = {}
        for index, entry in enumerate(self.sites):
            if entry.site in seen:
                raise ValueError(f"sites[{index}].site: duplicate site {entry.site!r} "
                                 f"(also sites[{seen[entry.site]}])")
            seen[entry.site] = index
            for address in entry.agents:
                full = self.address(address)
                if full in owner:
                    raise ValueError(f"sites[{index}].agents: {full} is already listed "
                                     f"for site {owner[full]!r}")
                owner[full] = entry.site
        return self

    def address(self, agent: str) -> str:
        """``host`` -> ``host:<defaults.port>``; ``host:port`` and ``[v6]:port`` unchanged."""
        if agent.startswith("["):
            return agent if "]:" in agent else f"{agent}:{self.defaults.port}"
        return agent if ":" in agent else f"{agent}:{self.defaults.port}"

    def site_labels(self, entry: SiteEntry) -> dict[str, str]:
        return {**self.defaults.labels, **entry.labels, "site": entry.site,
                "region": entry.region, "office_type": entry.office_type}


def parse_inventory(text: str, *, source: str = "inventory") -> Inventory:
    """Validate inventory YAML; raise ``ValueError`` listing every problem with its place."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{source}: invalid YAML: {err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{source}: the top level must be a mapping (defaults:, sites:)")
    try:
        return Inventory.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
            msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
            problems.append(f"{where.lstrip('.') or '(top level)'}: "
                            f"{msg.removeprefix('Value error, ')}")
        raise ValueError(f"{source}: " + "; ".join(problems)) from None


def load_inventory(path: str | Path) -> Inventory:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read {path}: {err}") from None
    return parse_inventory(text, source=str(path))
