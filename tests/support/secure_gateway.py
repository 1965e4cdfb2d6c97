"""The real gateway process (``python -m medinfer.gateway``) over HTTPS on an inherited socket,
for security tests: dev TLS and dev keys in a temporary MEDINFER_HOME, extra settings by env."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from medinfer.common.devpki import ensure_dev_tls
from medinfer.security.devkeys import ensure_dev_keys
from tests.support.ports import bound_socket, free_port

__all__ = ["GatewayProcess", "Reply"]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class GatewayProcess:
    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = Path(home)
        self.tls = ensure_dev_tls(self.home)
        self.keys = ensure_dev_keys(self.home)
        self.extra_env = dict(env or {})
        self.log_path = self.home / "gateway.log"
        self.proc: subprocess.Popen | None = None
        self.ctx = ssl.create_default_context(cafile=str(self.tls.ca_file))
        self.url = ""
        self.metrics_port = free_port()

    def start(self, timeout: float = 30.0) -> None:
        sock = bound_socket()
        port = sock.getsockname()[1]
        dead = free_port()  # nothing listens here: upstream calls fail fast
        env = dict(os.environ)
        env.update({
            "MEDINFER_HOME": str(self.home),
            "MEDINFER_ENVIRONMENT": "development",
            "MEDINFER_GATEWAY_LISTEN_FD": str(sock.fileno()),
            "MEDINFER_GATEWAY_PORT": str(port),
            "MEDINFER_GATEWAY_TRITON_URL": f"http://127.0.0.1:{dead}",
            "MEDINFER_GATEWAY_PREPROCESSOR_URL": f"http://127.0.0.1:{dead}",
            "MEDINFER_GATEWAY_GRPC_PORT": "0",
            "MEDINFER_GATEWAY_METRICS_PORT": str(self.metrics_port),
        })
        env.update(self.extra_env)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "medinfer.gateway"], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, pass_fds=[sock.fileno()])
        sock.close()
        self.url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited during start-up:\n" + self.log_path.read_text()[-2000:])
            try:
                if self.request("GET", "/healthz").status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gateway did not become healthy")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def metrics(self) -> Reply:
        """``GET /metrics`` on the operations port (plain HTTP)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=15) as resp:
            return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())

    def request(self, method: str, path: str, *, token: str | None = None, body: bytes | dict | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=15, context=self.ctx) as resp:
                return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return Reply(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())
