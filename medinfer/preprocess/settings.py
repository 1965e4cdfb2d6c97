"""Preprocessor settings (``MEDINFER_PREPROCESS_<FIELD>``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
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
    max_body_bytes: int = Field(
        48 * 1024 * 1024, description="Largest request body accepted (413 above); sized for base64 DICOM uploads."
    )
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        "none", description="OpenTelemetry span export: none (off), console, or otlp (OTLP/HTTP)."
    )
    otel_endpoint: str | None = Field(None, description="OTLP/HTTP traces endpoint when otel_exporter is otlp.")
    tls_cert_file: Path | None = Field(None, description="Serve HTTPS with this certificate (PEM).")
    tls_key_file: Path | None = Field(None, description="Private key for tls_cert_file.")
    tls_client_ca_file: Path | None = Field(
        None, description="When set, require client certificates signed by this CA (mTLS from the gateway)."
    )

    # -- imaging (issue 7) -------------------------------------------------------------------
    image_max_input_bytes: int = Field(
        32 * 1024 * 1024, description="Largest decoded image or DICOM file (413 above); max_body_bytes must allow its base64."
    )
    image_max_pixels: int = Field(
        4096 * 4096, description="Largest declared frame (rows x columns), checked before decoding; also Pillow's bomb limit."
    )
    image_max_frames: int = Field(512, description="Largest declared NumberOfFrames (413 above).")
    image_max_decoded_bytes: int = Field(
        1024 * 1024 * 1024, description="Largest declared pixel payload, all frames and samples, checked before decoding."
    )
    image_allow_burned_in: bool = Field(
        False, description="Policy: accept BurnedInAnnotation=YES images for inference (refused with 422 by default)."
    )
    image_default_model: str = Field(
        "image_quality", description="Image model whose input tensor /v1/image/preprocess targets when none is named."
    )
    dicom_deid_secret: SecretStr | None = Field(
        None, description="Key for DICOM UID/patient pseudonyms and date shifts (>= 16 bytes); required in production."
    )
    dicom_date_shift_max_days: int = Field(365, description="Dates move back by a keyed 1..N days per patient.")
    dicom_private_allowlist: list[str] = Field(
        default_factory=list,
        description="Private attributes kept by de-identification, as 'gggg,PRIVATE CREATOR,ee' (hex group and offset).",
    )

    @model_validator(mode="after")
    def _deid_secret_in_production(self) -> "PreprocessSettings":
        if self.environment == "production" and self.dicom_deid_secret is None:
            raise ValueError("MEDINFER_PREPROCESS_DICOM_DEID_SECRET is required in production")
        return self

    def dicom_deid_secret_bytes(self) -> bytes:
        """The configured secret, or outside production a development key derived from the state directory."""
        if self.dicom_deid_secret is not None:
            return self.dicom_deid_secret.get_secret_value().encode()
        return hashlib.sha256(b"medinfer-dev-dicom-deid:" + str(self.home.resolve()).encode()).digest()

    def repository_path(self) -> Path:
        return self.model_repository or self.model_repository_default
