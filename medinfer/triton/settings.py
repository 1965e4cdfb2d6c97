"""Settings of the local tritonserver process (``MEDINFER_TRITON_<FIELD>``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from medinfer.common.settings import ServiceSettings

__all__ = ["TritonSettings"]


class TritonSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEDINFER_TRITON_", extra="ignore")

    host: str = Field("127.0.0.1", description="Bind address of Triton's HTTP, gRPC and metrics endpoints.")
    http_port: int = Field(8000, description="KServe v2 HTTP/REST port.")
    grpc_port: int = Field(8001, description="KServe v2 gRPC port.")
    metrics_port: int = Field(8002, description="Prometheus metrics port.")
    backend: Literal["python", "onnxruntime"] = Field(
        "python",
        description="'python': ONNX Runtime inside the Python backend (the pytriton wheel has no onnxruntime "
        "backend); 'onnxruntime': Triton's native backend, as in NVIDIA's container.",
    )
    grpc_ssl_cert_file: str | None = Field(None, description="Enable TLS on Triton's gRPC endpoint with this cert.")
    grpc_ssl_key_file: str | None = Field(None, description="Key for grpc_ssl_cert_file.")
    grpc_ssl_root_cert_file: str | None = Field(None, description="CA for client certificates (gRPC mTLS).")

    def grpc_ssl_args(self) -> tuple[str, ...]:
        """tritonserver flags for TLS (and mTLS when a root cert is set) on the gRPC endpoint."""
        if not self.grpc_ssl_cert_file:
            return ()
        if not self.grpc_ssl_key_file:
            raise ValueError("grpc_ssl_key_file is required with grpc_ssl_cert_file")
        args = ["--grpc-use-ssl=true", f"--grpc-server-cert={self.grpc_ssl_cert_file}",
                f"--grpc-server-key={self.grpc_ssl_key_file}"]
        if self.grpc_ssl_root_cert_file:
            args += [f"--grpc-root-cert={self.grpc_ssl_root_cert_file}", "--grpc-use-ssl-mutual=true"]
        return tuple(args)
