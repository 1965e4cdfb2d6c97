"""A small HTTP server speaking the part of Triton's model-control API the registry uses
(``/v2/health/live``, ``/v2/repository/index``, ``/v2/repository/models/<m>/load``,
``/v2/models/<m>/versions/<v>/ready``), for unit tests of the reconcile and fleet logic
that need servers in states a real tritonserver is slow to reach (refusing a load).

``load`` reads the versions to serve from ``<repository>/<model>/config.pbtxt`` as Triton
does, or fails with Triton's error shape when ``refuse_loads`` is set. The end-to-end
tests run real tritonservers.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from medinfer.triton.model_config import ModelConfig

__all__ = ["ControlPlane", "control_plane"]


class ControlPlane:
    def __init__(self, repository: Path) -> None:
        self.repository = repository
        self.ready: dict[str, set[int]] = {}
        self.loads: list[str] = []
        self.refuse_loads = False
        self.url = ""

    def _config_versions(self, model: str) -> set[int]:
        versions = ModelConfig.from_pbtxt((self.repository / model / "config.pbtxt").read_text()).versions
        on_disk = {int(p.name) for p in (self.repository / model).iterdir() if p.name.isdigit()}
        if versions is None:
            return {max(on_disk)}
        return set(versions) if versions else on_disk

    def handle(self, method: str, path: str) -> tuple[int, object]:
        if path == "/v2/health/live":
            return 200, {}
        if method == "POST" and path == "/v2/repository/index":
            return 200, [{"name": m, "version": str(v), "state": "READY"}
                         for m, vs in sorted(self.ready.items()) for v in sorted(vs)]
        load = re.fullmatch(r"/v2/repository/models/([^/]+)/load", path)
        if method == "POST" and load:
            self.loads.append(load.group(1))
            if self.refuse_loads:
                return 400, {"error": "failed to load: out of memory"}
            self.ready[load.group(1)] = self._config_versions(load.group(1))
            return 200, {}
        ready = re.fullmatch(r"/v2/models/([^/]+)/versions/(\d+)/ready", path)
        if ready:
            return (200, {}) if int(ready.group(2)) in self.ready.get(ready.group(1), set()) else (400, {"error": "unavailable"})
        return 404, {"error": "not found"}


@contextmanager
def control_plane(repository: Path) -> Iterator[ControlPlane]:
    cp = ControlPlane(repository)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            status, body = cp.handle(method, self.path)
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:  # noqa: N802
            self._answer("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._answer("POST")

        def log_message(self, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    cp.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield cp
    finally:
        server.shutdown()
        server.server_close()
