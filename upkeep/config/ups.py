"""``ups:``: UPS units, each over NUT (``nut:``) or SNMP (``snmp:``), exactly one of them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from upkeep.config.base import Duration, Polled, StrictModel

Port = Annotated[int, Field(ge=1, le=65535)]


class NutTlsConfig(StrictModel):
    #: CA bundle (PEM) to verify upsd's certificate; None = system store
    ca_file: str | None = None
    #: SHA-256 fingerprint (hex, colons optional) to pin upsd's certificate
    cert_fingerprint: str | None = None
    #: refuse to talk in clear text when STARTTLS is not offered
    required: bool = True


class NutConfig(Polled):
    host: str = "127.0.0.1"
    port: Port = 3493
    #: the UPS name on that upsd (``upsc NAME@host``); omitted: every UPS that upsd lists,
    #: each under its NUT name (see docs/metrics.md for how names stay unique)
    ups: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    tls: NutTlsConfig | None = None
    interval: Duration = 10.0
    timeout: Duration = 5.0

    @model_validator(mode="after")
    def _check(self) -> NutConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


class SnmpAuthConfig(StrictModel):
    protocol: Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"] = "SHA256"
    password: SecretStr


class SnmpPrivConfig(StrictModel):
    protocol: Literal["DES", "AES", "AES128", "AES192", "AES256"] = "AES"
    password: SecretStr


class SnmpConfig(Polled):
    host: str
    port: Port = 161
    version: Literal["1", "2c", "3"] = "2c"
    community: SecretStr | None = None
    user: str | None = None
    auth: SnmpAuthConfig | None = None
    priv: SnmpPrivConfig | None = None
    context: str = ""
    mib: Literal["auto", "ups-mib", "apc", "eaton"] = "auto"
    interval: Duration = 15.0
    timeout: Duration = 5.0
    retries: Annotated[int, Field(ge=0, le=5)] = 1

    @model_validator(mode="after")
    def _check(self) -> SnmpConfig:
        if self.version in ("1", "2c"):
            if self.user or self.auth or self.priv:
                raise ValueError(f"version {self.version} uses community, not user/auth/priv")
        else:
            if not self.user:
                raise ValueError("version 3 needs user")
            if self.priv is not None and self.auth is None:
                raise ValueError("priv needs auth (authPriv)")
            if self.community is not None:
                raise ValueError("version 3 does not use community")
        return self


class UpsConfig(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
    nut: NutConfig | None = None
    snmp: SnmpConfig | None = None
    #: the site's asset tag / notes, carried into asset discovery
    asset_tag: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> UpsConfig:
        if (self.nut is None) == (self.snmp is None):
            raise ValueError("give exactly one of nut: or snmp:")
        return self
