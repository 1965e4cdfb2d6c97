"""Bearer-token verification: signature, issuer, audience, time, algorithm.

Only asymmetric algorithms are accepted (``RS256``, ``ES256``, ``PS256``), so
``alg: none`` and the "HS256 signed with the public key" confusion cannot
pass; the algorithm must also match the key type. Every failure is an
``Unauthorized`` (401 + ``WWW-Authenticate``) whose detail names the reason,
never the token or its claims.

Verified tokens are cached by their SHA-256 until they expire: signature
checks cost tens of microseconds (RSA) to ~100 us (ECDSA), and clients reuse a
token for minutes, so the steady-state cost is one hash and a dict lookup.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
)

from medinfer.common.errors import Unauthorized
from medinfer.security.keys import ALLOWED_ALGORITHMS, KeySource
from medinfer.security.principal import Principal, parse_scopes

__all__ = ["TrustedIssuer", "TokenVerifier", "bearer_token"]

log = logging.getLogger("medinfer.security")

MAX_TOKEN_BYTES = 8192


@dataclass(frozen=True)
class TrustedIssuer:
    """One issuer the gateway accepts tokens from, the audience they must name, and its keys."""

    issuer: str
    audience: str
    keys: KeySource


def bearer_token(authorization: str | None) -> str:
    """The token from an ``Authorization: Bearer`` header value."""
    if not authorization:
        raise Unauthorized("missing bearer token", error="invalid_request")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("authorization scheme must be Bearer", error="invalid_request")
    return token


class TokenVerifier:
    def __init__(
        self,
        issuers: list[TrustedIssuer],
        *,
        leeway_s: float = 30.0,
        cache_size: int = 10_000,
        algorithms: tuple[str, ...] = ALLOWED_ALGORITHMS,
    ) -> None:
        if not issuers:
            raise ValueError("at least one trusted issuer is required")
        if set(algorithms) - set(ALLOWED_ALGORITHMS):
            raise ValueError("only RS256, ES256 and PS256 may be allowed")
        self._issuers = {ti.issuer.rstrip("/"): ti for ti in issuers}
        self.leeway_s = leeway_s
        self.algorithms = algorithms
        self._cache: OrderedDict[bytes, Principal] = OrderedDict()
        self._cache_size = cache_size

    async def provider_discovery(self) -> dict:
        """The first OpenID Provider's discovery document (read on first use), or {} when none is configured."""
        for ti in self._issuers.values():
            discover = getattr(ti.keys, "discover", None)
            if discover is not None:
                return await discover()
        return {}

    def token_endpoint(self) -> str | None:
        """The first OpenID Provider's token endpoint, once its discovery document was read."""
        for ti in self._issuers.values():
            endpoint = getattr(ti.keys, "token_endpoint", None)
            if endpoint:
                return endpoint
        return None

    async def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthorized("token too long")
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        hit = self._cache.get(digest)
        if hit is not None:
            if time.time() <= hit.expires_at + self.leeway_s:
                return hit
            self._cache.pop(digest, None)
            raise Unauthorized("token expired")
        principal = await self._verify_uncached(token)
        self._cache[digest] = principal
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    async def _verify_uncached(self, token: str) -> Principal:
        try:
            # One unverified parse for header and issuer (PyJWT's base64 checks cost more than the signature).
            parsed = jwt.decode_complete(token, options={"verify_signature": False})
        except InvalidTokenError:
            raise Unauthorized("malformed token") from None
        header, unverified = parsed["header"], parsed["payload"]
        if not isinstance(unverified, dict):
            raise Unauthorized("malformed token")
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise Unauthorized("token algorithm not accepted")
        iss = unverified.get("iss")
        trusted = self._issuers.get(iss.rstrip("/")) if isinstance(iss, str) else None
        if trusted is None:
            raise Unauthorized("token issuer not trusted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthorized("malformed token")
        key = await trusted.keys.get_key(kid, alg)
        try:
            claims = jwt.decode(
                token,
                key.key,  # the raw public key: one JWK serves RS256 and PS256
                algorithms=[alg],
                audience=trusted.audience,
                issuer=iss,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"], "verify_iat": False},
            )
        except ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except ImmatureSignatureError:
            raise Unauthorized("token not yet valid") from None
        except InvalidAudienceError:
            raise Unauthorized("token audience not accepted") from None
        except InvalidIssuerError:
            raise Unauthorized("token issuer not trusted") from None
        except InvalidSignatureError:
            raise Unauthorized("token signature invalid") from None
        except MissingRequiredClaimError as exc:
            raise Unauthorized(f"token lacks the '{exc.claim}' claim") from None
        except InvalidTokenError:
            raise Unauthorized("malformed token") from None
        sub, exp = claims.get("sub"), claims.get("exp")
        if not isinstance(sub, str) or not sub or not isinstance(exp, (int, float)):
            raise Unauthorized("malformed token")
        client_id = claims.get("client_id") or claims.get("azp")
        return Principal(
            sub=sub,
            client_id=client_id if isinstance(client_id, str) else None,
            scopes=parse_scopes(claims),
            issuer=trusted.issuer,
            expires_at=float(exp),
        )

    async def aclose(self) -> None:
        for ti in self._issuers.values():
            await ti.keys.aclose()
