"""Registry settings (``MEDINFER_REGISTRY_<FIELD>``)."""

from __future__ import annotations

from pathlib import Path

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

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
    triton_ca_file: Path | None = Field(
        default=None,
        description="CA that https Triton endpoints' certificates are verified against (each pod's TLS proxy "
        "in the cluster); unset: the system roots.",
    )
    triton_endpoints: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Every tritonserver's HTTP base URL, comma-separated or a JSON list (each one is loaded, "
        "checked for READY and routed to individually). Unset: triton_url as a one-element list.",
    )
    triton_endpoints_dns: str | None = Field(
        default=None,
        description="host:port of a headless Service whose DNS A/AAAA records are the tritonserver pods "
        "(e.g. triton-pods.medinfer.svc.cluster.local:8000, or https://...:8443 for pods behind their TLS "
        "proxy); wins over triton_endpoints.",
    )
    reconcile_interval_s: float = Field(
        default=0.5, gt=0,
        description="How often the gateway checks that every Triton endpoint serves the routed versions "
        "(loading what is missing; an endpoint that cannot be made consistent is not routed to).",
    )
    replica_stale_s: float = Field(
        default=5.0, gt=0,
        description="A gateway replica whose acknowledgement is older than this is taken for gone and does "
        "not hold up the unload of a retired version.",
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
    audit_outbox_retry_s: float = Field(
        default=5.0, gt=0,
        description="How often the gateway's registry runtime retries delivering queued audit events "
        "(the ledger was unavailable when the change was made).",
    )
    audit_outbox_lease_s: float = Field(
        default=30.0, gt=0,
        description="How long one deliverer holds a queued audit event; longer than the ledger sink's "
        "timeout (10 s), so replicas sharing the database do not deliver the same event twice; an event "
        "claimed by a process that then died waits this long before another process delivers it.",
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

    @field_validator("triton_endpoints", mode="before")
    @classmethod
    def _split_endpoints(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                import json

                return json.loads(v)
            return [u.strip() for u in v.split(",") if u.strip()]
        return v

    def endpoints(self):  # noqa: ANN201 - TritonEndpoints | None (import kept local)
        """The tritonservers to drive: DNS name, static list, or the one triton_url."""
        from medinfer.registry.endpoints import endpoints_from

        return endpoints_from(self.triton_endpoints, self.triton_endpoints_dns, self.triton_url,
                              ca_file=self.triton_ca_file)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'medinfer.db').resolve()}"

    def resolved_repository(self) -> Path:
        return self.repository or self.model_repository_default
