"""The KServe v2 ``GRPCInferenceService`` on the gateway, so ``tritonclient.grpc`` works through it.

Runs in the gateway's event loop (grpc.aio). Calls are forwarded to Triton's
gRPC endpoint with the resolved model version, under the same deadline
(the client's gRPC deadline, capped by settings), retry policy and circuit
breaker rules as REST. An ``authenticate`` hook (metadata ``authorization``)
and an ``on_call`` hook (audit, metrics) are plugged in by ``create_app``.
Only inference and metadata RPCs are exposed: repository control, shared
memory, logging and trace settings stay internal to Triton.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from medinfer import __version__
from medinfer.common.errors import MedinferError
from medinfer.gateway.resilience import CircuitBreaker, Deadline, RetryableUpstreamError, RetryPolicy, call_with_resilience

__all__ = ["GatewayGrpcService", "start_grpc_server", "STATUS_OF"]

# HTTP status of our errors -> gRPC status codes.
STATUS_OF = {
    400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND, 409: grpc.StatusCode.ABORTED, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT, 429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE}

Authenticate = Callable[[dict[str, str], str, str], Awaitable[Any]]
OnCall = Callable[[str, str, str, int, float, Any], Awaitable[None]]


class GatewayGrpcService(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(
        self, channel: grpc.aio.Channel, resolve: Callable[[str, int | None, str], Any], *,
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

    # -- plumbing -----------------------------------------------------------
    def _deadline(self, context: grpc.aio.ServicerContext) -> Deadline:
        remaining = context.time_remaining()
        budget = self.default_timeout_s if remaining is None else min(remaining, self.max_timeout_s)
        return Deadline(max(budget, 0.001))

    async def _guard(self, method: str, request: Any, context: grpc.aio.ServicerContext,
                     body: Callable[[Any, Deadline], Awaitable[Any]], model: str = "") -> Any:
        start = time.perf_counter()
        metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        rid = metadata.get("x-request-id") or f"grpc-{time.time_ns():x}"
        principal = None
        try:
            if self.authenticate is not None:
                principal = await self.authenticate(metadata, method, model)
            result = await body(principal, self._deadline(context))
        except MedinferError as err:
            # Record first: abort() ends the call, and nothing leaves without its audit record.
            await self._record(context, method, model, rid, err.status, start, principal)
            await context.abort(STATUS_OF.get(err.status, grpc.StatusCode.INTERNAL), err.detail)
        except Exception as exc:  # noqa: BLE001 - type only: the message may quote input
            if isinstance(exc, grpc.aio.AbortError):
                raise
            await self._record(context, method, model, rid, 500, start, principal)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the gateway log by request id")
        await self._record(context, method, model, rid, 200, start, principal)
        return result

    async def _record(self, context, method: str, model: str, rid: str, status: int, start: float,
                      principal: Any) -> None:
        if self.on_call is None:
            return
        try:
            await self.on_call(method, model, rid, status, time.perf_counter() - start, principal)
        except MedinferError as err:  # the audit record could not be written: fail closed
            await context.abort(STATUS_OF.get(err.status, grpc.StatusCode.INTERNAL), err.detail)

    async def _forward(self, rpc: Callable, request: Any, deadline: Deadline) -> Any:
        async def once(timeout: float) -> Any:
            try:
                return await rpc(request, timeout=timeout)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in _RETRYABLE:
                    raise RetryableUpstreamError("triton", exc.code().name) from None
                raise _from_grpc(exc) from None

        return await call_with_resilience(once, breaker=self.breaker, deadline=deadline,
                                          hop_timeout_s=self.hop_timeout_s, policy=self.policy)

    def _versioned(self, name: str, version: str, rid: str = "") -> tuple[str, str]:
        entry, _tag = self.resolve(name, int(version) if version.isdigit() else None, rid)
        return entry.name, str(entry.version)

    # -- RPCs -------------------------------------------------------------------
    async def ServerLive(self, request, context):  # noqa: N802 - protocol names
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):  # noqa: N802
        async def body(principal, deadline):
            return await self._forward(self.stub.ServerReady, request, deadline)
        return await self._guard("ServerReady", request, context, body)

    async def ServerMetadata(self, request, context):  # noqa: N802
        return pb.ServerMetadataResponse(name="medinfer", version=__version__, extensions=["binary_tensor_data"])

    async def ModelReady(self, request, context):  # noqa: N802
        async def body(principal, deadline):
            name, version = self._versioned(request.name, request.version)
            return await self._forward(self.stub.ModelReady, pb.ModelReadyRequest(name=name, version=version), deadline)
        return await self._guard("ModelReady", request, context, body, request.name)

    async def ModelMetadata(self, request, context):  # noqa: N802
        async def body(principal, deadline):
            name, version = self._versioned(request.name, request.version)
            return await self._forward(self.stub.ModelMetadata, pb.ModelMetadataRequest(name=name, version=version),
                                       deadline)
        return await self._guard("ModelMetadata", request, context, body, request.name)

    async def ModelConfig(self, request, context):  # noqa: N802
        async def body(principal, deadline):
            name, version = self._versioned(request.name, request.version)
            return await self._forward(self.stub.ModelConfig, pb.ModelConfigRequest(name=name, version=version),
                                       deadline)
        return await self._guard("ModelConfig", request, context, body, request.name)

    async def ModelInfer(self, request, context):  # noqa: N802
        async def body(principal, deadline):
            name, version = self._versioned(request.model_name, request.model_version, request.id)
            request.model_name, request.model_version = name, version
            return await self._forward(self.stub.ModelInfer, request, deadline)
        return await self._guard("ModelInfer", request, context, body, request.model_name)


def _from_grpc(exc: grpc.aio.AioRpcError) -> MedinferError:
    from medinfer.common.errors import BackendUnavailable, DeadlineExceeded, ValidationFailed

    code = exc.code()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded("Triton did not answer within the deadline")
    if code in (grpc.StatusCode.INVALID_ARGUMENT,):
        details = (exc.details() or "").lower()
        if "unavailable" in details or "not found" in details or "unknown model" in details:
            return BackendUnavailable("the model is not loaded in Triton", retry_after=2, code="model-unavailable")
        return ValidationFailed("Triton rejected the inputs for this model", code="triton-rejected")
    if code == grpc.StatusCode.NOT_FOUND:
        return BackendUnavailable("the model is not loaded in Triton", retry_after=2, code="model-unavailable")
    return BackendUnavailable("Triton is unavailable", retry_after=2)


async def start_grpc_server(service: GatewayGrpcService, host: str, port: int,
                            credentials: grpc.ServerCredentials | None) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024),
                                      ("grpc.max_send_message_length", 64 * 1024 * 1024)])
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(service, server)
    address = f"{host}:{port}"
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    await server.start()
    return server, bound
