"""Exported spans carry no raw URL: FastAPI's telemetry sets url.path and url.query (which may hold an MRN or
a name); the exporter wrapper drops them and keeps the route template. Checked with an in-memory exporter and
through the preprocessor's own console exporter."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from medinfer.common.tracing import REDACTED_ATTRIBUTES, build_tracer_provider, fastapi_telemetry
from medinfer.preprocess.app import create_app as preprocessor_app
from medinfer.preprocess.settings import PreprocessSettings
from tests.support.asgi import request

CANARY = "SMITH-JOHN-MRN4471"


def test_spans_lose_raw_urls_and_keep_the_route_template():
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider("test", "none", exporter=exporter)
    app = FastAPI(telemetry=fastapi_telemetry(provider))

    @app.get("/v2/models/{model_name}/infer")
    async def infer(model_name: str):
        raise ValueError(f"boom for {model_name}")  # an exception message quoting the input

    @app.get("/patients/{pid}")
    async def patient(pid: str):
        return {"ok": True}

    assert request(app, "GET", f"/patients/{CANARY}?name={CANARY}&mrn=4471").status == 200
    with pytest.raises(ValueError):
        request(app, "GET", f"/v2/models/{CANARY}/infer")
    spans = exporter.get_finished_spans()
    assert len(spans) >= 2
    for span in spans:
        dumped = span.to_json()
        assert CANARY not in dumped and "4471" not in dumped
        assert not REDACTED_ATTRIBUTES & set(span.attributes or {})
    routes = {span.attributes.get("http.route") for span in spans}
    assert {"/patients/{pid}", "/v2/models/{model_name}/infer"} <= routes
    assert any(s.attributes.get("http.response.status_code") == 200 for s in spans)


def test_the_preprocessors_console_spans_hold_no_url(tmp_path, capsys):
    app = preprocessor_app(PreprocessSettings(home=tmp_path, otel_exporter="console", deid_enabled=False))
    assert request(app, "GET", f"/v1/records/{CANARY}?patient={CANARY}").status == 404
    assert request(app, "GET", f"/healthz?who={CANARY}").status == 200
    app.state.tracer_provider.force_flush()
    out = capsys.readouterr().out
    spans = [json.loads(chunk) for chunk in _json_objects(out)]
    assert len(spans) >= 2 and CANARY not in out
    assert any(s["attributes"].get("http.route") == "/healthz" for s in spans)
    assert all("url.path" not in s["attributes"] and "url.query" not in s["attributes"] for s in spans)


def _json_objects(text: str) -> list[str]:
    """The console exporter prints one pretty JSON object per span."""
    out, depth, start = [], 0, None
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
            start = i if depth == 1 else start
        elif ch == "}":
            depth -= 1
            if depth == 0 and start is not None:
                out.append(text[start:i + 1])
    return out
