"""Triton over the Open Inference Protocol (HTTP/REST)."""

from __future__ import annotations

from medinfer.common.v2 import HEADER_LENGTH, V2Tensor, decode_response, encode_request
from medinfer.gateway.clients.triton_errors import triton_error
from medinfer.gateway.clients.upstream import Upstream, UpstreamResponse
from medinfer.gateway.resilience import Deadline

__all__ = ["TritonClient", "triton_error"]


class TritonClient:
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def ready(self) -> bool:
        return await self.upstream.probe("v2/health/ready")

    async def forward(self, method: str, path: str, deadline: Deadline, body: bytes | None = None,
                      headers: dict[str, str] | None = None, operation: str = "forward") -> UpstreamResponse:
        return await self.upstream.request(method, path.lstrip("/"), deadline=deadline, body=body, headers=headers,
                                           operation=operation)

    async def infer(
        self, model: str, version: int, inputs: list[V2Tensor], deadline: Deadline, outputs: list[str] | None = None,
        *, binary: bool = True, request_id: str | None = None, headers: dict[str, str] | None = None,
    ) -> list[V2Tensor]:
        body, extra = encode_request(inputs, outputs, binary=binary, request_id=request_id)
        if headers:
            extra.update(headers)
        resp = await self.forward("POST", f"v2/models/{model}/versions/{version}/infer", deadline, body, extra,
                                  operation="infer")
        if resp.status != 200:
            raise triton_error(resp.status, headers=resp.headers)
        _, tensors = decode_response(resp.body, resp.headers.get(HEADER_LENGTH))
        return tensors
