"""The KServe v2 ``GRPCInferenceService`` on the gateway, so ``tritonclient.grpc`` works through it.

Runs in the gateway's event loop (grpc.aio). Calls are forwarded to Triton's
gRPC endpoint with the resolved model version, under the same deadline
(the client's gRPC deadline, capped by settings), retry policy and circuit
breaker rules as REST. An ``authenticate`` hook (metadata ``authorization``)
and an ``on_call`` hook (audit, metrics) are plugged in by ``create_app``.
Only inference and metadata RPCs are exposed: repository control, shared
memory, logging and trace settings stay internal to Triton. With an
``ood_gate`` (the ``InferenceService``), ``ModelInfer`` on a monitored tabular
version passes the OOD gate and drift window like ``/infer``: a reject is
INVALID_ARGUMENT naming the reason code, a flag adds response parameters
``ood``/``ood_reason``/``ood_rows`` (see :mod:`medinfer.gateway.v2_ood`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
import numpy as np
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from medinfer import __version__
from medinfer.common.errors import MedinferError
from medinfer.common.http import new_request_id, opaque_request_id
from medinfer.common.load_shedding import InFlightLimit
from medinfer.gateway.clients.triton_errors import grpc_failure
from medinfer.gateway.resilience import CircuitBreaker, Deadline, RetryPolicy, call_with_resilience
from medinfer.gateway.v2_ood import flag_grpc_response, grpc_features
from medinfer.monitoring import OodDecision

__all__ = ["GatewayGrpcService", "GrpcCall", "start_grpc_server", "STATUS_OF"]

# HTTP status of our errors -> gRPC status codes.
STATUS_OF = {
    400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND, 409: grpc.StatusCode.ABORTED, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT, 429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

_NEVER_SHED = frozenset({"ServerLive", "ServerReady"})  # health checks, like /healthz and /readyz

Authenticate = Callable[[dict[str, str], str, str], Awaitable[Any]]


@dataclass(frozen=True)
class GrpcCall:
    """What the audit hook sees of one RPC (messages are hashed there, never stored)."""

    method: str
    model: str
    request_id: str
    status: int
    latency_s: float
    principal: Any
    request: Any
    response: Any
    ood_reason: str | None = None  # the OOD gate's reason code (flagged or rejected input)


class OodGate(Protocol):
    """What ``ModelInfer`` needs of ``InferenceService`` to gate tabular inputs."""

    def monitors_tabular(self, entry: Any) -> bool: ...

    def gate_tabular(self, entry: Any, features: np.ndarray) -> OodDecision | None: ...


OnCall = Callable[[GrpcCall], Awaitable[None]]


def _client(principal: Any) -> str | None:
    """The caller's stable identity (sticky canaries); None when auth is off."""
    return getattr(principal, "rate_key", None)


