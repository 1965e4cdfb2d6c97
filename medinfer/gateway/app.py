"""The gateway: the only public entry to medinfer."""

from __future__ import annotations

import asyncio
import datetime
import gc
from collections.abc import Callable
from contextlib import asynccontextmanager

import grpc
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from medinfer.audit import AuditEvent, AuditRecorder
from medinfer.audit.registry_sink import LedgerRegistrySink
from medinfer.common.edge import EdgeMiddleware
from medinfer.common.http import install_problem_handlers, opaque_request_id
from medinfer.common.load_shedding import InFlightLimit
from medinfer.common.ops import ops_app
from medinfer.common.tracing import build_tracer_provider, fastapi_telemetry
from medinfer.console import mount_console
from medinfer.gateway.clients.preprocessor import PreprocessorClient
from medinfer.gateway.clients.triton import TritonClient
from medinfer.gateway.clients.upstream import Upstream, make_session
from medinfer.gateway.dataplane import DataPlane
from medinfer.gateway.inference import InferenceService
from medinfer.gateway.grpc_service import UNSERVED, GatewayGrpcService, GrpcCall, start_grpc_server
from medinfer.gateway.metrics import GatewayMetrics
from medinfer.gateway.monitoring import build_drift_monitor, sync_drift_monitor
from medinfer.gateway.resilience import CircuitBreaker, RetryPolicy
from medinfer.gateway.routes import admin_models, audit, drift, fhir, health, infer, metrics, v2
from medinfer.gateway.settings import GatewaySettings
from medinfer.gateway.shadow import ShadowMirror
from medinfer.gateway.v2_validation import TensorLimits
from medinfer.security import (
    Principal,
    SecurityService,
    build_security,
    require_infer,
    require_scope,
    require_some_infer,
    security_headers,
)
from medinfer.security.deps import CurrentPrincipal
from medinfer.registry.bootstrap import adopt_repository
from medinfer.registry.runtime import RegistryRuntime, build_runtime
from medinfer.registry.settings import RegistrySettings
from medinfer.triton.catalog import ModelCatalog
from medinfer.triton.repository import ModelRepository

__all__ = ["create_app"]


# Probes and scrapes are answered however busy the replica is (see medinfer.common.load_shedding).
# (/metrics is not on this app at all: the operations listener, medinfer.common.ops, has no edge layer.)
_NEVER_SHED = frozenset({"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"})


def _registry_runtime(settings: GatewaySettings, before_swap: Callable[[], None],
                      gm: GatewayMetrics) -> RegistryRuntime:
    """Routing by release tags: the registry shares the gateway's home and repository, its
    per-version series go to the gateway's /metrics, and the catalog rereads version
    metadata before a new routing snapshot takes effect."""
    reg_settings = RegistrySettings(home=settings.home, repository=settings.repository_path(),
                                    triton_url=settings.triton_url, triton_ca_file=settings.triton_ca_file)
    # Triton endpoints: MEDINFER_REGISTRY_TRITON_ENDPOINTS(_DNS), else triton_url alone (docs/registry.md).
    return build_runtime(reg_settings, metrics_registry=gm.registry, before_swap=before_swap)


def _scope_dependency(scope: str):
    async def check(principal: CurrentPrincipal) -> Principal:
        require_scope(principal, scope)
        return principal

    return check


def _start_registry(rt: RegistryRuntime) -> None:
    # Versions built into the repository by `medinfer up` become registered and current
    # through recorded, audited operations (idempotent).
    adopt_repository(rt.registry, actor="gateway-startup", reason="shipped model in the repository")
    rt.start()


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


