"""``web:``: the agent's own HTTP server (TLS, who may read, who may write).

Semantics follow Prometheus's exporter-toolkit ``web-config.yml``: ``basic_auth_users`` maps
user names to bcrypt hashes; when any are set, every request needs them. ``api_token`` is a
bearer token for the write API (``/api/v1`` POST/PUT/DELETE), which always needs authority:
a token, or a basic-auth user when users are configured.
"""

from __future__ import annotations

from pydantic import SecretStr, field_validator, model_validator

from upkeep.config.base import StrictModel


class TlsServerConfig(StrictModel):
    cert_file: str
    key_file: str
    #: require and verify client certificates signed by this CA
    client_ca_file: str | None = None


class WebConfig(StrictModel):
    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: dict[str, SecretStr] = {}
    api_token: SecretStr | None = None
    #: reading pages and /metrics without login (the UI is read-only without a token)
    public_read: bool = True

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, users: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, hashed in users.items():
            if not hashed.get_secret_value().startswith(("$2a$", "$2b$", "$2y$")):
                raise ValueError(f"user {name!r}: the password must be a bcrypt hash "
                                 "(htpasswd -nBC 10 '' | tr -d ':\\n')")
        return users

    @model_validator(mode="after")
    def _token_length(self) -> WebConfig:
        if self.api_token is not None and len(self.api_token.get_secret_value()) < 16:
            raise ValueError("api_token must be at least 16 characters")
        return self
