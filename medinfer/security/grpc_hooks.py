"""Authentication, scopes, rate limits and audit for the gateway's gRPC service.

``GatewayGrpcService`` calls ``authenticate(metadata, method, model)`` before
an RPC and ``on_call(method, model, request_id, status, latency_s, principal)``
after it, before the response leaves. Same rules as REST: a bearer token in
the ``authorization`` metadata, ``infer``/``infer:<model>`` for ModelInfer,
``models:read`` (or inference rights on that model) for model metadata, and one
audit record per call (fail-closed: a failed append raises ``AuditUnavailable``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from medinfer.audit import AuditEvent
from medinfer.security.principal import Principal, require_infer, require_scope
from medinfer.security.service import SecurityService

__all__ = ["grpc_hooks", "GRPC_ROUTE_PREFIX"]

GRPC_ROUTE_PREFIX = "grpc:/inference.GRPCInferenceService/"
_MODEL_READ = frozenset({"ModelReady", "ModelMetadata", "ModelConfig"})


def grpc_hooks(
    security: SecurityService, is_known_model: Callable[[str], bool],
) -> tuple[Callable[[dict[str, str], str, str], Awaitable[Principal]],
           Callable[[str, str, str, int, float, Any], Awaitable[None]]]:
    async def authenticate(metadata: dict[str, str], method: str, model: str) -> Principal:
        principal = await security.authenticate(metadata.get("authorization"))
        security.check_rate(principal)
        if method == "ModelInfer":
            require_infer(principal, model)
        elif method in _MODEL_READ and not principal.may_infer(model):
            require_scope(principal, "models:read")
        return principal

    async def on_call(method: str, model: str, request_id: str, status: int, latency_s: float,
                      principal: Any) -> None:
        if security.ledger is None:
            return
        known = bool(model) and is_known_model(model)  # a requested name is caller input: record catalog names only
        await security.ledger.append(AuditEvent(
            action=f"grpc {method}", route=GRPC_ROUTE_PREFIX + method, status=status,
            request_id=request_id if _opaque(request_id) else "",
            sub=getattr(principal, "sub", None), client_id=getattr(principal, "client_id", None),
            model=model if known else None, latency_us=int(latency_s * 1e6),
        ))

    return authenticate, on_call


def _opaque(rid: str) -> bool:
    from medinfer.common.http import _OPAQUE_ID

    return rid.startswith("grpc-") or bool(_OPAQUE_ID.fullmatch(rid.lower()))