def _grpc_hooks(security: SecurityService, catalog: ModelCatalog):
    """Authentication (metadata ``authorization``) and audit for the gRPC service, same rules as REST."""

    async def authenticate(metadata: dict[str, str], method: str, model: str) -> Principal:
        principal = await security.authenticate(metadata.get("authorization"))
        security.check_rate(principal)
        if method in UNSERVED or method == "<unknown>":
            return principal  # answered UNIMPLEMENTED (and audited) whatever the caller's rights
        if method == "ModelInfer":
            require_some_infer(principal)
            require_infer(principal, model)
        elif method.startswith("Model") and not principal.has("models:read"):
            require_some_infer(principal)
            if model:  # an empty name is "every model" (ModelStatistics), filtered by rights
                require_infer(principal, model)
        return principal

    async def record(call: GrpcCall) -> None:
        ledger = security.ledger
        if ledger is None:
            return
        route = f"/inference.GRPCInferenceService/{call.method}"
        # gRPC calls carry no peer address here: their failed authentications aggregate under one source
        if (security.failures is not None and call.principal is None and call.status in (401, 429)
                and not security.failures.admit("grpc", opaque_request_id(call.request_id) or "", route, call.status)):
            return
        in_h = ledger.key.content_hasher()
        in_h.update(call.request.SerializeToString())
        out_digest = None
        if call.response is not None:
            out_h = ledger.key.content_hasher()
            out_h.update(call.response.SerializeToString())
            out_digest = out_h.hexdigest()
        version = getattr(call.response, "model_version", None) or None
        await ledger.append(AuditEvent(
            action=f"grpc {call.method}", route=route, status=call.status,
            # Caller-chosen strings (request id, a model name that may not exist) are recorded only when safe.
            request_id=opaque_request_id(call.request_id) or "", sub=getattr(call.principal, "sub", None),
            client_id=getattr(call.principal, "client_id", None),
            model=call.model if call.model in catalog.names() else None, version=version,
            latency_us=int(call.latency_s * 1e6), input_digest=in_h.hexdigest(), output_digest=out_digest,
            ood_reason=call.ood_reason,
        ))

    return authenticate, record


async def _start_grpc(settings: GatewaySettings, service: InferenceService, dataplane: DataPlane,
                      gm: GatewayMetrics, security: SecurityService, admission: InFlightLimit):
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
    grpc_service.authenticate, grpc_service.on_call = _grpc_hooks(security, service.catalog)
    grpc_service.track = service.track
    grpc_service.admission = admission  # one in-flight bound for HTTP and gRPC
    grpc_service.dataplane = dataplane  # validation and the per-kind pipeline, as on REST /v2
    grpc_service.may_read = lambda p, model: (model in service.catalog.names()
                                              and (p.has("models:read") or p.may_infer(model)))
    server_creds = None
    if not settings.insecure_http:
        cert, key = settings.tls_paths()
        server_creds = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    server, _ = await start_grpc_server(grpc_service, settings.host, settings.grpc_port, server_creds,
                                        max_message_bytes=settings.max_body_bytes)
    return server, channel, grpc_service


