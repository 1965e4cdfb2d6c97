"""The preprocessor service."""

from __future__ import annotations

from typing import Any

import orjson

from medinfer.common.errors import INPUT_FAILURE_HEADER, BackendUnavailable, MedinferError
from medinfer.gateway.clients.upstream import Upstream
from medinfer.gateway.resilience import Deadline

__all__ = ["PreprocessorClient", "UpstreamProblem"]


class UpstreamProblem(MedinferError):
    """A problem+json about the input from the preprocessor (a 4xx, or a 5xx marked ``Medinfer-Failure: input``),
    relayed (it names fields and rules only)."""

    def __init__(self, status: int, raw: bytes) -> None:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        super().__init__(str(body.get("detail", "preprocessing rejected the input"))[:300],
                         code=str(body.get("code", "preprocessing-failed"))[:64])
        self.status = status
        self.title = str(body.get("title", "Preprocessing rejected the input"))[:100]
        self.extra = {k: body[k] for k in ("field", "language", "supported") if k in body}


class PreprocessorClient:
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def ready(self) -> bool:
        return await self.upstream.probe("readyz")

    async def post(self, path: str, body: bytes, deadline: Deadline, content_type: str = "application/json",
                   headers: dict[str, str] | None = None, operation: str = "preprocess") -> tuple[bytes, dict[str, str]]:
        resp = await self.upstream.request("POST", path.lstrip("/"), deadline=deadline, body=body,
                                           headers={"Content-Type": content_type, **(headers or {})},
                                           operation=operation)
        if resp.status == 200:
            return resp.body, resp.headers
        if 400 <= resp.status < 500 or resp.headers.get(INPUT_FAILURE_HEADER) == "input":
            raise UpstreamProblem(resp.status, resp.body)  # about this input: relayed, never retried
        raise BackendUnavailable("the preprocessor is unavailable", retry_after=2)

    async def post_json(self, path: str, payload: Any, deadline: Deadline,
                        headers: dict[str, str] | None = None, operation: str = "preprocess") -> dict[str, Any]:
        raw, _ = await self.post(path, orjson.dumps(payload), deadline, headers=headers, operation=operation)
        return orjson.loads(raw)
