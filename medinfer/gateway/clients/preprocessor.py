"""The preprocessor service, with aiohttp."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from medinfer.common.errors import BackendUnavailable, MedinferError
from medinfer.gateway.clients.upstream import transport_error

__all__ = ["PreprocessorClient"]


class PreprocessorClient:
    name = "preprocessor"

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def ready(self) -> bool:
        try:
            async with self.session.get("readyz") as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def post_json(self, path: str, payload: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """POST JSON; a 4xx problem from the preprocessor is passed through unchanged (it names fields only)."""
        try:
            async with self.session.post(
                path.lstrip("/"), data=orjson.dumps(payload),
                headers={"Content-Type": "application/json", **(headers or {})},
            ) as resp:
                raw = await resp.read()
                if resp.status == 200:
                    return orjson.loads(raw)
                if 400 <= resp.status < 500:
                    raise UpstreamProblem(resp.status, raw)
                raise BackendUnavailable("the preprocessor is unavailable", retry_after=2)
        except MedinferError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error("the preprocessor", exc) from None


class UpstreamProblem(MedinferError):
    """A problem+json document from the preprocessor, relayed to the caller as it is."""

    def __init__(self, status: int, raw: bytes) -> None:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = {}
        super().__init__(str(body.get("detail", "preprocessing rejected the input"))[:300],
                         code=str(body.get("code", "preprocessing-failed")))
        self.status = status
        self.title = str(body.get("title", "Preprocessing rejected the input"))
        self.extra = {k: v for k, v in body.items() if k in ("field",)}
