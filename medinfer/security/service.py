"""The security object graph a gateway builds once in ``create_app``.

:class:`SecurityService` authenticates a request's ``Authorization`` header
into a :class:`Principal` (verify, cache, then the per-client rate limit) and
owns the audit ledger. No FastAPI here: :mod:`medinfer.security.deps` adapts it.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

from medinfer.audit import AuditLedger, open_ledger
from medinfer.audit.failures import FailedAuthAggregator
from medinfer.audit.checkpoint import ensure_checkpoint_key
from medinfer.common.errors import RateLimited, Unauthorized
from medinfer.security.devkeys import DEV_ISSUER, ensure_dev_keys
from medinfer.security.jsonlimits import JsonLimits
from medinfer.security.keys import OIDCKeySource, StaticKeySource
from medinfer.security.principal import KNOWN_SCOPES, Principal
from medinfer.security.ratelimit import TokenBucketLimiter
from medinfer.security.settings import SecuritySettings
from medinfer.security.tokens import TokenVerifier, TrustedIssuer, bearer_token

__all__ = ["SecurityService", "build_security", "ANONYMOUS"]

ANONYMOUS = Principal(sub="anonymous", client_id=None, scopes=frozenset(KNOWN_SCOPES), issuer="none",
                      expires_at=float("inf"))


@dataclass
class SecurityService:
    verifier: TokenVerifier | None
    limiter: TokenBucketLimiter
    json_limits: JsonLimits
    ledger: AuditLedger | None
    failed_auth_limiter: TokenBucketLimiter | None = None
    failures: FailedAuthAggregator | None = None  # aggregates failed-auth audit records per source

    async def authenticate(self, authorization: str | None) -> Principal:
        """Principal for an ``Authorization`` header value; 401 / 429 as typed errors."""
        if self.verifier is None:
            return ANONYMOUS
        principal = await self.verifier.verify(bearer_token(authorization))
        if principal.expires_at + self.verifier.leeway_s < time.time():
            raise Unauthorized("token expired")
        return principal

    def check_rate(self, principal: Principal) -> None:
        if self.verifier is not None:
            self.limiter.check(principal.rate_key)

    def failed_auth(self, source: str) -> None:
        """Count one failed authentication from ``source``; ``RateLimited`` (429, Retry-After) once the source is
        over its budget. Only failures are counted: a valid token from the same source is never refused here."""
        if self.failed_auth_limiter is None:
            return
        try:
            self.failed_auth_limiter.check(f"source|{source}")
        except RateLimited:
            raise RateLimited("too many failed authentications from this source", retry_after=1) from None

    async def aclose(self) -> None:
        if self.verifier is not None:
            await self.verifier.aclose()
        if self.failures is not None:
            await self.failures.aclose()  # pending counts reach the ledger before it closes
        if self.ledger is not None:
            await self.ledger.aclose()


def build_security(settings: SecuritySettings) -> SecurityService:
    verifier = None
    if settings.auth_enabled:
        issuers: list[TrustedIssuer] = []
        if settings.oidc_issuer:
            ctx = ssl.create_default_context(cafile=str(settings.oidc_ca_file)) if settings.oidc_ca_file else None
            source = OIDCKeySource(settings.oidc_issuer, min_refetch_s=settings.jwks_min_refetch_s,
                                   max_age_s=settings.jwks_max_age_s, ssl_context=ctx,
                                   require_https=settings.environment == "production")
            issuers.append(TrustedIssuer(settings.oidc_issuer.rstrip("/"), settings.oidc_audience, source))
        if settings.dev_key_trusted:
            dev = ensure_dev_keys(settings.home)
            issuers.append(TrustedIssuer(DEV_ISSUER, settings.oidc_audience, StaticKeySource(dev.jwks())))
        if not issuers:
            raise ValueError("auth is enabled but no issuer is trusted: set oidc_issuer or trust_dev_key")
        verifier = TokenVerifier(issuers, leeway_s=settings.jwt_leeway_s, cache_size=settings.token_cache_size)
    ledger = None
    if settings.audit_enabled:
        if settings.audit_key_file is None:
            ensure_dev_keys(settings.home)
        if settings.audit_checkpoint_key_file is None:
            ensure_checkpoint_key(settings.audit_checkpoint_key_path)
        ledger = open_ledger(settings.audit_url_resolved, settings.audit_key_path, max_batch=settings.audit_max_batch,
                             sqlite_synchronous=settings.audit_sqlite_sync,
                             checkpoint_file=settings.audit_checkpoint_path,
                             checkpoint_key_file=settings.audit_checkpoint_key_path,
                             checkpoint_interval_s=settings.audit_checkpoint_interval_s)
    return SecurityService(
        verifier=verifier,
        limiter=TokenBucketLimiter(settings.rate_limit_rps, settings.rate_limit_burst),
        json_limits=JsonLimits(max_depth=settings.json_max_depth, max_array_len=settings.json_max_array_len,
                               max_string_len=settings.json_max_string_len),
        ledger=ledger,
        failed_auth_limiter=TokenBucketLimiter(settings.auth_failure_rps, settings.auth_failure_burst),
        failures=FailedAuthAggregator(ledger, window_s=settings.audit_failure_window_s) if ledger else None,
    )
