"""Remote registry operations through the gateway's admin API (``/admin/models``).

Same method names and results as ``Registry``, so the CLI and the rollout
controller work locally or remotely. Problem+json answers come back as the
matching ``MedinferError`` subclass (status and code preserved).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import urllib3

from medinfer.common import errors as E
from medinfer.monitoring.profile import PROFILE_FILENAME
from medinfer.registry.validation import SAMPLE_FILE, find_candidate

__all__ = ["AdminClient"]

_BY_STATUS: dict[int, type[E.MedinferError]] = {
    400: E.BadRequest,
    401: E.Unauthorized,
    403: E.Forbidden,
    404: E.NotFound,
    409: E.Conflict,
    413: E.PayloadTooLarge,
    415: E.UnsupportedMediaType,
    422: E.ValidationFailed,
    429: E.RateLimited,
    503: E.BackendUnavailable,
    504: E.DeadlineExceeded,
}


class AdminClient:
    def __init__(
        self, base_url: str, token: str | None = None, *, ca_file: str | None = None, timeout: float = 300.0
    ) -> None:
        self.base = base_url.rstrip("/") + "/admin/models"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        kw: dict[str, Any] = {"timeout": urllib3.Timeout(connect=10, read=timeout), "retries": False}
        if ca_file:
            kw["ca_certs"] = ca_file
        self.http = urllib3.PoolManager(**kw)

    def _call(self, method: str, path: str = "", *, json: Any = None, fields: Any = None) -> Any:
        headers = dict(self.headers)
        body = None
        if json is not None:
            body = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        try:
            resp = self.http.request(method, self.base + path, body=body, fields=fields, headers=headers)
        except urllib3.exceptions.HTTPError:
            raise E.BackendUnavailable(
                "the gateway's admin API is unreachable", code="gateway-unreachable"
            ) from None
        data = orjson.loads(resp.data) if resp.data else None
        if resp.status >= 400:
            problem = data if isinstance(data, dict) else {}
            cls = _BY_STATUS.get(resp.status, E.MedinferError)
            err = cls.__new__(cls)
            E.MedinferError.__init__(
                err,
                problem.get("detail") or f"HTTP {resp.status}",
                code=problem.get("code"),
                extra={
                    k: v
                    for k, v in problem.items()
                    if k not in ("type", "title", "status", "detail", "code", "instance")
                },
            )
            err.status = resp.status
            raise err
        return data

    # Same surface as Registry --------------------------------------------------------------
    def list_models(self) -> list[dict[str, Any]]:
        return self._call("GET")

    def get_model(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/{name}")

    def history(self, name: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/{name}/history")

    def publish(
        self,
        path: Path,
        name: str,
        *,
        version: int | None = None,
        breaking: bool = False,
        actor: str = "",
        reason: str = "",
    ) -> dict[str, Any]:
        cand = find_candidate(Path(path))
        fields: dict[str, Any] = {
            "model": ("model.onnx", cand.onnx_path.read_bytes(), "application/octet-stream"),
            "breaking": "true" if breaking else "false",
            "reason": reason,
        }
        if version is not None:
            fields["version"] = str(version)
        if cand.sample_path is not None:
            fields["sample"] = (SAMPLE_FILE, cand.sample_path.read_bytes(), "application/json")
        if cand.card_path is not None:
            fields["card"] = ("README.md", cand.card_path.read_bytes(), "text/markdown")
        meta = cand.onnx_path.parent / "medinfer.json"
        if Path(path).is_dir() and meta.is_file():
            fields["metadata"] = ("medinfer.json", meta.read_bytes(), "application/json")
        profile = cand.onnx_path.parent / PROFILE_FILENAME
        if Path(path).is_dir() and profile.is_file():
            fields["profile"] = (PROFILE_FILENAME, profile.read_bytes(), "application/json")
        return self._call("POST", f"/{name}/versions", fields=fields)

    def verify(self, name: str, version: int, *, actor: str = "") -> dict[str, Any]:
        return self._call("POST", f"/{name}/versions/{version}/verify")

    def promote(self, name: str, version: int, *, actor: str = "", reason: str = "") -> dict[str, Any]:
        return self._call("POST", f"/{name}/promote", json={"version": version, "reason": reason})

    def rollback(self, name: str, *, actor: str = "", reason: str = "") -> dict[str, Any]:
        return self._call("POST", f"/{name}/rollback", json={"reason": reason})

    def set_tag(
        self, name: str, tag: str, version: int, *, actor: str = "", reason: str = ""
    ) -> dict[str, Any]:
        return self._call("PUT", f"/{name}/tags/{tag}", json={"version": version, "reason": reason})

    def set_canary(
        self,
        name: str,
        version: int,
        weight: float,
        *,
        sticky: bool = False,
        actor: str = "",
        reason: str = "",
    ) -> dict[str, Any]:
        return self._call(
            "PUT",
            f"/{name}/canary",
            json={"version": version, "weight": weight, "sticky": sticky, "reason": reason},
        )

    def clear_canary(
        self, name: str, *, actor: str = "", reason: str = "", automatic: bool = False
    ) -> dict[str, Any]:
        return self._call("POST", f"/{name}/canary/clear", json={"reason": reason, "automatic": automatic})

    def set_shadow(self, name: str, version: int, share: float, *, actor: str = "", reason: str = "") -> dict[str, Any]:
        return self._call("PUT", f"/{name}/shadow", json={"version": version, "share": share, "reason": reason})

    def clear_shadow(self, name: str, *, actor: str = "", reason: str = "") -> dict[str, Any]:
        return self._call("POST", f"/{name}/shadow/clear", json={"reason": reason})