class GatewayGrpcService(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(
        self, channel: grpc.aio.Channel, resolve: Callable[[str, int | None, str, str | None], Any], *,
        breaker: CircuitBreaker, policy: RetryPolicy, hop_timeout_s: float, default_timeout_s: float,
        max_timeout_s: float, authenticate: Authenticate | None = None, on_call: OnCall | None = None,
    ) -> None:
        self.stub = pb_grpc.GRPCInferenceServiceStub(channel)
        self.resolve = resolve
        self.breaker = breaker
        self.policy = policy
        self.hop_timeout_s = hop_timeout_s
        self.default_timeout_s = default_timeout_s
        self.max_timeout_s = max_timeout_s
        self.authenticate = authenticate
        self.on_call = on_call
        # Counts an inference in flight per (model, version): the registry unloads a
        # retired version only after its requests finished (set to InferenceService.track).
        self.track: Callable[[str, int], Any] = lambda model, version: nullcontext()
        self.ood_gate: OodGate | None = None  # set to the InferenceService by create_app
        self.admission: InFlightLimit | None = None  # the replica's in-flight bound, shared with HTTP

    # -- plumbing -----------------------------------------------------------
    def _deadline(self, context: grpc.aio.ServicerContext) -> Deadline:
        remaining = context.time_remaining()
        budget = self.default_timeout_s if remaining is None else min(remaining, self.max_timeout_s)
        return Deadline(max(budget, 0.001))

    async def _guard(self, method: str, request: Any, context: grpc.aio.ServicerContext,
                     body: Callable[[Any, Deadline], Awaitable[Any]], model: str = "") -> Any:
        """Authenticate, run, then write the audit record before anything is returned (fail-closed).

        Past the replica's in-flight bound the call is refused first (UNAVAILABLE with gRPC's
        ``grpc-retry-pushback-ms``), like HTTP: before authentication, and not audited."""
        admission = self.admission
        if admission is not None and method not in _NEVER_SHED:
            if not admission.try_acquire("grpc"):
                err = admission.refusal()
                context.set_trailing_metadata((("grpc-retry-pushback-ms", str(admission.retry_after_s * 1000)),
                                               ("retry-after", str(admission.retry_after_s))))
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"{err.code}: {err.detail}")
            try:
                return await self._guarded(method, request, context, body, model)
            finally:
                admission.release()
        return await self._guarded(method, request, context, body, model)

    async def _guarded(self, method: str, request: Any, context: grpc.aio.ServicerContext,
                       body: Callable[[Any, Deadline], Awaitable[Any]], model: str) -> Any:
        start = time.perf_counter()
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        rid = opaque_request_id(metadata.get("x-request-id")) or new_request_id()
        principal = None
        result = None
        error: MedinferError | None = None
        try:
            if self.authenticate is not None:
                principal = await self.authenticate(metadata, method, model)
            result = await body(principal, self._deadline(context))
        except MedinferError as err:
            error = err
        ood_reason = _ood_reason(error, result)
        if self.on_call is not None:
            call = GrpcCall(method, model, rid, error.status if error else 200, time.perf_counter() - start,
                            principal, request, result, ood_reason)
            try:
                await self.on_call(call)
            except MedinferError as err:  # the audit store failed: nothing is served without its record
                error, result = err, None
        if error is not None:
            detail = error.detail
            if error.code == "ood-rejected":  # the reason code, as the REST problem's "reason" member
                detail = f"{error.code}: {error.extra.get('reason')}: {detail}"
            await context.abort(STATUS_OF.get(error.status, grpc.StatusCode.INTERNAL), detail)
        return result

    async def _forward(self, rpc: Callable, request: Any, deadline: Deadline) -> Any:
        async def once(timeout: float) -> Any:
            try:
                return await rpc(request, timeout=timeout)
            except grpc.aio.AioRpcError as exc:
                raise grpc_failure(exc.code()) from None  # by status code only: details quote the caller's id

        return await call_with_resilience(once, breaker=self.breaker, deadline=deadline,
                                          hop_timeout_s=self.hop_timeout_s, policy=self.policy)

    def _versioned(self, name: str, version: str, principal: Any, rid: str = "") -> tuple[str, str]:
        entry, _tag = self.resolve(name, int(version) if version.isdigit() else None, rid, _client(principal))
        return entry.name, str(entry.version)

    # -- RPCs -------------------------------------------------------------------
    async def ServerLive(self, request, context):  # noqa: N802 - protocol names
        async def body(principal, deadline):
            return pb.ServerLiveResponse(live=True)
        return await self._guard("ServerLive", request, context, body)

    async def ServerReady(self, request, context):  # noqa: N802
        async def body(principal, deadline):
            return await self._forward(self.stub.ServerReady, request, deadline)
        return await self._guard("ServerReady", request, context, body)

    async def ServerMetadata(self, request, context):  # noqa: N802
        async def body(principal, deadline):
            return pb.ServerMetadataResponse(name="medinfer", version=__version__, extensions=["binary_tensor_data"])
        return await self._guard("ServerMetadata", request, context, body)

    async def _model_read(self, method: str, rpc: Callable, message: type, request: Any,
                          context: grpc.aio.ServicerContext) -> Any:
        """ModelReady/ModelMetadata/ModelConfig: resolve the version, forward the same request to Triton."""
        async def body(principal, deadline):
            name, version = self._versioned(request.name, request.version, principal)
            return await self._forward(rpc, message(name=name, version=version), deadline)
        return await self._guard(method, request, context, body, request.name)

    async def ModelReady(self, request, context):  # noqa: N802
        return await self._model_read("ModelReady", self.stub.ModelReady, pb.ModelReadyRequest, request, context)

    async def ModelMetadata(self, request, context):  # noqa: N802
        return await self._model_read("ModelMetadata", self.stub.ModelMetadata, pb.ModelMetadataRequest, request,
                                      context)

    async def ModelConfig(self, request, context):  # noqa: N802
        return await self._model_read("ModelConfig", self.stub.ModelConfig, pb.ModelConfigRequest, request, context)

    async def ModelInfer(self, request, context):  # noqa: N802
        async def body(principal, deadline):
            v = request.model_version
            entry, _tag = self.resolve(request.model_name, int(v) if v.isdigit() else None, request.id,
                                       _client(principal))
            ood = self._gate(entry, request)
            request.model_name, request.model_version = entry.name, str(entry.version)
            with self.track(entry.name, entry.version):
                response = await self._forward(self.stub.ModelInfer, request, deadline)
            return flag_grpc_response(response, ood) if ood is not None and ood.ood else response
        return await self._guard("ModelInfer", request, context, body, request.model_name)

    def _gate(self, entry: Any, request: Any) -> OodDecision | None:
        """Gate a monitored tabular version's input (raises ``OodRejected``); others are not decoded."""
        gate = self.ood_gate
        if gate is None or not gate.monitors_tabular(entry):
            return None
        features = grpc_features(entry, request)
        return None if features is None else gate.gate_tabular(entry, features)


def _ood_reason(error: MedinferError | None, result: Any) -> str | None:
    if error is not None:
        return error.extra.get("reason") if error.code == "ood-rejected" else None
    params = getattr(result, "parameters", None)
    if params is not None and "ood_reason" in params:
        return params["ood_reason"].string_param
    return None


async def start_grpc_server(service: GatewayGrpcService, host: str, port: int,
                            credentials: grpc.ServerCredentials | None) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024),
                                      ("grpc.max_send_message_length", 64 * 1024 * 1024)])
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(service, server)
    address = f"{host}:{port}"
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    await server.start()
    return server, bound