def create_app(settings: GatewaySettings | None = None, metrics_registry=None) -> FastAPI:
    settings = settings or GatewaySettings()
    catalog = ModelCatalog(ModelRepository(settings.repository_path()))
    gm = GatewayMetrics(metrics_registry)
    admission = InFlightLimit(settings.max_in_flight, exempt_paths=_NEVER_SHED, on_shed=gm.count_shed)
    security = build_security(settings)
    if security.ledger is not None:
        security.ledger.observe_write = gm.audit_write.observe
        security.ledger.count_failure = gm.audit_failures.inc
    # drift and OOD metrics share the gateway's registry, so GET /metrics (operations port) serves them too
    monitor = build_drift_monitor(settings, catalog, gm.registry) if settings.drift_enabled else None

    def refresh_catalog() -> None:
        """Before a new routing snapshot: reread version metadata, then monitor new versions."""
        catalog.refresh()
        if monitor is not None:
            sync_drift_monitor(monitor, settings, catalog)

    rt = _registry_runtime(settings, refresh_catalog, gm) if settings.registry_routing else None

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
        triton_upstream = _upstream("triton", triton_session, settings, gm)
        if rt is not None and rt.pool is not None:
            # REST inference goes to one of the servers that serve every routed version (reconcile.py).
            triton_upstream.endpoint, triton_upstream.on_unreachable = rt.pool.pick, rt.pool.mark_down
        app.state.inference = InferenceService(
            catalog,
            TritonClient(triton_upstream),
            PreprocessorClient(_upstream("preprocessor", pre_session, settings, gm)),
            default_models=settings.default_models, tabular_normalizer=settings.tabular_normalizer,
            versions=rt.table if rt else None, track=rt.metrics.track if rt else None, monitor=monitor,
            text_operator=settings.text_deid_operator,
        )
        app.state.dataplane = DataPlane(app.state.inference, TensorLimits(
            max_tensor_bytes=settings.max_tensor_bytes, max_string_bytes=settings.json_max_string_len))
        if rt is not None:
            # Shadow traffic: its own breaker and no retries, so a failing candidate never touches real traffic.
            shadow_upstream = Upstream("triton-shadow", triton_session, hop_timeout_s=settings.upstream_timeout_s,
                                       policy=RetryPolicy(1), breaker=_breaker("triton-shadow", settings, gm))
            if rt.pool is not None:
                shadow_upstream.endpoint, shadow_upstream.on_unreachable = rt.pool.pick, rt.pool.mark_down
            app.state.inference.shadow = ShadowMirror(rt.table, TritonClient(shadow_upstream), rt.tracker,
                                                      registry=gm.registry, ledger=security.ledger)
            if security.ledger is not None:
                rt.registry.audit = LedgerRegistrySink(security.ledger, asyncio.get_running_loop())
            await run_in_threadpool(_start_registry, rt)
        grpc_server = grpc_channel = None
        if settings.grpc_port:
            grpc_server, grpc_channel, app.state.grpc_service = await _start_grpc(
                settings, app.state.inference, app.state.dataplane, gm, security, admission)
        if monitor is not None:
            monitor.start()
        # Everything built so far lives as long as the process: move it out of the collector's reach, so the
        # full collections that request garbage triggers stop rescanning it (-5 to -13% CPU per request and
        # a lower p99 at c=32 in bench/profile_gateway.py A/B runs).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if monitor is not None:
                await monitor.stop()
            if grpc_server is not None:
                await grpc_server.stop(grace=5)
                await grpc_channel.close()
            if getattr(app.state.inference, "shadow", None) is not None:
                await app.state.inference.shadow.aclose()
            await triton_session.close()
            await pre_session.close()
            if rt is not None:
                # Off the loop and before the ledger closes: an outbox delivery in flight in the refresher's
                # thread waits on this loop for its ledger append, and still has somewhere to go.
                await asyncio.to_thread(rt.stop)
            await security.aclose()

    tracer = build_tracer_provider("medinfer-gateway", settings.otel_exporter, settings.otel_endpoint)
    app = FastAPI(title="medinfer gateway", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  telemetry=fastapi_telemetry(tracer))
    app.state.settings = settings
    app.state.tracer_provider = tracer
    app.state.started_at = datetime.datetime.now(datetime.timezone.utc)
    app.state.catalog = catalog
    app.state.metrics = gm
    app.state.security = security
    if rt is not None:
        app.state.registry = rt.registry
        app.state.registry_runtime = rt
    app.state.drift_monitor = monitor
    install_problem_handlers(app)
    # Routes are matched in order: the inference routes first, they carry the traffic.
    app.router.routes.extend([*infer.routes, *v2.infer_routes])
    app.include_router(v2.router)
    app.include_router(fhir.router)
    app.include_router(health.router)
    # /metrics only on the operations port (it names models and versions): medinfer.common.ops
    app.state.ops_app = ops_app(app, [health.router, metrics.router], title="medinfer gateway operations")
    app.include_router(drift.router)
    app.include_router(audit.router)
    if rt is not None:
        app.include_router(admin_models.create_router(read=_scope_dependency("models:read"),
                                                      write=_scope_dependency("models:write")))
    if settings.console_on:
        mount_console(app, settings, security, gm.registry)  # /console: docs/console.md
    # One edge layer: request id, security headers, body limit (413s are audited too), metrics, audit record.
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes, on_done=gm.request_done,
                       in_flight=gm.in_flight, https_headers=security_headers(settings.hsts_max_age),
                       http_headers=security_headers(None),
                       recorder=AuditRecorder(security.ledger, failures=security.failures)
                       if security.ledger is not None else None,
                       error_renderers={fhir.FHIR_PREFIX: fhir.outcome_response, "/v2": v2.problem_response},
                       admission=admission)
    return app
