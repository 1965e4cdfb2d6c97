"""Preprocessor settings (``MEDINFER_PREPROCESS_<FIELD>``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from medinfer.common.settings import ServiceSettings

__all__ = ["PreprocessSettings"]


class PreprocessSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEDINFER_PREPROCESS_", extra="ignore")

    host: str = Field("127.0.0.1", description="Bind address (0.0.0.0 in a container).")
    port: int = Field(8080, description="Listen port; the Kubernetes Service maps port 80 to it.")
    model_repository: Path | None = Field(
        None, description="Triton model repository to read model schemas from; default <MEDINFER_HOME>/models."
    )
    max_body_bytes: int = Field(8 * 1024 * 1024, description="Largest request body accepted (413 above).")
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        "none", description="OpenTelemetry span export: none (off), console, or otlp (OTLP/HTTP)."
    )
    otel_endpoint: str | None = Field(None, description="OTLP/HTTP traces endpoint when otel_exporter is otlp.")
    tls_cert_file: Path | None = Field(None, description="Serve HTTPS with this certificate (PEM).")
    tls_key_file: Path | None = Field(None, description="Private key for tls_cert_file.")
    tls_client_ca_file: Path | None = Field(
        None, description="When set, require client certificates signed by this CA (mTLS from the gateway)."
    )

    def repository_path(self) -> Path:
        return self.model_repository or self.model_repository_default
