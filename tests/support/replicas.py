"""Many replicas on 127.0.0.1: several tritonservers on one model repository, several gateway
processes on one database, and HAProxy (Debian ``haproxy``, ``mode tcp``, ``balance roundrobin``)
standing in for the Kubernetes Services in front of each group.

Every process runs in its own process group and is stopped (or SIGKILLed) with it, so a
tritonserver's Python-backend stubs go with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from medinfer.triton.server import TritonPorts, TritonServer, stop_process_group
from tests.support.ports import free_ports

__all__ = ["TritonReplica", "HAProxy", "GatewayReplica", "Backend"]


class TritonReplica(TritonServer):
    """One tritonserver of a set: its own ports, ``--cache-directory`` and Python-backend shared-memory
    prefix (servers on one host must not share the stubs' regions); starts with no model loaded
    (the gateways' reconcile loop loads the routed versions)."""

    def __init__(self, repository: Path, home: Path, index: int) -> None:
        http, grpc, metrics = free_ports(3)
        super().__init__(repository, home, TritonPorts(http, grpc, metrics), models=(),
                         log_path=home / "logs" / f"tritonserver-{index}.log")
        self.index = index
        self.starts = 0

    def command(self) -> list[str]:
        cmd = [a for a in super().command() if not a.startswith("--cache-directory=")]
        caches = Path(self.home) / "tritonserver" / "caches"
        if caches.is_dir():
            own = Path(self.home) / f"triton-cache-{self.index}"
            if not own.exists():
                shutil.copytree(caches, own)
            cmd.append(f"--cache-directory={own}")
        cmd.append(f"--backend-config=python,shm-region-prefix-name=medinfer{self.ports.http}x{self.starts}_")
        return cmd

    def start(self) -> None:
        self.starts += 1
        super().start()

    def wait_live(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self._get("/v2/health/live") != 200:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"tritonserver exited:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"tritonserver not live:\n{self.log_tail()}")
            time.sleep(0.1)

    def sigkill(self) -> None:
        """SIGKILL the server and its stubs at once (a crash, not a shutdown)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()
        self.process = None

    def ready_versions(self, model: str) -> set[int]:
        try:
            r = requests.post(f"{self.http_url}/v2/repository/index", json={}, timeout=5)
        except requests.RequestException:
            return set()
        return {int(e["version"]) for e in r.json() if e.get("name") == model and e.get("state") == "READY"}

    def inference_counts(self, model: str) -> tuple[int, int]:
        """(successes, failures) Triton counted for ``model`` over all versions."""
        try:
            text = requests.get(f"http://127.0.0.1:{self.ports.metrics}/metrics", timeout=5).text
        except requests.RequestException:
            return 0, 0
        ok = fail = 0
        for line in text.splitlines():
            if f'model="{model}"' not in line:
                continue
            if line.startswith("nv_inference_request_success{"):
                ok += int(float(line.rsplit(" ", 1)[1]))
            elif line.startswith("nv_inference_request_failure{"):
                fail += int(float(line.rsplit(" ", 1)[1]))
        return ok, fail


@dataclass
class Backend:
    name: str
    port: int
    servers: list[int]


@dataclass
class HAProxy:
    """``haproxy -db`` with one TCP frontend per ``Backend`` (round robin, health-checked servers)."""

    workdir: Path
    backends: list[Backend] = field(default_factory=list)
    process: subprocess.Popen | None = None

    def config(self) -> str:
        lines = ["global", "  maxconn 2000", "defaults", "  mode tcp", "  timeout connect 2s",
                 "  timeout client 60s", "  timeout server 60s", "  retries 3", "  option redispatch"]
        for b in self.backends:
            lines += [f"frontend {b.name}_in", f"  bind 127.0.0.1:{b.port}", f"  default_backend {b.name}",
                      f"backend {b.name}", "  balance roundrobin"]
            lines += [f"  server s{i} 127.0.0.1:{p} check inter 300ms fall 1 rise 1"
                      for i, p in enumerate(b.servers)]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(exe).exists():
            raise RuntimeError("haproxy is not installed: .ci/run installs Debian's 'haproxy' package")
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(self.config())
        log = open(self.workdir / "haproxy.log", "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen([exe, "-f", str(cfg), "-db"], stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        time.sleep(0.3)
        if self.process.poll() is not None:
            raise RuntimeError((self.workdir / "haproxy.log").read_text())

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None


class GatewayReplica:
    """``python -m medinfer.gateway`` on a port of its own (plain HTTP, the balancer in front)."""

    def __init__(self, home: Path, index: int, env: dict[str, str]) -> None:
        self.home, self.index = home, index
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "logs" / f"gateway-{index}.log"
        self.env = {**os.environ, **env, "MEDINFER_GATEWAY_PORT": str(self.port)}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen([sys.executable, "-m", "medinfer.gateway"], env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_up(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"gateway {self.index} exited:\n{self.log()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateway {self.index} did not start:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def readyz(self) -> dict:
        r = requests.get(self.url + "/readyz", timeout=5)
        return r.json()

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None
