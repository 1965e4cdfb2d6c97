"""The preprocessor service: schema validation, normalization, de-identification."""

from __future__ import annotations

from fastapi import FastAPI

from medinfer.common.edge import EdgeMiddleware
from medinfer.common.http import install_problem_handlers
from medinfer.common.ops import ops_app
from medinfer.common.tracing import build_tracer_provider, fastapi_telemetry
from medinfer.preprocess.deid import DeidEngine
from medinfer.preprocess.imaging.service import ImagingService
from medinfer.preprocess.metrics import PreprocessMetrics
from medinfer.preprocess.routes import deid, health, imaging, metrics, tabular
from medinfer.preprocess.settings import PreprocessSettings
from medinfer.triton.catalog import ModelCatalog
from medinfer.triton.repository import ModelRepository

__all__ = ["create_app", "build_deid_engine"]


def build_deid_engine(settings: PreprocessSettings) -> DeidEngine:
    """Loads spaCy and the recognizers once per process (a few seconds); routes share the engine."""
    return DeidEngine(settings.deid_secret_bytes(), max_chars=settings.deid_max_chars,
                      min_score=settings.deid_min_score, max_shift_days=settings.deid_max_shift_days,
                      max_batch_items=settings.deid_max_batch)


def create_app(settings: PreprocessSettings | None = None, metrics_registry=None) -> FastAPI:
    settings = settings or PreprocessSettings()
    tracer = build_tracer_provider("medinfer-preprocessor", settings.otel_exporter, settings.otel_endpoint)
    app = FastAPI(title="medinfer preprocessor", version="0.1.0", docs_url=None, redoc_url=None,
                  telemetry=fastapi_telemetry(tracer))
    app.state.settings = settings
    app.state.tracer_provider = tracer
    app.state.catalog = ModelCatalog(ModelRepository(settings.repository_path()))
    app.state.tabular_schemas = {}
    app.state.metrics = PreprocessMetrics(metrics_registry)
    app.state.imaging = ImagingService.from_settings(settings)
    app.state.deid = build_deid_engine(settings) if settings.deid_enabled else None
    install_problem_handlers(app)
    app.include_router(health.router)
    app.state.ops_app = ops_app(app, [health.router, metrics.router], title="medinfer preprocessor operations")
    app.include_router(tabular.router)
    app.include_router(imaging.router)
    app.include_router(deid.router)
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes, on_done=app.state.metrics.request_done,
                       in_flight=app.state.metrics.in_flight)
    return app
