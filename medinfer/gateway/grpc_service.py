"""The KServe v2 ``GRPCInferenceService`` on the gateway, so ``tritonclient.grpc`` works through it.

Runs in the gateway's event loop (grpc.aio). Calls are forwarded to Triton's
gRPC endpoint with the resolved model version, under the same deadline
(the client's gRPC deadline, capped by settings), retry policy and circuit
breaker rules as REST. An ``authenticate`` hook (metadata ``authorization``)
and an ``on_call`` hook (audit, metrics) are plugged in by ``create_app``.
Only inference and metadata RPCs are exposed: repository control, shared
memory, logging and trace settings stay internal to Triton (UNIMPLEMENTED,
audited like every other call, as is a call to a method the service does not
have). ``ModelInfer`` passes the data plane (``dataplane``, set by
``create_app``; :mod:`medinfer.gateway.dataplane`): the request is checked
against the model's signature, text is de-identified before Triton sees it,
image models are refused in favour of ``POST /infer``, and monitored versions
pass the OOD gate and drift window like ``/infer`` (a reject is
INVALID_ARGUMENT naming the reason code, a flag adds response parameters
``ood``/``ood_reason``/``ood_rows``, see :mod:`medinfer.gateway.v2_ood`).
Every call leaves exactly one audit record through ``on_call``, whatever its
outcome, an unexpected error included (INTERNAL, no detail).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from medinfer import __version__
from medinfer.common.errors import MedinferError, ModelNotFound
from medinfer.common.http import new_request_id, opaque_request_id
from medinfer.common.load_shedding import InFlightLimit
from medinfer.common.v2 import EXTENSIONS, V2Tensor, parse_version
from medinfer.gateway.clients.triton_errors import grpc_failure
from medinfer.gateway.dataplane import DataPlane, rewrite_grpc_texts
from medinfer.gateway.resilience import CircuitBreaker, Deadline, RetryPolicy, call_with_resilience
from medinfer.gateway.v2_ood import flag_grpc_response, grpc_features
from medinfer.gateway.v2_validation import grpc_views

__all__ = ["GatewayGrpcService", "GrpcCall", "start_grpc_server", "STATUS_OF", "UNSERVED"]

log = logging.getLogger("medinfer.gateway")

# HTTP status of our errors -> gRPC status codes.
STATUS_OF = {
    400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND, 409: grpc.StatusCode.ABORTED, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT, 429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT, 500: grpc.StatusCode.INTERNAL, 501: grpc.StatusCode.UNIMPLEMENTED,
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


class _ClientClosed(MedinferError):
    status, code, title = 499, "client-closed", "Client closed the call"


class _Unimplemented(MedinferError):
    status, code, title = 501, "unimplemented", "Not served by the gateway"


#: Methods of the v2 gRPC service the gateway does not serve: repository control, shared memory, trace and log
#: settings stay internal to Triton; streaming inference is not offered (use ModelInfer).
UNSERVED = ("ModelStreamInfer", "RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload",
            "SystemSharedMemoryStatus", "SystemSharedMemoryRegister", "SystemSharedMemoryUnregister",
            "CudaSharedMemoryStatus", "CudaSharedMemoryRegister", "CudaSharedMemoryUnregister",
            "TraceSetting", "LogSettings")


class _RawMessage(bytes):
    """An undecoded request (a method the service does not have), hashed into the audit record as received."""

    def SerializeToString(self) -> bytes:  # noqa: N802 - the protobuf method name the audit hook calls
        return bytes(self)


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
        self.admission: InFlightLimit | None = None  # the replica's in-flight bound, shared with HTTP
        self.dataplane: DataPlane | None = None  # set by create_app; ModelInfer refuses to forward without it
        self.may_read: Callable[[Any, str], bool] = lambda principal, model: True  # statistics filter

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
        cancelled = False
        try:
            if self.authenticate is not None:
                principal = await self.authenticate(metadata, method, model)
            result = await body(principal, self._deadline(context))
        except MedinferError as err:
            error = err
        except asyncio.CancelledError:  # the client cancelled or its deadline passed: recorded, then re-raised
            cancelled = True
            error, result = _ClientClosed("the client cancelled the call"), None
        except Exception as exc:  # noqa: BLE001 - audited and answered INTERNAL; type only (it may quote input)
            log.error("grpc call failed", extra={"event": "unhandled", "code": type(exc).__name__,
                                                 "request_id": rid})
            error, result = MedinferError("internal error; see the service log by request id"), None
        ood_reason = _ood_reason(error, result)
        if self.on_call is not None:
            call = GrpcCall(method, model, rid, error.status if error else 200, time.perf_counter() - start,
                            principal, request, result, ood_reason)
            try:
                await self.on_call(call)
            except MedinferError as err:  # the audit store failed: nothing is served without its record
                error, result = err, None
        if cancelled:
            raise asyncio.CancelledError
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
        entry, _tag = self.resolve(name, parse_version(version), rid, _client(principal))
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
            return pb.ServerMetadataResponse(name="medinfer", version=__version__, extensions=list(EXTENSIONS))
        return await self._guard("ServerMetadata", request, context, body)

    async def _model_read(self, method: str, rpc: Callable, message: type, request: Any,
                          context: grpc.aio.ServicerContext) -> Any:
        """ModelReady/ModelMetadata/ModelConfig: resolve the version, forward the same request to Triton."""
        async def body(principal, deadline):
            name, version = self._versioned(request.name, request.version, principal)
            return await self._forward(rpc, message(name=name, version=version), deadline)
        return await self._guard(method, request, context, body, request.name)

    async def ModelReady(self, request, context):  # noqa: N802
        """As Triton: OK with ``ready=false`` for a model or version that is not there (an invalid version
        string is INVALID_ARGUMENT)."""
        async def body(principal, deadline):
            parse_version(request.version)  # INVALID_ARGUMENT before "not found"
            try:
                name, v = self._versioned(request.name, request.version, principal)
            except ModelNotFound:
                return pb.ModelReadyResponse(ready=False)
            return await self._forward(self.stub.ModelReady, pb.ModelReadyRequest(name=name, version=v), deadline)
        return await self._guard("ModelReady", request, context, body, request.name)

    async def ModelStatistics(self, request, context):  # noqa: N802
        """One model's statistics (resolved version), or every model the caller may read (empty name)."""
        async def body(principal, deadline):
            if request.name:
                name, version = self._versioned(request.name, request.version, principal)
                return await self._forward(self.stub.ModelStatistics,
                                           pb.ModelStatisticsRequest(name=name, version=version), deadline)
            parse_version(request.version)
            response = await self._forward(self.stub.ModelStatistics, pb.ModelStatisticsRequest(), deadline)
            kept = [m for m in response.model_stats if self.may_read(principal, m.name)]
            del response.model_stats[:]
            response.model_stats.extend(kept)
            return response
        return await self._guard("ModelStatistics", request, context, body, request.name)

    async def ModelMetadata(self, request, context):  # noqa: N802
        return await self._model_read("ModelMetadata", self.stub.ModelMetadata, pb.ModelMetadataRequest, request,
                                      context)

    async def ModelConfig(self, request, context):  # noqa: N802
        return await self._model_read("ModelConfig", self.stub.ModelConfig, pb.ModelConfigRequest, request, context)

    async def ModelInfer(self, request, context):  # noqa: N802
        async def body(principal, deadline):
            entry, _tag = self.resolve(request.model_name, parse_version(request.model_version), request.id,
                                       _client(principal))
            plane = self.dataplane
            if plane is None:
                raise MedinferError("the data plane is not configured")
            views, outputs = grpc_views(request)
            metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
            tp = metadata.get("traceparent")
            admission = await plane.admit_v2(entry, views, outputs, features=lambda: grpc_features(entry, request),
                                             deadline=deadline, headers={"traceparent": tp} if tp else None,
                                             patient_key=metadata.get("x-patient-key"))
            if admission.texts is not None:
                rewrite_grpc_texts(request, admission.texts)
            request.model_name, request.model_version = entry.name, str(entry.version)
            with self.track(entry.name, entry.version):
                response = await self._forward(self.stub.ModelInfer, request, deadline)
            ood = plane.settle_v2(entry, admission, lambda: _outputs(response))
            return flag_grpc_response(response, ood) if ood is not None and ood.ood else response
        return await self._guard("ModelInfer", request, context, body, request.model_name)

    async def _unserved(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def body(principal, deadline):
            raise _Unimplemented(f"{method} is not served by the gateway")
        return await self._guard(method, request, context, body)


def _unserved_method(method: str) -> Callable:
    if method == "ModelStreamInfer":
        async def stream(self, request_iterator, context):  # noqa: N802
            await self._unserved(method, pb.ModelInferRequest(), context)
            return
            yield  # an async generator, as grpc.aio expects of a stream-stream handler
        return stream

    async def unary(self, request, context):
        return await self._unserved(method, request, context)
    return unary


for _name in UNSERVED:
    setattr(GatewayGrpcService, _name, _unserved_method(_name))


class _UnknownMethods(grpc.GenericRpcHandler):
    """Last in line: a method the service does not have is audited too (as ``<unknown>``: the path is the
    caller's text) and answered UNIMPLEMENTED, as grpc would."""

    def __init__(self, servicer: GatewayGrpcService) -> None:
        async def unknown(request: bytes, context):
            return await servicer._unserved("<unknown>", _RawMessage(request or b""), context)

        self.handler = grpc.unary_unary_rpc_method_handler(unknown)

    def service(self, handler_call_details):
        return self.handler


def _outputs(response: Any) -> list[V2Tensor]:
    """A ``ModelInferResponse``'s fixed-size outputs as tensors (raw contents), for the embedding gate."""
    out = []
    for i, o in enumerate(response.outputs):
        if o.datatype in ("FP32", "FP64") and i < len(response.raw_output_contents):
            dtype = np.float32 if o.datatype == "FP32" else np.float64
            shape = [int(d) for d in o.shape]
            out.append(V2Tensor(o.name, o.datatype, shape,
                                np.frombuffer(response.raw_output_contents[i], dtype=dtype).reshape(shape)))
    return out


def _ood_reason(error: MedinferError | None, result: Any) -> str | None:
    if error is not None:
        return error.extra.get("reason") if error.code == "ood-rejected" else None
    params = getattr(result, "parameters", None)
    if params is not None and "ood_reason" in params:
        return params["ood_reason"].string_param
    return None


async def start_grpc_server(service: GatewayGrpcService, host: str, port: int,
                            credentials: grpc.ServerCredentials | None, *,
                            max_message_bytes: int = 16 * 1024 * 1024) -> tuple[grpc.aio.Server, int]:
    """``max_message_bytes``: the largest request message, the same setting as REST's body limit
    (``max_body_bytes``); a larger one is RESOURCE_EXHAUSTED before it is decoded. Answers may be larger."""
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", max_message_bytes),
                                      ("grpc.max_send_message_length", 64 * 1024 * 1024)])
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(service, server)
    server.add_generic_rpc_handlers((_UnknownMethods(service),))
    address = f"{host}:{port}"
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    await server.start()
    return server, bound
