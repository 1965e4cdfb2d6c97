"""Explicit model control over every tritonserver of a set (``endpoints.py``).

``TritonFleet`` satisfies ``TritonControl``, so the registry's promotion, canary,
tag and retire steps drive all servers at once:

* ``load(name)`` asks every *live* server to (re)load the model from the shared
  repository, in parallel; any server that answers with an error fails the call
  (the registry then restores the config and aborts, audited). A server that does
  not answer at all is skipped: no gateway routes to it (the gateways' reconcile
  loop takes it out of routing), and it gets the routed versions from that loop
  before it is routed to again.
* ``wait_ready_everywhere(name, version, timeout)`` waits until the version is READY on every
  live server; a server that (re)started meanwhile is asked to load again.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from medinfer.common.errors import BackendUnavailable
from medinfer.registry.endpoints import TritonEndpoints

__all__ = ["TritonFleet", "EndpointError", "Unreachable", "index", "load_on", "is_live", "ready_versions"]

log = logging.getLogger("medinfer.registry")


class EndpointError(Exception):
    """A server answered but refused (``message`` is Triton's error, truncated)."""


class Unreachable(Exception):
    """No answer: connection refused, reset or timed out."""


def _call(url: str, path: str, *, body: bytes | None, timeout: float, tls: ssl.SSLContext | None) -> bytes:
    """``tls``: the endpoint set's context for https servers (``TritonEndpoints.tls``)."""
    req = urllib.request.Request(url + path, data=body, method="POST" if body is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=tls) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        try:
            msg = str(json.loads(e.read()).get("error", ""))
        except ValueError:
            msg = ""
        raise EndpointError(msg[:300] or f"HTTP {e.code}") from None
    except OSError as e:
        raise Unreachable(type(e).__name__) from None


def is_live(url: str, timeout: float = 1.0, *, tls: ssl.SSLContext | None = None) -> bool:
    try:
        _call(url, "/v2/health/live", body=None, timeout=timeout, tls=tls)
        return True
    except (EndpointError, Unreachable):
        return False


def index(url: str, timeout: float = 2.0, *, tls: ssl.SSLContext | None = None) -> list[dict]:
    """``POST /v2/repository/index``: every model version the server knows, with its state."""
    return json.loads(_call(url, "/v2/repository/index", body=b"{}", timeout=timeout, tls=tls) or b"[]")


def ready_versions(entries: Iterable[dict]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for e in entries:
        if e.get("state") == "READY" and str(e.get("version", "")).isdigit():
            out.setdefault(e["name"], set()).add(int(e["version"]))
    return out


def load_on(url: str, name: str, timeout: float, *, tls: ssl.SSLContext | None = None) -> None:
    _call(url, f"/v2/repository/models/{name}/load", body=b"{}", timeout=timeout, tls=tls)


def _ready(url: str, name: str, version: int | None, tls: ssl.SSLContext | None) -> bool:
    """The model (any version) or one version READY on that server."""
    path = f"/v2/models/{name}" + (f"/versions/{version}" if version is not None else "") + "/ready"
    try:
        _call(url, path, body=None, timeout=2, tls=tls)
        return True
    except (EndpointError, Unreachable):
        return False


@dataclass
class LoadReport:
    loaded: list[str]
    skipped: list[str]  # not answering: out of routing until reconciled


class TritonFleet:
    def __init__(self, endpoints: TritonEndpoints, timeout: float = 120.0) -> None:
        self.endpoints = endpoints
        self.timeout = timeout
        self.last_report = LoadReport([], [])

    def urls(self) -> list[str]:
        return self.endpoints.urls()

    def _load_one(self, url: str, name: str) -> str | None:
        """None when loaded; 'unreachable' when the server is not answering."""
        try:
            load_on(url, name, self.timeout, tls=self.endpoints.tls)
            return None
        except Unreachable:
            return "unreachable"
        except EndpointError as e:
            if not is_live(url, tls=self.endpoints.tls):
                return "unreachable"  # it died while loading
            raise BackendUnavailable(f"Triton at {url} failed to load model '{name}': {e}",
                                     code="triton-load-failed") from None

    def load(self, name: str) -> None:
        urls = self.urls()
        if not urls:
            raise BackendUnavailable("no Triton endpoint is known", code="triton-unavailable")
        with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
            results = list(pool.map(lambda u: (u, self._load_one(u, name)), urls))
        skipped = [u for u, r in results if r == "unreachable"]
        self.last_report = LoadReport([u for u, r in results if r is None], skipped)
        if skipped:
            log.warning("Triton endpoints not answering were skipped", extra={"model": name, "endpoints": skipped})
        if len(skipped) == len(urls):
            raise BackendUnavailable("no Triton endpoint is answering", code="triton-unavailable")

    def model_ready(self, name: str, version: int | None = None) -> bool:
        tls = self.endpoints.tls
        live = [u for u in self.urls() if is_live(u, tls=tls)]
        return bool(live) and all(_ready(u, name, version, tls) for u in live)

    def wait_ready_everywhere(self, name: str, version: int, timeout: float) -> bool:
        """READY on every live server; a live server without it (restarted) is asked to load again."""
        deadline = time.monotonic() + timeout
        asked: dict[str, float] = {}
        while True:
            tls = self.endpoints.tls
            missing = [u for u in self.urls() if is_live(u, tls=tls) and not _ready(u, name, version, tls)]
            if not missing and any(is_live(u, tls=tls) for u in self.urls()):
                return True
            if time.monotonic() >= deadline:
                return False
            for url in missing:
                if time.monotonic() - asked.get(url, float("-inf")) > 5.0:
                    asked[url] = time.monotonic()
                    try:
                        self._load_one(url, name)
                    except BackendUnavailable:
                        return False
            time.sleep(0.1)

