"""Many replicas on 127.0.0.1: several tritonservers on one model repository, several gateway
processes on one database, and HAProxy (Debian ``haproxy``, ``mode tcp``, ``balance roundrobin``)
standing in for the Kubernetes Services in front of each group.

Every process runs in its own process group and is stopped (or SIGKILLed) with it, so a
tritonserver's Python-backend stubs go with it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests

from medinfer.common.devpki import ensure_dev_tls
from medinfer.security.devkeys import ensure_dev_keys
from medinfer.triton.server import TritonPorts, TritonServer, prepare_server_dir, stop_process_group
from tests.support.ports import free_ports
from tests.support.postgres import PostgresServer
from tests.support.stack import dev_auth_header

__all__ = ["TritonReplica", "HAProxy", "GatewayReplica", "Backend", "Cluster", "Load", "Answer", "MODEL"]

MODEL = "replicated"


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
        self.port, self.metrics_port = free_ports(2)
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}"  # the operations listener: /metrics
        self.log_path = home / "logs" / f"gateway-{index}.log"
        self.env = {**os.environ, **env, "MEDINFER_GATEWAY_PORT": str(self.port),
                    "MEDINFER_GATEWAY_METRICS_PORT": str(self.metrics_port)}
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


@dataclass
class Answer:
    sent: float
    received: float
    status: int
    version: str | None
    body_version: str | None
    error: str = ""


class Load:
    """Client threads through the gateways' balancer, one keep-alive connection each (HAProxy spreads
    the connections over the gateway replicas)."""

    def __init__(self, url: str, token: str, threads: int = 4) -> None:
        self.url = f"{url}/v2/models/{MODEL}/infer"
        self.headers = {"Authorization": token, "Content-Type": "application/json"}
        x = np.random.default_rng(0).random((1, 4)).astype(np.float32)
        self.body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4],
                                            "data": x.ravel().tolist()}]})
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        s = requests.Session()
        s.trust_env = False
        while not self._stop.is_set():
            t0 = time.time()
            try:
                r = s.post(self.url, data=self.body, headers=self.headers, timeout=30)
                body_v = r.json().get("model_version") if r.status_code == 200 else None
                self.answers.append(Answer(t0, time.time(), r.status_code, r.headers.get("X-Model-Version"),
                                           body_v, "" if r.status_code == 200 else r.text[:200]))
            except requests.RequestException:
                self.answers.append(Answer(t0, time.time(), 0, None, None))
            time.sleep(0.01)
        s.close()

    def start(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return self.answers


class Cluster:
    """Tritonservers, gateways on one PostgreSQL database, HAProxy in front of both (not started yet)."""

    def __init__(self, home: Path, pg: PostgresServer, *, tritons: int = 3, spare_tritons: int = 0,
                 gateways: int = 2) -> None:
        self.home = home
        self.repo = home / "models"
        self.repo.mkdir(parents=True)
        ensure_dev_tls(home)
        ensure_dev_keys(home)
        prepare_server_dir(home)
        # ``spare_tritons`` are listed (endpoints, balancer) but not started: servers that join later.
        self.n_tritons = tritons
        self.tritons = [TritonReplica(self.repo, home, i) for i in range(tritons + spare_tritons)]
        self.lb_ports = dict(zip(("triton_http", "triton_grpc", "gateways"), free_ports(3), strict=True))
        db = pg.create_database()
        self.db_dsn = db.replace("postgresql+psycopg://", "postgresql://")
        endpoints = ",".join(t.http_url for t in self.tritons)
        env = {
            "MEDINFER_HOME": str(home),
            "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
            "MEDINFER_GATEWAY_GRPC_PORT": "0",
            "MEDINFER_GATEWAY_TRITON_URL": f"http://127.0.0.1:{self.lb_ports['triton_http']}",
            "MEDINFER_GATEWAY_TRITON_GRPC_TARGET": f"127.0.0.1:{self.lb_ports['triton_grpc']}",
            "MEDINFER_GATEWAY_PREPROCESSOR_URL": f"http://127.0.0.1:{free_ports(1)[0]}",  # not needed: tabular
            "MEDINFER_GATEWAY_AUDIT_URL": db,
            "MEDINFER_GATEWAY_RATE_LIMIT_RPS": "100000",
            "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "100000",
            "MEDINFER_GATEWAY_DRIFT_ENABLED": "false",
            "MEDINFER_REGISTRY_DATABASE_URL": db,
            "MEDINFER_REGISTRY_TRITON_ENDPOINTS": endpoints,
            "MEDINFER_REGISTRY_REFRESH_INTERVAL_S": "0.25",
            "MEDINFER_REGISTRY_RECONCILE_INTERVAL_S": "0.25",
            "MEDINFER_REGISTRY_DRAIN_TIMEOUT_S": "15",
            "MEDINFER_REGISTRY_LOAD_TIMEOUT_S": "30",
            "OMP_NUM_THREADS": "1",
        }
        self.gateways = [GatewayReplica(home, i, env) for i in range(gateways)]
        self.haproxy = HAProxy(home, [
            Backend("triton_http", self.lb_ports["triton_http"], [t.ports.http for t in self.tritons]),
            Backend("triton_grpc", self.lb_ports["triton_grpc"], [t.ports.grpc for t in self.tritons]),
            Backend("gateways", self.lb_ports["gateways"], [g.port for g in self.gateways]),
        ])
        self.admin = {"Authorization": dev_auth_header(home, "infer models:read models:write")["Authorization"]}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.lb_ports['gateways']}"

    def stop(self) -> None:
        for g in self.gateways:
            g.stop()
        for t in self.tritons:
            t.stop()
        self.haproxy.stop()

    # -- admin API of one replica ------------------------------------------------------------------
    def call(self, gw: int, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.gateways[gw].url}/admin/models{path}", headers=self.admin,
                                timeout=120, **kw)

    def publish(self, gw: int, folder: Path) -> int:
        with open(folder / "model.onnx", "rb") as f:
            r = self.call(gw, "POST", f"/{MODEL}/versions", files={"model": f}, data={"reason": "retrained"})
        assert r.status_code == 201, r.text
        return r.json()["version"]

    def history(self) -> list[dict]:
        return self.call(0, "GET", f"/{MODEL}/history").json()

    def routing(self, gw: int) -> dict:
        body = self.gateways[gw].readyz()
        return body.get("triton_endpoints") or body.get("extra", {}).get("triton_endpoints") or {}


    def start(self) -> None:
        """Tritonservers and the balancer, then every gateway at the same moment."""
        for t in self.tritons[:self.n_tritons]:
            t.start()
        self.haproxy.start()
        for t in self.tritons[:self.n_tritons]:
            t.wait_live()
        for g in self.gateways:
            g.start()
        for g in self.gateways:
            g.wait_up()
