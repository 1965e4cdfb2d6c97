"""OpenTelemetry tracing, off by default.

When a service's ``otel_exporter`` setting is ``console`` or ``otlp``, a
TracerProvider is built for it and handed to FastAPI's native telemetry (server
spans; incoming W3C ``traceparent`` is honoured), and upstream calls carry the
current span's ``traceparent`` (gateway → preprocessor → Triton, which accepts
it). When off, the gateway forwards a client's ``traceparent`` unchanged.
Span attributes are FastAPI's (method, route template, status): no request
content, no query strings with identifiers.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["TracingMode", "build_tracer_provider", "fastapi_telemetry", "inject_trace_headers"]

TracingMode = Literal["none", "console", "otlp"]


def build_tracer_provider(service_name: str, mode: TracingMode, endpoint: str | None = None):
    if mode == "none":
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if mode == "console":
        exporter: Any = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:  # protobuf>=5 clashes with tritonclient[grpc] in the all-in-one venv
            raise RuntimeError("otel_exporter=otlp needs 'opentelemetry-exporter-otlp-proto-http' "
                               "(installed in the gateway and preprocessor images)") from exc

        exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def fastapi_telemetry(provider) -> dict[str, Any]:
    """``FastAPI(telemetry=...)``: everything off (no per-request cost) unless a provider is given."""
    return {"tracing": provider is not None, "metrics": False, "logs": False, "tracer_provider": provider,
            "operation_spans": False}


def inject_trace_headers(headers: dict[str, str]) -> None:
    from opentelemetry import propagate

    propagate.inject(headers)
