"""OpenTelemetry tracing, off by default.

When a service's ``otel_exporter`` setting is ``console`` or ``otlp``, a
TracerProvider is built for it and handed to FastAPI's native telemetry (server
spans; incoming W3C ``traceparent`` is honoured), and upstream calls carry the
current span's ``traceparent`` (gateway → preprocessor → Triton, which accepts
it). When off, the gateway forwards a client's ``traceparent`` unchanged.

Span attributes are FastAPI's minus what can carry identifiers: FastAPI's
telemetry records the raw ``url.path`` and ``url.query`` (a path or a query may
hold an MRN, a patient name, a model the caller has no rights on), so every
exporter is wrapped in :class:`RedactingSpanExporter`, which drops those (and
the client address, the user agent, exception messages); the route template is
kept as ``http.route`` and in the span name.
"""

from __future__ import annotations

import sys
from typing import Any, Literal

__all__ = ["TracingMode", "build_tracer_provider", "fastapi_telemetry", "inject_trace_headers",
           "RedactingSpanExporter", "REDACTED_ATTRIBUTES"]

TracingMode = Literal["none", "console", "otlp"]

# Span attributes never exported: raw URLs and what identifies the caller's machine.
REDACTED_ATTRIBUTES = frozenset({
    "url.path", "url.query", "url.full", "http.target", "http.url", "http.request.method_original",
    "client.address", "client.port", "network.peer.address", "network.peer.port", "user_agent.original",
})
# Event attributes kept (exception events keep their type, not a message that may quote the input).
_EVENT_KEEP = frozenset({"exception.type", "exception.escaped"})


def _redact(span):
    from opentelemetry.sdk.trace import Event, ReadableSpan

    attrs = dict(span.attributes or {})
    events = list(span.events or ())
    dirty = any(k in REDACTED_ATTRIBUTES for k in attrs) or any(
        any(k not in _EVENT_KEEP for k in (e.attributes or {})) for e in events)
    if not dirty:
        return span
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes={k: v for k, v in attrs.items() if k not in REDACTED_ATTRIBUTES},
        events=[Event(e.name, {k: v for k, v in (e.attributes or {}).items() if k in _EVENT_KEEP}, e.timestamp)
                for e in events],
        links=span.links, kind=span.kind, status=span.status, start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingSpanExporter:
    """Wraps a ``SpanExporter``: spans leave without raw URLs, client addresses or exception messages."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def export(self, spans):
        return self.inner.export([_redact(s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def build_tracer_provider(service_name: str, mode: TracingMode, endpoint: str | None = None, *, exporter=None):
    """A provider exporting through :class:`RedactingSpanExporter` (``exporter``: use this one instead of the
    mode's, e.g. an in-memory exporter in tests)."""
    if mode == "none" and exporter is None:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(exporter)))
        return provider
    if mode == "console":
        exporter: Any = ConsoleSpanExporter(out=sys.stdout)  # the stdout of now (the default binds at import)
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:  # protobuf>=5 clashes with tritonclient[grpc] in the all-in-one venv
            raise RuntimeError("otel_exporter=otlp needs 'opentelemetry-exporter-otlp-proto-http' "
                               "(installed in the gateway and preprocessor images)") from exc

        exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(RedactingSpanExporter(exporter)))
    return provider


def fastapi_telemetry(provider) -> dict[str, Any]:
    """``FastAPI(telemetry=...)``: everything off (no per-request cost) unless a provider is given."""
    return {"tracing": provider is not None, "metrics": False, "logs": False, "tracer_provider": provider,
            "operation_spans": False}


def inject_trace_headers(headers: dict[str, str]) -> None:
    from opentelemetry import propagate

    propagate.inject(headers)
