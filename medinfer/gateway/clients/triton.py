"""Triton over the Open Inference Protocol (HTTP/REST), with aiohttp."""

from __future__ import annotations

import aiohttp
import orjson

from medinfer.common.errors import BackendUnavailable, MedinferError, ValidationFailed
from medinfer.common.v2 import HEADER_LENGTH, V2Tensor, decode_response, encode_request
from medinfer.gateway.clients.upstream import transport_error

__all__ = ["TritonClient"]


class TritonClient:
    name = "triton"

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def ready(self) -> bool:
        try:
            async with self.session.get("v2/health/ready") as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def model_ready(self, model: str, version: int) -> bool:
        try:
            async with self.session.get(f"v2/models/{model}/versions/{version}/ready") as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def infer(
        self, model: str, version: int, inputs: list[V2Tensor], outputs: list[str] | None = None,
        *, binary: bool = True, request_id: str | None = None, headers: dict[str, str] | None = None,
    ) -> list[V2Tensor]:
        body, extra = encode_request(inputs, outputs, binary=binary, request_id=request_id)
        if headers:
            extra.update(headers)
        try:
            async with self.session.post(f"v2/models/{model}/versions/{version}/infer", data=body, headers=extra) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise self._error(resp.status, raw)
                _, tensors = decode_response(raw, resp.headers.get(HEADER_LENGTH))
                return tensors
        except MedinferError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error("Triton", exc) from None

    @staticmethod
    def _error(status: int, raw: bytes) -> MedinferError:
        if status in (502, 503, 504):
            return BackendUnavailable("Triton is unavailable", retry_after=2)
        if status == 400:
            # Triton's message describes shapes/dtypes, not values; keep only the first line, bounded.
            try:
                msg = str(orjson.loads(raw).get("error", ""))[:200]
            except (orjson.JSONDecodeError, AttributeError):
                msg = ""
            if "unavailable" in msg or "not ready" in msg or "not found" in msg:
                return BackendUnavailable("the model is not loaded in Triton", retry_after=2)
            return ValidationFailed("Triton rejected the inputs for this model", code="triton-rejected")
        return BackendUnavailable(f"Triton answered {status}", retry_after=2)
