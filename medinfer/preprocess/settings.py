"""Preprocessor settings (``MEDINFER_PREPROCESS_<FIELD>``)."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from medinfer.common.devpki import development_certificate
from medinfer.common.settings import ServiceSettings

__all__ = ["PreprocessSettings"]


class PreprocessSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEDINFER_PREPROCESS_", extra="ignore")

    host: str = Field("127.0.0.1", description="Bind address (0.0.0.0 in a container).")
    port: int = Field(8080, description="Listen port; the Kubernetes Service maps port 443 to it.")
    metrics_port: int = Field(
        8081, description="Port of the operations listener (plain HTTP: /metrics, /healthz, /readyz; the probes use "
        "it, the API port may require client certificates). 0 serves no metrics.")
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

    deid_enabled: bool = Field(True, description="Load the de-identification engine (spaCy NER) and serve /v1/deidentify.")
    deid_secret: SecretStr | None = Field(
        None, description="HMAC key for surrogate mappings and date shifts (>= 32 characters). Required in "
        "production; in development a random key is kept in <MEDINFER_HOME>/keys/deid.secret.")
    deid_max_chars: int = Field(100_000, ge=1, description="Longest note accepted, in characters (413 above).")
    deid_max_batch: int = Field(64, ge=1, description="Most notes in one /v1/deidentify/batch call (413 above).")
    deid_min_score: float = Field(0.4, ge=0, le=1, description="Entities scoring lower are not reported or replaced.")
    deid_max_shift_days: int = Field(365, ge=1, le=3650, description="Largest per-patient date shift, in days.")

    def deid_secret_bytes(self) -> bytes:
        """The surrogate key. Production refuses to start without a configured one: a key made up at
        start-up would change every mapping on restart and make surrogates irreproducible."""
        if self.deid_secret is not None:
            value = self.deid_secret.get_secret_value()
            if len(value) < 32:
                raise ValueError("MEDINFER_PREPROCESS_DEID_SECRET must be at least 32 characters")
            return value.encode("utf-8")
        if self.environment == "production":
            raise ValueError("MEDINFER_PREPROCESS_DEID_SECRET is required in production")
        path = self.home / "keys" / "deid.secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip().encode("utf-8")

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
    def _production_is_safe(self) -> "PreprocessSettings":
        """Production: the DICOM key, and HTTPS with client certificates required (PHI arrives here; mTLS is
        how the preprocessor knows the caller is the gateway)."""
        if self.environment != "production":
            return self
        if self.dicom_deid_secret is None:
            raise ValueError("MEDINFER_PREPROCESS_DICOM_DEID_SECRET is required in production")
        problems = []
        if self.tls_cert_file is None or self.tls_key_file is None:
            problems.append("tls_cert_file/tls_key_file are required (HTTPS)")
        if self.tls_client_ca_file is None:
            problems.append("tls_client_ca_file is required (mTLS: only the gateway's certificate is accepted)")
        for name in ("tls_cert_file", "tls_client_ca_file"):
            path = getattr(self, name)
            if path is not None and development_certificate(path, self.home):
                problems.append(f"{name} is development PKI")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self

    def dicom_deid_secret_bytes(self) -> bytes:
        """The configured secret, or outside production a development key derived from the state directory."""
        if self.dicom_deid_secret is not None:
            return self.dicom_deid_secret.get_secret_value().encode()
        return hashlib.sha256(b"medinfer-dev-dicom-deid:" + str(self.home.resolve()).encode()).digest()

    def repository_path(self) -> Path:
        return self.model_repository or self.model_repository_default
