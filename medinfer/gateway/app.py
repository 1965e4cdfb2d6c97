"""The gateway: the only public entry to medinfer."""

from __future__ import annotations

from contextlib import asynccontextmanager

import grpc
from fastapi import FastAPI

from medinfer.audit import AuditMiddleware
from medinfer.common.http import BodyLimitMiddleware, RequestIdMiddleware, install_problem_handlers
from medinfer.common.tracing import build_tracer_provider, fastapi_telemetry
from medinfer.gateway.clients.preprocessor import PreprocessorClient
from medinfer.gateway.clients.triton import TritonClient
from medinfer.gateway.clients.upstream import Upstream, make_session
from medinfer.gateway.inference import InferenceService
from medinfer.gateway.grpc_service import GatewayGrpcService, start_grpc_server
from medinfer.gateway.metrics import GatewayMetrics, MetricsMiddleware
from medinfer.gateway.resilience import CircuitBreaker, RetryPolicy
from medinfer.gateway.routes import health, infer, metrics, v2
from medinfer.gateway.settings import GatewaySettings
from medinfer.security import SecurityHeadersMiddleware, build_security
from medinfer.security.grpc_hooks import grpc_hooks
from medinfer.triton.catalog import ModelCatalog
from medinfer.triton.repository import ModelRepository

__all__ = ["create_app"]


def _breaker(name: str, settings: GatewaySettings, gm: GatewayMetrics) -> CircuitBreaker:
    gm.circuit.labels(name).set(0)
    return CircuitBreaker(
        name, failure_threshold=settings.breaker_failure_threshold, error_rate_threshold=settings.breaker_error_rate,
        window=settings.breaker_window, min_calls=settings.breaker_min_calls,
        reset_timeout_s=settings.breaker_reset_timeout_s, on_change=gm.circuit_changed,
    )


def _policy(settings: GatewaySettings) -> RetryPolicy:
    return RetryPolicy(settings.retry_attempts, settings.retry_initial_backoff_s, settings.retry_max_backoff_s)


def _upstream(name: str, session, settings: GatewaySettings, gm: GatewayMetrics) -> Upstream:
    return Upstream(name, session, hop_timeout_s=settings.upstream_timeout_s, policy=_policy(settings),
                    breaker=_breaker(name, settings, gm), on_retry=gm.count_retry, observe=gm.observe_upstream,
                    trace=settings.otel_exporter != "none")


async def _start_grpc(settings: GatewaySettings, service: InferenceService, gm: GatewayMetrics, security,
                      catalog: ModelCatalog):
    if settings.triton_grpc_ca_file:
        creds = grpc.ssl_channel_credentials(settings.triton_grpc_ca_file.read_bytes())
        channel = grpc.aio.secure_channel(settings.triton_grpc_target, creds)
    else:
        channel = grpc.aio.insecure_channel(settings.triton_grpc_target)
    grpc_service = GatewayGrpcService(
        channel, service.resolve_named, breaker=_breaker("triton-grpc", settings, gm), policy=_policy(settings),
        hop_timeout_s=settings.upstream_timeout_s, default_timeout_s=settings.request_timeout_s,
        max_timeout_s=settings.max_request_timeout_s,
    )
    grpc_service.authenticate, grpc_service.on_call = grpc_hooks(security, lambda m: m in catalog.names())
    server_creds = None
    if not settings.insecure_http:
        cert, key = settings.tls_paths()
        server_creds = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    server, _ = await start_grpc_server(grpc_service, settings.host, settings.grpc_port, server_creds)
    return server, channel, grpc_service


def create_app(settings: GatewaySettings | None = None, metrics_registry=None) -> FastAPI:
    settings = settings or GatewaySettings()
    catalog = ModelCatalog(ModelRepository(settings.repository_path()))
    security = build_security(settings)
    gm = GatewayMetrics(metrics_registry)

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
            catalog,
            TritonClient(_upstream("triton", triton_session, settings, gm)),
            PreprocessorClient(_upstream("preprocessor", pre_session, settings, gm)),
            default_models=settings.default_models, tabular_normalizer=settings.tabular_normalizer,
        )
        grpc_server = grpc_channel = None
        if settings.grpc_port:
            grpc_server, grpc_channel, app.state.grpc_service = await _start_grpc(settings, app.state.inference, gm,
                                                                            security, catalog)
        try:
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=5)
                await grpc_channel.close()
            await triton_session.close()
            await pre_session.close()
            await security.aclose()

    tracer = build_tracer_provider("medinfer-gateway", settings.otel_exporter, settings.otel_endpoint)
    app = FastAPI(title="medinfer gateway", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  telemetry=fastapi_telemetry(tracer))
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.security = security
    app.state.metrics = gm
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(infer.router)
    app.include_router(v2.router)
    app.add_middleware(MetricsMiddleware, metrics=gm)
    # Outermost last: request id -> security headers -> audit (records 413s too) -> body limit -> metrics -> routes.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if security.ledger is not None:
        app.add_middleware(AuditMiddleware, ledger=security.ledger)
    app.add_middleware(SecurityHeadersMiddleware, hsts_max_age=settings.hsts_max_age)
    app.add_middleware(RequestIdMiddleware)
    return app
