"""Where verification keys come from: a static JWKS (the development key) or an
OpenID Provider's JWKS found by discovery.

Rotation: providers publish the next key before signing with it and keep the
old one until its tokens expire. A token with an unknown ``kid`` triggers one
refetch, rate-limited (``min_refetch_s``) so garbage ``kid`` values cannot turn
the gateway into a traffic amplifier against the provider; keys are also
refreshed after ``max_age_s``. Fetches are single-flight.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any, Protocol

import aiohttp
from jwt import PyJWK
from jwt.exceptions import PyJWKError, PyJWKSetError

from medinfer.common.errors import BackendUnavailable, Unauthorized

__all__ = ["KeySource", "StaticKeySource", "OIDCKeySource", "ALLOWED_ALGORITHMS", "keys_from_jwks"]

log = logging.getLogger("medinfer.security")

ALLOWED_ALGORITHMS = ("RS256", "ES256", "PS256")
_KTY_FOR_ALG = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC"}


class KeySource(Protocol):
    async def get_key(self, kid: str | None, alg: str) -> PyJWK: ...

    async def aclose(self) -> None: ...


def keys_from_jwks(jwks: dict[str, Any]) -> dict[str | None, PyJWK]:
    """Signing keys from a JWKS document; symmetric (``oct``) and encryption keys are dropped."""
    out: dict[str | None, PyJWK] = {}
    for data in jwks.get("keys", []) if isinstance(jwks, dict) else []:
        if not isinstance(data, dict) or data.get("kty") not in ("RSA", "EC"):
            continue
        if data.get("use", "sig") != "sig":
            continue
        if data.get("alg") and data["alg"] not in ALLOWED_ALGORITHMS:
            continue
        try:
            out[data.get("kid")] = PyJWK(data, algorithm=data.get("alg") or _default_alg(data))
        except (PyJWKError, PyJWKSetError, ValueError, KeyError):
            log.warning("skipping an unusable JWKS key", extra={"event": "jwks-skip"})
    return out


def _default_alg(data: dict[str, Any]) -> str:
    return "ES256" if data.get("kty") == "EC" else "RS256"


def _pick(keys: dict[str | None, PyJWK], kid: str | None, alg: str) -> PyJWK | None:
    if kid is not None:
        key = keys.get(kid)
    else:
        # No kid: accept only when exactly one key of the right type exists.
        fits = [k for k in keys.values() if k.key_type == _KTY_FOR_ALG[alg]]
        key = fits[0] if len(fits) == 1 else None
    if key is None:
        return None
    if key.key_type != _KTY_FOR_ALG[alg]:
        raise Unauthorized("token algorithm does not match its key")
    jwk_alg = getattr(key, "algorithm_name", None)
    if jwk_alg and jwk_alg != alg and {jwk_alg, alg} != {"RS256", "PS256"}:
        raise Unauthorized("token algorithm does not match its key")
    return key


class StaticKeySource:
    """A fixed JWKS (the local development key)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys = keys_from_jwks(jwks)

    async def get_key(self, kid: str | None, alg: str) -> PyJWK:
        key = _pick(self._keys, kid, alg)
        if key is None:
            raise Unauthorized("token signed by an unknown key")
        return key

    async def aclose(self) -> None:
        return None


class OIDCKeySource:
    """JWKS of an OpenID Provider, located through ``<issuer>/.well-known/openid-configuration``."""

    def __init__(
        self,
        issuer: str,
        *,
        min_refetch_s: float = 30.0,
        max_age_s: float = 3600.0,
        timeout_s: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        require_https: bool = False,
    ) -> None:
        """``require_https``: refuse a discovery document whose ``jwks_uri`` is not https (production: keys
        fetched in plaintext could be swapped on the way)."""
        self.issuer = issuer.rstrip("/")
        self.require_https = require_https
        self.min_refetch_s = min_refetch_s
        self.max_age_s = max_age_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._ssl = ssl_context
        self._keys: dict[str | None, PyJWK] = {}
        self._fetched_at = 0.0
        self._attempted_at = -1e18
        self._jwks_uri: str | None = None
        self.token_endpoint: str | None = None  # from discovery, for the FHIR CapabilityStatement
        self.discovery: dict[str, Any] = {}  # the provider's discovery document (for SMART configuration)
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self.fetch_count = 0

    async def discover(self) -> dict[str, Any]:
        """The discovery document, read now if it has not been yet (empty when the provider is unreachable)."""
        if not self.discovery:
            await self._refresh()
        return self.discovery

    async def get_key(self, kid: str | None, alg: str) -> PyJWK:
        refreshed = False
        if not self._keys or time.monotonic() - self._fetched_at > self.max_age_s:
            refreshed = await self._refresh()
        key = _pick(self._keys, kid, alg)
        if key is None and not refreshed and await self._refresh():
            key = _pick(self._keys, kid, alg)
        if key is None:
            if not self._keys:
                raise BackendUnavailable("identity provider keys are unavailable", retry_after=5)
            raise Unauthorized("token signed by an unknown key")
        return key

    async def _refresh(self) -> bool:
        """Refetch unless one was attempted within ``min_refetch_s``; True when keys may have changed."""
        seen = self._attempted_at
        async with self._lock:
            if self._attempted_at != seen:
                return True  # another task fetched while this one waited
            if time.monotonic() - self._attempted_at < self.min_refetch_s:
                return False
            self._attempted_at = time.monotonic()
            try:
                keys = await self._fetch()
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                log.warning("JWKS fetch failed", extra={"event": "jwks-fetch-failed", "code": type(exc).__name__})
                return False
            self._keys, self._fetched_at = keys, time.monotonic()
            self.fetch_count += 1
            log.info("JWKS loaded", extra={"event": "jwks-loaded"})
            return True

    async def _fetch(self) -> dict[str | None, PyJWK]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        if self._jwks_uri is None:
            meta = await self._get_json(self.issuer + "/.well-known/openid-configuration")
            if str(meta.get("issuer", "")).rstrip("/") != self.issuer:
                raise ValueError("discovery document names a different issuer")
            uri = meta.get("jwks_uri")
            if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
                raise ValueError("discovery document has no jwks_uri")
            if self.require_https and not uri.startswith("https://"):
                raise ValueError("discovery document's jwks_uri is not https")
            self._jwks_uri = uri
            token = meta.get("token_endpoint")
            if isinstance(token, str) and token.startswith(("https://", "http://")):
                self.token_endpoint = token
            self.discovery = meta
        keys = keys_from_jwks(await self._get_json(self._jwks_uri))
        if not keys:
            raise ValueError("JWKS holds no usable signing key")
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        assert self._session is not None
        async with self._session.get(url, ssl=self._ssl if self._ssl is not None else True) as resp:
            resp.raise_for_status()
            data = await resp.json(content_type=None)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
