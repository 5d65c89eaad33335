"""``web:``: the agent's own HTTP server (TLS, who may read, who may write).

The schema and semantics are those of Prometheus's exporter-toolkit ``web-config.yml``
(prometheus/exporter-toolkit ``docs/web-configuration.md``), so a file written for
node_exporter's ``--web.config.file`` works here unchanged, either inline under ``web:`` or
referenced with ``web: {config_file: /etc/upkeep/web-config.yml}``:

- ``tls_server_config``: ``cert_file``/``key_file``; ``client_auth_type`` (``NoClientCert``,
  ``VerifyClientCertIfGiven``, ``RequireAndVerifyClientCert``) with ``client_ca_file``;
  ``client_allowed_sans``; ``min_version``/``max_version`` (``TLS12`` default minimum).
- ``basic_auth_users``: user -> bcrypt hash. When any are set, every request needs one of
  them (401 otherwise), exactly as exporter-toolkit does.
- ``http_server_config.headers``: extra response headers (same allow-list as the toolkit).
- ``rate_limit``: ``{interval, burst}`` token bucket over all requests (429 beyond it).

upkeep's additions, which stay in the main config even when ``config_file`` is used:
``api_token`` (a bearer token accepted for reads and writes) and ``public_read``. The write
API (``/api/v1`` POST/PUT/PATCH/DELETE) always needs a token or a basic-auth user: with
neither configured, nobody can write.

Paths inside a separate web-config file are relative to that file's folder, as in the
toolkit. The file is re-read when it changes (certificates rotate without a restart).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator

from upkeep.config.base import Duration, StrictModel

#: exporter-toolkit's names; RequestClientCert / RequireAnyClientCert accept unverified
#: certificates, which Python's ssl module cannot do (and the toolkit calls them insecure)
ClientAuthType = Literal["NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"]
TlsVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]

#: the headers exporter-toolkit lets ``http_server_config.headers`` set
ALLOWED_HEADERS = ("Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options",
                   "X-XSS-Protection", "Content-Security-Policy")
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


class TlsServerConfig(StrictModel):
    cert_file: str
    key_file: str
    client_auth_type: ClientAuthType = "NoClientCert"
    #: CA bundle that client certificates must chain to
    client_ca_file: str | None = None
    #: when set, a client certificate must carry one of these DNS/IP/email/URI SANs
    client_allowed_sans: list[str] = []
    min_version: TlsVersion = "TLS12"
    max_version: TlsVersion = "TLS13"
    #: OpenSSL cipher string for TLS <= 1.2 (TLS 1.3 suites are not configurable in Python)
    cipher_suites: list[str] = []
    #: accepted for file compatibility with the toolkit; Python always prefers the server's
    prefer_server_cipher_suites: bool = True
    curve_preferences: list[str] = []

    @field_validator("client_auth_type", mode="before")
    @classmethod
    def _client_auth(cls, value: Any) -> Any:
        if value in ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert"):
            raise ValueError(f"{value} accepts unverified client certificates and is not "
                             "supported; use RequireAndVerifyClientCert with client_ca_file")
        return value

    @model_validator(mode="after")
    def _check(self) -> TlsServerConfig:
        # the toolkit's own rule: "Client CA's have been configured without a Client Auth Policy"
        if self.client_ca_file and self.client_auth_type == "NoClientCert":
            raise ValueError("client_ca_file is set but client_auth_type is NoClientCert; "
                             "use RequireAndVerifyClientCert")
        if self.client_auth_type != "NoClientCert" and not self.client_ca_file:
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file")
        if self.client_allowed_sans and self.client_auth_type == "NoClientCert":
            raise ValueError("client_allowed_sans needs client certificates "
                             "(client_auth_type RequireAndVerifyClientCert)")
        if self.min_version > self.max_version:
            raise ValueError(f"min_version {self.min_version} is above max_version "
                             f"{self.max_version}")
        return self

    def resolved(self, base: Path) -> TlsServerConfig:
        """The same config with relative paths taken from ``base`` (the file's folder)."""
        def fix(p: str | None) -> str | None:
            return None if p is None else str(base / p) if not Path(p).is_absolute() else p

        return self.model_copy(update={"cert_file": fix(self.cert_file),
                                       "key_file": fix(self.key_file),
                                       "client_ca_file": fix(self.client_ca_file)})


class HttpServerConfig(StrictModel):
    #: accepted for file compatibility; the agent serves HTTP/1.1 (Prometheus scrapes with it)
    http2: bool = True
    headers: dict[str, str] = {}

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        allowed = {h.lower(): h for h in ALLOWED_HEADERS}
        for name in headers:
            if name.lower() not in allowed:
                raise ValueError(f"header {name!r} cannot be set; allowed: "
                                 f"{', '.join(ALLOWED_HEADERS)}")
        return headers


class RateLimitConfig(StrictModel):
    interval: Duration = 1.0
    burst: Annotated[int, Field(ge=1)] = 10


class WebToolkitConfig(StrictModel):
    """Exactly the keys of an exporter-toolkit ``web-config.yml``."""

    tls_server_config: TlsServerConfig | None = None
    http_server_config: HttpServerConfig = HttpServerConfig()
    basic_auth_users: dict[str, SecretStr] = {}
    rate_limit: RateLimitConfig | None = None

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, users: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, hashed in users.items():
            if ":" in name or not name:
                raise ValueError(f"user {name!r}: a user name cannot be empty or contain ':'")
            if not hashed.get_secret_value().startswith(_BCRYPT_PREFIXES):
                raise ValueError(f"user {name!r}: the password must be a bcrypt hash "
                                 "(htpasswd -nBC 10 '' | tr -d ':\\n')")
        return users


def parse_web_config_file(text: str, base: Path, *, source: str = "web-config.yml"
                          ) -> WebToolkitConfig:
    """Validate an exporter-toolkit web-config file; raise ``ValueError`` naming the problems."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{source}: invalid YAML: {err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{source}: the top level must be a mapping")
    try:
        parsed = WebToolkitConfig.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: "
            f"{'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in err.errors())
        raise ValueError(f"{source}: {problems}") from None
    if parsed.tls_server_config is not None:
        parsed = parsed.model_copy(
            update={"tls_server_config": parsed.tls_server_config.resolved(base)})
    return parsed


def load_web_config_file(path: str | Path) -> WebToolkitConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read {path}: {err}") from None
    return parse_web_config_file(text, path.parent, source=str(path))


class WebConfig(WebToolkitConfig):
    #: an exporter-toolkit web-config.yml; then the toolkit keys above must not be inline
    config_file: str | None = None
    #: bearer token (``Authorization: Bearer ...``) for reads and the write API
    api_token: SecretStr | None = None
    #: reads (pages, /metrics, JSON) without credentials. Default: open unless
    #: basic_auth_users are set (exporter-toolkit semantics); ``true`` keeps reads open and
    #: uses the users only for writes
    public_read: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> WebConfig:
        if self.api_token is not None and len(self.api_token.get_secret_value()) < 16:
            raise ValueError("api_token must be at least 16 characters")
        if self.config_file is not None:
            inline = [k for k in ("tls_server_config", "http_server_config", "basic_auth_users",
                                  "rate_limit") if k in self.model_fields_set]
            if inline:
                raise ValueError(f"config_file is set: move {', '.join(inline)} into it")
            # fail at start-up (and in check-config), not on the first request
            load_web_config_file(self.config_file)
        return self

    def toolkit(self) -> WebToolkitConfig:
        """The effective toolkit part: from ``config_file`` (read now) or inline."""
        if self.config_file is not None:
            return load_web_config_file(self.config_file)
        return WebToolkitConfig(tls_server_config=self.tls_server_config,
                                http_server_config=self.http_server_config,
                                basic_auth_users=self.basic_auth_users,
                                rate_limit=self.rate_limit)

    def reads_are_public(self, toolkit: WebToolkitConfig | None = None) -> bool:
        users = (toolkit or self.toolkit()).basic_auth_users
        return (not users) if self.public_read is None else self.public_read
