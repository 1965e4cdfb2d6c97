"""Start one medinfer service as a real process on an already-bound socket."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.ports import bound_socket, free_port

__all__ = ["ServiceProcess", "run_service"]


class ServiceProcess:
    def __init__(self, proc: subprocess.Popen, url: str, log_path: Path, metrics_url: str = "") -> None:
        self.proc = proc
        self.url = url
        self.log_path = log_path
        self.metrics_url = metrics_url  # the operations port: /metrics, /healthz, /readyz

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def run_service(
    module: str, prefix: str, env: dict[str, str], log_path: Path, *, scheme: str = "http",
    ready_path: str = "/healthz", verify: str | bool = True, timeout: float = 60,
) -> Iterator[ServiceProcess]:
    """``module`` e.g. ``medinfer.preprocess``; ``prefix`` e.g. ``MEDINFER_PREPROCESS_``."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    metrics_port = free_port()
    # services started here are local test/bench servers: development unless the caller says otherwise
    full_env = {**os.environ, "MEDINFER_ENVIRONMENT": os.environ.get("MEDINFER_ENVIRONMENT", "development"),
                f"{prefix}METRICS_PORT": str(metrics_port), **env,
                f"{prefix}LISTEN_FD": str(sock.fileno()), f"{prefix}PORT": str(port)}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", module], env=full_env, pass_fds=(sock.fileno(),),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    sock.close()
    url = f"{scheme}://127.0.0.1:{port}"
    svc = ServiceProcess(proc, url, log_path, f"http://127.0.0.1:{full_env[f'{prefix}METRICS_PORT']}")
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{module} exited {proc.returncode}:\n{svc.log()[-3000:]}")
            try:
                if requests.get(url + ready_path, timeout=2, verify=verify).status_code < 500:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not start:\n{svc.log()[-3000:]}")
            time.sleep(0.1)
        yield svc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
