"""How the registry drives a running tritonserver (explicit model control).

``load`` re-reads ``<repo>/<name>/config.pbtxt``: versions newly listed in its
``version_policy`` become READY before Triton drops versions no longer listed,
so moving traffic never waits on a cold version. ``TritonServer`` from
``medinfer.triton.server`` satisfies the same protocol for a server we started.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Protocol

from medinfer.common.errors import BackendUnavailable

__all__ = ["TritonControl", "TritonHTTPControl", "wait_version_ready"]


class TritonControl(Protocol):
    def load(self, name: str) -> None: ...

    def model_ready(self, name: str, version: int | None = None) -> bool: ...


class TritonHTTPControl:
    """Explicit model control over Triton's HTTP API at ``url``."""

    def __init__(self, url: str, timeout: float = 120.0, ca_file=None) -> None:
        """``ca_file``: the CA of Triton's certificate when ``url`` is https (its TLS proxy in the cluster)."""
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._ssl = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None

    def load(self, name: str) -> None:
        req = urllib.request.Request(
            f"{self.url}/v2/repository/models/{name}/load",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(req, timeout=self.timeout, context=self._ssl).close()
        except urllib.error.HTTPError as e:
            try:
                msg = json.loads(e.read()).get("error", "")
            except ValueError:
                msg = ""
            raise BackendUnavailable(
                f"Triton failed to load model '{name}': {msg[:300]}", code="triton-load-failed"
            ) from None
        except OSError:
            raise BackendUnavailable("Triton is unreachable", code="triton-unavailable") from None

    def model_ready(self, name: str, version: int | None = None) -> bool:
        path = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/ready"
        try:
            with urllib.request.urlopen(self.url + path, timeout=5, context=self._ssl) as resp:
                return resp.status == 200
        except (urllib.error.HTTPError, OSError):
            return False


def wait_version_ready(triton: TritonControl, name: str, version: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if triton.model_ready(name, version):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
