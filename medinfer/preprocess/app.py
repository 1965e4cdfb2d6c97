"""The preprocessor service: schema validation, normalization, de-identification."""

from __future__ import annotations

from fastapi import FastAPI

from medinfer.common.http import BodyLimitMiddleware, RequestIdMiddleware, install_problem_handlers
from medinfer.common.tracing import build_tracer_provider, fastapi_telemetry
from medinfer.preprocess.imaging.service import ImagingService
from medinfer.preprocess.routes import health, imaging, tabular
from medinfer.preprocess.settings import PreprocessSettings
from medinfer.triton.catalog import ModelCatalog
from medinfer.triton.repository import ModelRepository

__all__ = ["create_app"]


def create_app(settings: PreprocessSettings | None = None) -> FastAPI:
    settings = settings or PreprocessSettings()
    tracer = build_tracer_provider("medinfer-preprocessor", settings.otel_exporter, settings.otel_endpoint)
    app = FastAPI(title="medinfer preprocessor", version="0.1.0", docs_url=None, redoc_url=None,
                  telemetry=fastapi_telemetry(tracer))
    app.state.settings = settings
    app.state.catalog = ModelCatalog(ModelRepository(settings.repository_path()))
    app.state.tabular_schemas = {}
    app.state.imaging = ImagingService.from_settings(settings)
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(tabular.router)
    app.include_router(imaging.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
