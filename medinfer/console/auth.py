"""Who is using the console: the session cookie's access token, verified like any bearer token.

:class:`ConsoleAuth` is built once in :func:`medinfer.console.build_console`. No FastAPI routes here;
:mod:`medinfer.console.routes` calls it.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass

from medinfer.common.errors import MedinferError, Unauthorized
from medinfer.console.oidc import OIDCClient
from medinfer.console.session import ConsoleSession, SessionCodec, load_session_key
from medinfer.security import Principal
from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token
from medinfer.security.principal import KNOWN_SCOPES
from medinfer.security.service import SecurityService

__all__ = ["ConsoleAuth", "Viewer", "DEV_SUB"]

DEV_SUB = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
CONSOLE_SCOPES = ("models:read", "models:write", "audit:read")


@dataclass(frozen=True)
class Viewer:
    """A signed-in person: their principal and their session (for the CSRF token)."""

    principal: Principal
    session: ConsoleSession

    def may(self, scope: str) -> bool:
        return self.principal.has(scope)


class ConsoleAuth:
    def __init__(self, settings, security: SecurityService) -> None:
        self.settings = settings
        self.security = security
        dev = settings.environment == "development"
        self.codec = SessionCodec(load_session_key(settings.console_session_key_path, create=dev))
        self.dev_login = dev and security.verifier is not None and settings.dev_key_trusted
        self.oidc: OIDCClient | None = None
        if settings.oidc_issuer:
            ctx = ssl.create_default_context(cafile=str(settings.oidc_ca_file)) if settings.oidc_ca_file else None
            self.oidc = OIDCClient(settings.oidc_issuer, settings.console_oidc_client_id,
                                   scopes=settings.console_oidc_scopes, audience=settings.oidc_audience,
                                   client_secret=settings.console_oidc_client_secret, ssl_context=ctx)

    async def viewer(self, cookie: str | None) -> Viewer | None:
        """The signed-in person, or None (no cookie, a cookie we did not seal, an expired or revoked token)."""
        session = self.codec.session(cookie)
        if session is None:
            return None
        try:
            principal = await self.security.authenticate("Bearer " + session.token)
        except MedinferError:
            return None
        return Viewer(principal, session)

    def dev_token(self, sub: str, scopes: list[str]) -> str:
        """A development login: a token from the dev key with the scopes the person ticked."""
        if not self.dev_login:
            raise Unauthorized("development login is not available")
        if not DEV_SUB.match(sub or ""):
            raise Unauthorized("a user name of letters, digits and . _ @ - is required")
        chosen = [s for s in scopes if s in KNOWN_SCOPES and s in CONSOLE_SCOPES]
        return mint_dev_token(ensure_dev_keys(self.settings.home), chosen, ttl_s=8 * 3600, sub=sub,
                              client_id="medinfer-console-dev", audience=self.settings.oidc_audience)
