"""Console settings (``MEDINFER_GATEWAY_CONSOLE_*``), a base the gateway's ``Settings`` extends."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from medinfer.common.settings import ServiceSettings

__all__ = ["ConsoleSettings"]


class ConsoleSettings(ServiceSettings):
    console_enabled: bool | None = Field(
        None, description="Serve the web console at /console. Default: on in development, elsewhere on once "
        "console_session_key_file is set (production refuses true without its own key).")
    console_session_key_file: Path | None = Field(
        None, description="Fernet key (urlsafe base64, 32 bytes) that encrypts and signs console session cookies; "
        "default <home>/keys/console-session.key, created in development. Production needs its own.")
    console_oidc_client_id: str = Field(
        "medinfer-console", description="OAuth2 client id of the console at the OIDC issuer (authorization code "
        "with PKCE, a public client; redirect URI https://<gateway>/console/auth/callback).")
    console_oidc_client_secret: str | None = Field(
        None, description="Client secret, when the issuer registers the console as a confidential client.")
    console_oidc_scopes: str = Field(
        "openid models:read models:write audit:read",
        description="Scopes the console asks for; the issuer decides which a person gets, the token's decide "
        "what the console shows and allows.")
    console_public_url: str | None = Field(
        None, description="The gateway's URL as browsers see it (redirect URI base); default from the request.")

    @property
    def console_session_key_default(self) -> Path:
        return self.home / "keys" / "console-session.key"

    @property
    def console_session_key_path(self) -> Path:
        return self.console_session_key_file or self.console_session_key_default

    @property
    def console_on(self) -> bool:
        if self.console_enabled is not None:
            return self.console_enabled
        return self.environment == "development" or self.console_session_key_file is not None

    def console_problems(self) -> list[str]:
        if not self.console_on:
            return []
        if self.console_session_key_file is None or \
                self.console_session_key_file.resolve() == self.console_session_key_default.resolve():
            return ["console_session_key_file must be set for the console (the development key is refused)"]
        return []
