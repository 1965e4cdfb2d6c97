"""Gateway settings (``MEDINFER_GATEWAY_<FIELD>``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from medinfer.common.devpki import development_certificate
from medinfer.console.settings import ConsoleSettings
from medinfer.security.settings import SecuritySettings
from medinfer.security.smart import DEFAULT_SMART_SCOPE_MODELS

__all__ = ["GatewaySettings"]


class GatewaySettings(SecuritySettings, ConsoleSettings):
    """Security fields (auth, OIDC, rate limits, audit) come from ``SecuritySettings``."""

    model_config = SettingsConfigDict(env_prefix="MEDINFER_GATEWAY_", extra="ignore")

    host: str = Field("127.0.0.1", description="Bind address (0.0.0.0 in a container).")
    port: int = Field(8443, description="HTTPS listen port.")
    tls_cert_file: Path | None = Field(None, description="Server certificate (PEM); default the dev cert under MEDINFER_HOME/tls.")
    tls_key_file: Path | None = Field(None, description="Private key for tls_cert_file.")
    insecure_http: bool = Field(
        False, description="Serve plain HTTP (development only; logs a warning, refused in production)."
    )
    preprocessor_url: str = Field("http://127.0.0.1:8080", description="Base URL of the preprocessor service.")
    preprocessor_ca_file: Path | None = Field(None, description="CA bundle to verify the preprocessor's TLS certificate.")
    preprocessor_client_cert_file: Path | None = Field(
        None, description="Client certificate (PEM) the gateway presents to the preprocessor (mTLS).")
    preprocessor_client_key_file: Path | None = Field(None, description="Private key for preprocessor_client_cert_file.")
    triton_ca_file: Path | None = Field(None, description="CA bundle to verify Triton's TLS certificate (https triton_url).")
    triton_url: str = Field("http://127.0.0.1:8000", description="Triton's HTTP/REST (KServe v2) base URL.")
    triton_grpc_target: str = Field("127.0.0.1:8001", description="Triton's gRPC endpoint (host:port).")
    triton_grpc_ca_file: Path | None = Field(None, description="CA to verify Triton's gRPC TLS certificate; "
                                             "plaintext when unset (loopback or inside the cluster network policy).")
    metrics_port: int = Field(
        8445, description="Port of the operations listener (plain HTTP: /metrics, /healthz, /readyz); /metrics is "
        "not served on the API port. 0 serves no metrics.")
    grpc_port: int = Field(8444, description="Port of the gateway's KServe v2 gRPC service (TLS like HTTPS); 0 disables it.")
    model_repository: Path | None = Field(
        None, description="Triton model repository with medinfer.json metadata; default <MEDINFER_HOME>/models."
    )
    tabular_normalizer: Literal["inline", "preprocessor"] = Field(
        "inline",
        description="Validate tabular records in-process with the preprocessor's schema code ('inline', one hop "
        "less) or by calling the preprocessor service.",
    )
    default_models: dict[str, str] = Field(
        default_factory=lambda: {"tabular": "breast_cancer", "tensor": "breast_cancer", "text": "note_embedding", "image": "image_quality",
                                 "dicom": "image_quality"},
        description="Model used when a request names none, by input kind (JSON object in the environment).",
    )
    smart_scope_models: dict[str, list[str]] = Field(
        default_factory=lambda: {t: list(m) for t, m in DEFAULT_SMART_SCOPE_MODELS.items()},
        description="FHIR route: resource type -> models a SMART system/user read scope on that type grants "
        "(infer:<model>); system/*.read grants the models of the types submitted, never all models (JSON object).",
    )
    text_deid_operator: Literal["surrogate", "tag", "redact", "mask"] = Field(
        "surrogate", description="How PHI is replaced before a note reaches a text model (surrogate keeps the prose "
        "natural for embeddings; consistent per patient with X-Patient-Key). De-identification is fail-closed: "
        "the preprocessor's 422 unsupported-language (MEDINFER_PREPROCESS_DEID_LANGUAGES) is relayed and a timeout "
        "(MEDINFER_PREPROCESS_DEID_NOTE_BUDGET_MS) or outage answers 503; in both cases nothing reaches Triton.",
    )
    max_body_bytes: int = Field(16 * 1024 * 1024, description="Largest request body accepted (413 above): REST "
                                "bodies (after gzip/deflate decoding too) and gRPC messages alike.")
    max_tensor_bytes: int = Field(
        64 * 1024 * 1024, ge=1, description="Largest total input tensor size (elements x element size) a /v2 or "
        "gRPC inference may declare; larger requests get 400 before anything reaches Triton.")
    upstream_timeout_s: float = Field(10.0, description="Per-hop timeout for a call to the preprocessor or Triton.")
    request_timeout_s: float = Field(30.0, description="Request deadline when the client sets none.")
    max_request_timeout_s: float = Field(
        120.0, description="Largest deadline a client may ask for with X-Request-Timeout-Ms."
    )
    retry_attempts: int = Field(3, ge=1, le=10, description="Attempts per upstream call for retryable failures.")
    retry_initial_backoff_s: float = Field(0.05, description="First backoff; doubles per attempt, with jitter.")
    retry_max_backoff_s: float = Field(0.5, description="Largest backoff between attempts.")
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        "none", description="OpenTelemetry span export: none (off), console, or otlp (OTLP/HTTP)."
    )
    otel_endpoint: str | None = Field(None, description="OTLP/HTTP traces endpoint when otel_exporter is otlp.")
    breaker_failure_threshold: int = Field(5, description="Consecutive failures that open a backend's circuit.")
    breaker_error_rate: float = Field(0.5, description="Error rate over the window that opens the circuit.")
    breaker_window: int = Field(20, description="Recent calls the error rate is computed over.")
    breaker_min_calls: int = Field(10, description="Calls in the window before the error rate can trip.")
    breaker_reset_timeout_s: float = Field(2.0, description="Open time before a half-open probe is let through.")
    upstream_connections: int = Field(64, description="Pooled keep-alive connections per upstream.")
    max_in_flight: int = Field(
        256, ge=0, description="Requests (HTTP and gRPC together) one replica serves at once; past it a fast 503 "
        "'overloaded' with Retry-After (gRPC UNAVAILABLE). Health and metrics endpoints are exempt; 0 disables it.")
    registry_routing: bool = Field(
        True,
        description="Resolve versions through the model registry's release tags and canary (and serve the "
        "/admin/models API); false serves the highest version in the repository (no registry database).",
    )

    drift_enabled: bool = Field(
        True, description="Track input drift and run the OOD gate for versions that ship a reference profile."
    )
    drift_window: int = Field(500, ge=50, description="Records kept per model version for drift statistics.")
    drift_min_samples: int = Field(100, ge=10, description="No drift decision below this many records.")
    drift_interval_s: float = Field(5.0, gt=0, description="How often the background task looks for due versions.")
    drift_min_new: int = Field(50, ge=1, description="New records after which a version is re-evaluated.")
    ood_policy: Literal["off", "flag", "reject"] = Field(
        "flag", description="Default OOD policy: flag (answer with ood=true), reject (422 ood-rejected) or off."
    )
    ood_policies: dict[str, Literal["off", "flag", "reject"]] = Field(
        default_factory=dict, description="Per-model OOD policy overrides (JSON object in the environment)."
    )
    ood_policy_from_metadata: bool = Field(
        True, description="Honour an 'ood_policy' declared in a model's medinfer.json when no override is set."
    )

    def repository_path(self) -> Path:
        return self.model_repository or self.model_repository_default

    def tls_paths(self) -> tuple[Path, Path]:
        return (
            self.tls_cert_file or self.home / "tls" / "server.pem",
            self.tls_key_file or self.home / "tls" / "server-key.pem",
        )

    def production_problems(self) -> list[str]:
        """Production carries PHI over TLS on every hop, with certificates that are not development PKI
        (compared by fingerprint and issuer, wherever the files were copied)."""
        problems = super().production_problems() + self.console_problems()
        if self.insecure_http:
            problems.append("insecure_http is refused in production")
        if self.tls_cert_file is None or self.tls_key_file is None:
            problems.append("tls_cert_file/tls_key_file from your PKI are required")
        elif (self.tls_cert_file.resolve().parent == (self.home / "tls").resolve()
              or development_certificate(self.tls_cert_file, self.home)):
            problems.append("tls_cert_file is the development certificate")
        if not self.preprocessor_url.startswith("https://"):
            problems.append("preprocessor_url must use https (PHI crosses this hop)")
        if self.preprocessor_ca_file is None:
            problems.append("preprocessor_ca_file is required (the CA that issued the preprocessor's certificate)")
        if self.preprocessor_client_cert_file is None or self.preprocessor_client_key_file is None:
            problems.append("preprocessor_client_cert_file/preprocessor_client_key_file are required (mTLS)")
        if not self.triton_url.startswith("https://"):
            problems.append("triton_url must use https")
        if self.triton_ca_file is None:
            problems.append("triton_ca_file is required")
        if self.grpc_port and self.triton_grpc_ca_file is None:
            problems.append("triton_grpc_ca_file is required (TLS on the gateway -> Triton gRPC channel)")
        for name in ("preprocessor_ca_file", "preprocessor_client_cert_file", "triton_ca_file", "triton_grpc_ca_file"):
            path = getattr(self, name)
            if path is not None and development_certificate(path, self.home):
                problems.append(f"{name} is development PKI")
        return problems
