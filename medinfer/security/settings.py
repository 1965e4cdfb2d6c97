"""Gateway security settings (``MEDINFER_GATEWAY_*``), as a base the gateway's ``Settings`` extends.

Production (``MEDINFER_ENVIRONMENT=production``) refuses at start-up: auth or
audit switched off, the development signing key, no OIDC issuer, an issuer
not on HTTPS, and an audit key not provided explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from medinfer.common.devpki import same_secret
from medinfer.common.settings import ServiceSettings
from medinfer.security.devkeys import DEFAULT_AUDIENCE

__all__ = ["SecuritySettings"]


class SecuritySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEDINFER_GATEWAY_", extra="ignore")

    auth_enabled: bool = Field(True, description="Require bearer tokens. Off only for local benchmarks; refused in production.")
    oidc_issuer: str | None = Field(None, description="OpenID Provider issuer URL; its JWKS is found by discovery.")
    oidc_audience: str = Field(DEFAULT_AUDIENCE, description="The 'aud' tokens must carry for this gateway.")
    oidc_ca_file: Path | None = Field(None, description="CA bundle for the provider's HTTPS (default: system roots).")
    trust_dev_key: bool | None = Field(None, description="Trust <home>/keys/dev-jwks.json. Default: on outside production.")
    jwt_leeway_s: float = Field(30.0, ge=0, le=300, description="Clock skew tolerated on exp/nbf.")
    jwks_min_refetch_s: float = Field(30.0, ge=0, description="Least time between JWKS refetches for unknown key ids.")
    jwks_max_age_s: float = Field(3600.0, gt=0, description="Refresh the JWKS this often even when all kids are known.")
    token_cache_size: int = Field(10_000, ge=0, description="Verified tokens kept (keyed by SHA-256) until they expire.")
    rate_limit_rps: float = Field(100.0, gt=0, description="Sustained requests a second per client (token bucket).")
    rate_limit_burst: int = Field(200, ge=1, description="Bucket size: requests a client may send at once.")
    auth_failure_rps: float = Field(
        5.0, gt=0, description="Failed authentications a second per source (TCP peer) before its failures get 429 "
        "instead of 401; valid tokens from the same source are not affected.")
    auth_failure_burst: int = Field(20, ge=1, description="Failed authentications a source may have at once.")
    audit_failure_window_s: float = Field(
        60.0, gt=0, description="Failed-authentication records are aggregated per source over this window: the "
        "first in full, the rest as one record with a count.")
    json_max_depth: int = Field(32, ge=2, description="Deepest JSON nesting accepted.")
    json_max_array_len: int = Field(1_000_000, ge=1, description="Longest JSON array accepted.")
    json_max_string_len: int = Field(
        24_000_000, ge=1, description="Longest JSON string accepted (base64 images and DICOM travel as strings; "
        "the body size limit bounds it too)."
    )
    hsts_max_age: int = Field(31_536_000, ge=0, description="Strict-Transport-Security max-age on HTTPS responses.")
    audit_enabled: bool = Field(True, description="Write the audit ledger. Off only for local benchmarks; refused in production.")
    audit_url: str | None = Field(None, description="SQLAlchemy URL of the ledger; default SQLite <home>/medinfer.db.")
    audit_key_file: Path | None = Field(None, description="HMAC secret for digests and the chain; default <home>/keys/audit-hmac.key.")
    audit_sqlite_sync: Literal["full", "normal"] = Field(
        "full", description="SQLite ledger: 'full' fsyncs each group commit; 'normal' survives a process crash "
        "but may lose the last commits on power loss. PostgreSQL follows its synchronous_commit.")
    audit_max_batch: int = Field(512, ge=1, description="Most records one group commit writes.")
    audit_checkpoint_file: Path | None = Field(
        None, description="Append-only file the signed checkpoints of the chain head go to (the ledger's anchor "
        "outside the database); default <home>/audit-checkpoints.jsonl. In production a volume or bucket with "
        "retention (docs/security.md); one file per replica.")
    audit_checkpoint_key_file: Path | None = Field(
        None, description="Ed25519 private key (PEM) that signs checkpoints, kept apart from the database and the "
        "audit HMAC key; default <home>/keys/audit-checkpoint.pem (created in development).")
    audit_checkpoint_interval_s: float = Field(
        1.0, ge=0, description="Most time between checkpoints while records are written (0: after every group "
        "commit); records newer than the last checkpoint are not anchored yet.")

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> SecuritySettings:
        if self.environment != "production":
            return self
        problems = self.production_problems()
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self

    def production_problems(self) -> list[str]:
        """What production refuses in these settings (subclasses add their own)."""
        problems = []
        if not self.auth_enabled:
            problems.append("auth_enabled must be true")
        if not self.audit_enabled:
            problems.append("audit_enabled must be true")
        if self.trust_dev_key:
            problems.append("the development signing key may not be trusted")
        if not self.oidc_issuer:
            problems.append("oidc_issuer is required")
        elif not self.oidc_issuer.startswith("https://"):
            problems.append("oidc_issuer must use https")
        if self.audit_key_file is None:
            problems.append("audit_key_file must be set (the development key is refused)")
        elif (self.audit_key_file.resolve() == (self.home / "keys" / "audit-hmac.key").resolve()
              or same_secret(self.audit_key_file, self.home / "keys" / "audit-hmac.key")):
            problems.append("audit_key_file may not be the development key")
        if self.audit_checkpoint_file is None:
            problems.append("audit_checkpoint_file must be set (an append-only volume or bucket mount)")
        if self.audit_checkpoint_key_file is None:
            problems.append("audit_checkpoint_key_file must be set (the development key is refused)")
        elif (self.audit_checkpoint_key_file.resolve() == self.audit_checkpoint_key_default.resolve()
              or same_secret(self.audit_checkpoint_key_file, self.audit_checkpoint_key_default)):
            problems.append("audit_checkpoint_key_file may not be the development key")
        return problems

    @property
    def audit_checkpoint_key_default(self) -> Path:
        return self.home / "keys" / "audit-checkpoint.pem"

    @property
    def audit_checkpoint_key_path(self) -> Path:
        return self.audit_checkpoint_key_file or self.audit_checkpoint_key_default

    @property
    def audit_checkpoint_path(self) -> Path:
        return self.audit_checkpoint_file or self.home / "audit-checkpoints.jsonl"

    @property
    def dev_key_trusted(self) -> bool:
        return self.environment != "production" if self.trust_dev_key is None else self.trust_dev_key

    @property
    def audit_url_resolved(self) -> str:
        return self.audit_url or f"sqlite:///{(self.home / 'medinfer.db').resolve()}"

    @property
    def audit_key_path(self) -> Path:
        return self.audit_key_file or self.home / "keys" / "audit-hmac.key"
