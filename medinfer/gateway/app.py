"""The gateway: the only public entry to medinfer."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from medinfer.audit import AuditMiddleware
from medinfer.common.http import BodyLimitMiddleware, RequestIdMiddleware, install_problem_handlers
from medinfer.gateway.clients.preprocessor import PreprocessorClient
from medinfer.gateway.clients.triton import TritonClient
from medinfer.gateway.clients.upstream import make_session
from medinfer.gateway.inference import InferenceService
from medinfer.gateway.routes import health, infer
from medinfer.gateway.settings import GatewaySettings
from medinfer.security import SecurityHeadersMiddleware, build_security
from medinfer.triton.catalog import ModelCatalog
from medinfer.triton.repository import ModelRepository

__all__ = ["create_app"]


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    catalog = ModelCatalog(ModelRepository(settings.repository_path()))
    security = build_security(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        triton_session = make_session(settings.triton_url, connections=settings.upstream_connections,
                                      timeout_s=settings.upstream_timeout_s, ca_file=settings.triton_ca_file)
        client_cert = None
        if settings.preprocessor_client_cert_file and settings.preprocessor_client_key_file:
            client_cert = (settings.preprocessor_client_cert_file, settings.preprocessor_client_key_file)
        pre_session = make_session(settings.preprocessor_url, connections=settings.upstream_connections,
                                   timeout_s=settings.upstream_timeout_s, ca_file=settings.preprocessor_ca_file,
                                   client_cert=client_cert)
        app.state.inference = InferenceService(
            catalog, TritonClient(triton_session), PreprocessorClient(pre_session),
            default_models=settings.default_models, tabular_normalizer=settings.tabular_normalizer,
        )
        try:
            yield
        finally:
            await triton_session.close()
            await pre_session.close()
            await security.aclose()

    app = FastAPI(title="medinfer gateway", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.security = security
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(infer.router)
    # Outermost last: request id -> security headers -> audit (records 413s too) -> body limit -> routes.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if security.ledger is not None:
        app.add_middleware(AuditMiddleware, ledger=security.ledger)
    app.add_middleware(SecurityHeadersMiddleware, hsts_max_age=settings.hsts_max_age)
    app.add_middleware(RequestIdMiddleware)
    return app
