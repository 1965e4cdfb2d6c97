"""OpenID Connect authorization code flow with PKCE (RFC 7636, S256) against the configured issuer.

The console is a public client by default (no secret; PKCE binds the code to this browser's login). The
access token it receives is verified by the gateway's own :class:`~medinfer.security.tokens.TokenVerifier`
like any bearer token; the ID token is not needed for authorization and is not kept.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import ssl
import urllib.parse
from dataclasses import dataclass

import aiohttp

from medinfer.common.errors import BackendUnavailable, Unauthorized

__all__ = ["OIDCClient", "LoginStart", "pkce_pair"]


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass(frozen=True)
class LoginStart:
    url: str
    state: str
    verifier: str
    nonce: str


class OIDCClient:
    def __init__(self, issuer: str, client_id: str, *, scopes: str, audience: str,
                 client_secret: str | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.scopes, self.audience = scopes, audience
        self._ssl = ssl_context
        self._discovery: dict | None = None

    async def discovery(self) -> dict:
        if self._discovery is None:
            url = self.issuer + "/.well-known/openid-configuration"
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                    async with http.get(url, ssl=self._ssl if self._ssl is not None else True) as resp:
                        resp.raise_for_status()
                        doc = await resp.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                raise BackendUnavailable("the OpenID provider is unreachable", code="oidc-unavailable",
                                         retry_after=5) from None
            if doc.get("issuer", "").rstrip("/") != self.issuer:
                raise BackendUnavailable("the OpenID provider's discovery names another issuer",
                                         code="oidc-misconfigured")
            self._discovery = doc
        return self._discovery

    async def start(self, redirect_uri: str) -> LoginStart:
        doc = await self.discovery()
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": self.scopes, "state": state, "nonce": nonce, "code_challenge": challenge,
            "code_challenge_method": "S256", "resource": self.audience,
        })
        return LoginStart(doc["authorization_endpoint"] + "?" + query, state, verifier, nonce)

    async def exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        """The access token for an authorization code (401 when the provider refuses it)."""
        doc = await self.discovery()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier, "client_id": self.client_id, "resource": self.audience}
        auth = aiohttp.BasicAuth(self.client_id, self.client_secret) if self.client_secret else None
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                async with http.post(doc["token_endpoint"], data=form, auth=auth,
                                     ssl=self._ssl if self._ssl is not None else True) as resp:
                    body = await resp.json(content_type=None)
                    status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise BackendUnavailable("the OpenID provider is unreachable", code="oidc-unavailable",
                                     retry_after=5) from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if status != 200 or not isinstance(token, str):
            raise Unauthorized("the OpenID provider refused the login", error="invalid_grant")
        return token
