"""Registry settings (``MEDINFER_REGISTRY_<FIELD>``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from medinfer.common.settings import ServiceSettings

__all__ = ["RegistrySettings"]


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEDINFER_REGISTRY_", extra="ignore", secrets_dir=None)

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store; default SQLite at <MEDINFER_HOME>/medinfer.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db (the audit ledger may share it).",
    )
    repository: Path | None = Field(
        default=None, description="Triton model repository; default <MEDINFER_HOME>/models."
    )
    triton_url: str | None = Field(
        default=None,
        description="Triton HTTP endpoint to load/unload versions on promotion (explicit model control). "
        "Unset: tags and config.pbtxt change, and Triton picks them up at its next load.",
    )
    backend: str = Field(
        default="python",
        description="Triton backend written into generated configs: 'python' (ONNX Runtime in the Python "
        "backend, as the pytriton wheel ships) or 'onnxruntime' (NVIDIA's container).",
    )
    load_timeout_s: float = Field(default=120.0, description="How long a promotion waits for READY.")
    drain_timeout_s: float = Field(
        default=30.0, description="Longest wait for in-flight requests on a retired version before unload."
    )
    drain_grace_s: float = Field(
        default=2.0,
        description="Without an in-process gateway (local CLI), wait this long before unloading a retired "
        "version so gateways refresh their routing snapshot and finish requests already routed to it.",
    )
    refresh_interval_s: float = Field(
        default=0.5, description="How often the gateway checks the store's change counter for a new snapshot."
    )
    rollout_max_ood_share: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Automated rollout: roll back when the canary's share of inputs the OOD gate flagged or "
        "rejected exceeds this (e.g. 0.05). Unset: no OOD gate. Needs the version's reference profile.",
    )
    rollout_drift_gate: bool = Field(
        default=False,
        description="Automated rollout: roll back when drift is detected against the canary's reference profile "
        "while the stable version shows none.",
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'medinfer.db').resolve()}"

    def resolved_repository(self) -> Path:
        return self.repository or self.model_repository_default
