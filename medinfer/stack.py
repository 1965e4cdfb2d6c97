"""The local stack behind ``medinfer up`` (and the test fixtures): tritonserver,
the preprocessor and the gateway as child processes on 127.0.0.1.

Every child runs in its own process group, so ``stop()`` ends it with all its
descendants (Triton's Python-backend stubs included): Ctrl-C leaves no orphans.

Triton dying does not end the stack: a supervisor thread restarts it the way
Kubernetes restarts the pod (``RestartPolicy``: exponential backoff, at most
``max_restarts`` within ``window_s``, each step reported through ``on_event``).
The gateway keeps running and answers 503 meanwhile (its circuit opens on the
refused connections, ``/readyz`` says Triton is not ready). The restarted server
loads every model of the repository as its ``config.pbtxt`` stands: the registry
writes the versions it routes to there before it routes to them, so Triton
serves exactly those again (``wait_ready`` checks each listed version).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from medinfer.common.devpki import DevTLS, ensure_dev_tls
from medinfer.security.devkeys import ensure_dev_keys
from medinfer.shipped_models import ensure_shipped_models
from medinfer.triton.model_config import ModelConfig
from medinfer.triton.repository import ModelRepository
from medinfer.triton.server import TritonPorts, TritonServer, TritonStartError, stop_process_group
from medinfer.triton.settings import TritonSettings

__all__ = ["StackPorts", "Stack", "StackError", "RestartPolicy", "RunningGateway", "running_gateway",
           "GATEWAY_FILE"]

log = logging.getLogger("medinfer.stack")

# Where a running stack announces its gateway, so local ``medinfer models ...`` commands send
# their changes to it: the gateway's registry runtime is then the one owner of Triton's model
# control (a second process loading/unloading behind its back drops requests).
GATEWAY_FILE = Path("run") / "gateway.json"


@dataclass(frozen=True)
class RunningGateway:
    url: str
    ca_file: str | None
    pid: int
    metrics_url: str | None = None  # its operations listener's /metrics (rollouts measure there)


def running_gateway(home: Path) -> RunningGateway | None:
    """The gateway a ``medinfer up`` (or a test stack) runs on ``home``, if its process is alive."""
    path = Path(home) / GATEWAY_FILE
    try:
        data = json.loads(path.read_text())
        found = RunningGateway(str(data["url"]), data.get("ca_file"), int(data["pid"]), data.get("metrics_url"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(found.pid, 0)
    except ProcessLookupError:
        return None  # a stack that died without cleaning up
    except PermissionError:
        pass  # alive, another user's
    return found


class StackError(RuntimeError):
    """A service did not come up; the message carries the tail of its log."""


@dataclass(frozen=True)
class StackPorts:
    gateway: int = 8443
    preprocessor: int = 8080
    triton: TritonPorts = field(default_factory=TritonPorts)
    gateway_grpc: int = 8444
    gateway_metrics: int = 8445  # the operations ports: /metrics is not on the API ports
    preprocessor_metrics: int = 8081


@dataclass(frozen=True)
class RestartPolicy:
    """How the stack restarts a tritonserver that exited: like a pod's ``restartPolicy: Always`` with
    CrashLoopBackOff, but bounded (past ``max_restarts`` within ``window_s`` the stack gives up)."""

    max_restarts: int = 5
    window_s: float = 300.0
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 15.0
    ready_timeout_s: float = 120.0

    def backoff(self, attempt: int) -> float:
        return min(self.initial_backoff_s * 2 ** (attempt - 1), self.max_backoff_s)


@dataclass
class _Child:
    name: str
    process: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Stack:
    def __init__(
        self,
        home: Path,
        ports: StackPorts | None = None,
        *,
        insecure_http: bool = False,
        extra_env: dict[str, str] | None = None,
        models: tuple[str, ...] | None = None,
        triton_restart: RestartPolicy | None = RestartPolicy(),
        on_event: Callable[[str], None] | None = None,
        report: Callable[[str], None] | None = None,
    ) -> None:
        """``triton_restart`` None: a Triton exit is final (``failed_child`` reports it). ``on_event``
        receives one line per supervisor step (``medinfer up`` prints them); they are also logged."""
        self.home = Path(home).resolve()
        self.ports = ports or StackPorts()
        self.insecure_http = insecure_http
        self.extra_env = dict(extra_env or {})
        self.repository = ModelRepository(self.home / "models")
        self.models = models
        self.triton: TritonServer | None = None
        self.children: list[_Child] = []
        self.tls: DevTLS | None = None
        self.triton_restart = triton_restart
        self.on_event = on_event
        self.triton_started_at: float | None = None  # monotonic time the last restarted tritonserver was launched
        self.triton_restarts = 0  # restarts done so far (all time)
        self._triton_gave_up = False
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()  # guards self.triton against stop() racing a restart
        self.report = report or (lambda message: None)

    # -- URLs ------------------------------------------------------------
    @property
    def gateway_url(self) -> str:
        scheme = "http" if self.insecure_http else "https"
        return f"{scheme}://127.0.0.1:{self.ports.gateway}"

    @property
    def preprocessor_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.preprocessor}"

    @property
    def gateway_metrics_url(self) -> str:
        """The gateway's operations listener (plain HTTP): ``/metrics``, ``/healthz``, ``/readyz``."""
        return f"http://127.0.0.1:{self.ports.gateway_metrics}"

    @property
    def preprocessor_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.preprocessor_metrics}"

    @property
    def triton_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.triton.http}"

    # -- lifecycle ---------------------------------------------------------
    def prepare(self) -> None:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.report(f"state in {self.home}: development keys and certificates")
        self.tls = ensure_dev_tls(self.home)
        ensure_dev_keys(self.home)
        ensure_shipped_models(self.repository, report=self.report)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "MEDINFER_HOME": str(self.home),
            "MEDINFER_PREPROCESS_PORT": str(self.ports.preprocessor),
            "MEDINFER_GATEWAY_PORT": str(self.ports.gateway),
            "MEDINFER_GATEWAY_PREPROCESSOR_URL": self.preprocessor_url,
            "MEDINFER_GATEWAY_TRITON_URL": self.triton_url,
            "MEDINFER_GATEWAY_TRITON_GRPC_TARGET": f"127.0.0.1:{self.ports.triton.grpc}",
            "MEDINFER_GATEWAY_GRPC_PORT": str(self.ports.gateway_grpc),
            "MEDINFER_GATEWAY_METRICS_PORT": str(self.ports.gateway_metrics),
            "MEDINFER_PREPROCESS_METRICS_PORT": str(self.ports.preprocessor_metrics),
            "MEDINFER_GATEWAY_INSECURE_HTTP": "true" if self.insecure_http else "false",
            "MEDINFER_TRITON_HTTP_PORT": str(self.ports.triton.http),
            "MEDINFER_TRITON_GRPC_PORT": str(self.ports.triton.grpc),
            "MEDINFER_TRITON_METRICS_PORT": str(self.ports.triton.metrics),
        })
        env.setdefault("MEDINFER_ENVIRONMENT", "development")  # the local stack; services default to production
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 180.0) -> None:
        try:
            self.prepare()
            self._stopping.clear()
            self.triton = self._new_triton()
            self.report(f"starting tritonserver ({', '.join(self.triton.models)}) and the preprocessor; "
                        f"logs in {self.home / 'logs'}")
            self.triton.start()
            self._spawn("preprocessor", [sys.executable, "-m", "medinfer.preprocess"])
            self._wait_triton(self.triton, timeout)
            self.report("tritonserver ready; waiting for the preprocessor (spaCy, Presidio) ...")
            self._wait_http("preprocessor", self.preprocessor_url + "/readyz", timeout)
            self.report("preprocessor ready; starting the gateway ...")
            self._spawn("gateway", [sys.executable, "-m", "medinfer.gateway"])
            self._wait_http("gateway", self.gateway_url + "/readyz", timeout)
            self._announce_gateway()
            if self.triton_restart is not None:
                self._supervisor = threading.Thread(target=self._supervise, name="triton-supervisor", daemon=True)
                self._supervisor.start()
        except BaseException:
            self.stop()
            raise

    def _announce_gateway(self) -> None:
        gateway = next(c for c in self.children if c.name == "gateway")
        ca = None if self.insecure_http or self.tls is None else str(self.tls.ca_file)
        path = self.home / GATEWAY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": self.gateway_url, "ca_file": ca, "pid": gateway.process.pid,
                                   "metrics_url": self.gateway_metrics_url + "/metrics"}))
        os.replace(tmp, path)

    def _withdraw_gateway(self) -> None:
        mine = {c.process.pid for c in self.children if c.name == "gateway"}
        path = self.home / GATEWAY_FILE
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if json.loads(path.read_text()).get("pid") in mine:
                path.unlink()

    # -- Triton supervision --------------------------------------------------
    def _new_triton(self) -> TritonServer:
        # Read at each (re)start: a model published since the last start is served too.
        models = self.models or tuple(self.repository.models())
        return TritonServer(self.repository.root, self.home, self.ports.triton, models=models,
                            log_path=self.home / "logs" / "tritonserver.log",
                            extra_args=TritonSettings().grpc_ssl_args())

    def _wait_triton(self, server: TritonServer, timeout: float) -> None:
        """Ready, with every version each model's config.pbtxt lists (the registry's served versions)."""
        server.wait_ready(timeout)
        deadline = time.monotonic() + timeout
        for name in server.models:
            path = self.repository.root / name / "config.pbtxt"
            versions = ModelConfig.from_pbtxt(path.read_text()).versions if path.is_file() else None
            for v in versions or ():
                while not server.model_ready(name, v):
                    if server.process is None or server.process.poll() is not None or time.monotonic() > deadline:
                        raise TritonStartError(f"model '{name}' version {v} did not become ready:\n"
                                               f"{server.log_tail()}")
                    time.sleep(0.1)

    def _event(self, message: str) -> None:
        log.warning(message, extra={"event": "triton-supervisor"})
        if self.on_event is not None:
            self.on_event(message)

    def _supervise(self) -> None:
        policy = self.triton_restart
        assert policy is not None
        recent: list[float] = []  # restart times within the window
        while not self._stopping.wait(0.2):
            triton = self.triton
            if triton is None or triton.process is None or triton.process.poll() is None:
                continue
            code = triton.process.returncode
            now = time.monotonic()
            recent = [t for t in recent if now - t < policy.window_s]
            if len(recent) >= policy.max_restarts:
                self._event(f"tritonserver exited with {code}; {len(recent)} restarts within "
                            f"{policy.window_s:.0f}s, giving up")
                self._triton_gave_up = True
                return
            recent.append(now)
            attempt = len(recent)
            delay = policy.backoff(attempt)
            self._event(f"tritonserver exited with {code}; restart {attempt}/{policy.max_restarts} in {delay:.1f}s "
                        "(the gateway answers 503 meanwhile)")
            with self._lock:
                if self._stopping.is_set():
                    return
                triton.stop()  # the exited server's process group: stubs left behind, its log
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                fresh = self._new_triton()
                fresh.start()
                self.triton = fresh
            started = self.triton_started_at = time.monotonic()  # it may serve before every model is ready
            try:
                self._wait_triton(fresh, policy.ready_timeout_s)
            except TritonStartError:
                continue  # it exited or never got ready: the next turn restarts it again (counted)
            self.triton_restarts += 1
            self._event(f"tritonserver restarted and ready in {time.monotonic() - started:.1f}s "
                        f"({len(fresh.models)} models, restart #{self.triton_restarts})")

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log_path = self.home / "logs" / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - the child owns it; closed with the process
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True)
        log.close()
        self.children.append(_Child(name, proc, log_path))

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.insecure_http or self.tls is None:
            return None
        return ssl.create_default_context(cafile=str(self.tls.ca_file))

    def _wait_http(self, name: str, url: str, timeout: float) -> None:
        child = next(c for c in self.children if c.name == name)
        deadline = time.monotonic() + timeout
        ctx = self._ssl_context() if url.startswith("https") else None
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise StackError(f"{name} exited with {child.process.returncode}:\n{child.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise StackError(f"{name} not ready after {timeout:.0f}s:\n{child.tail()}")

    @contextlib.contextmanager
    def beside(self, name: str, cmd: list[str], ready_url: str, timeout: float = 60.0) -> Iterator[None]:
        """Run one more process with the stack's environment until the block ends (a benchmark's baseline):
        started, awaited and stopped like the stack's own children."""
        self._spawn(name, cmd)
        child = self.children[-1]
        try:
            self._wait_http(name, ready_url, timeout)
            yield
        finally:
            stop_process_group(child.process)
            self.children.remove(child)

    def failed_child(self) -> str | None:
        """The name of a service that has exited, if any."""
        for c in self.children:
            if c.process.poll() is not None:
                return c.name
        proc = self.triton.process if self.triton else None
        if self.triton_restart is None and proc is not None and proc.poll() is not None:
            return "tritonserver"
        if self._triton_gave_up:
            return "tritonserver"
        return None

    def pids(self) -> list[int]:
        pids = [c.process.pid for c in self.children]
        if self.triton and self.triton.process:
            pids.append(self.triton.process.pid)
        return pids

    def stop(self) -> None:
        self._withdraw_gateway()
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)  # it waits in short steps; a server start in flight is awaited below
            self._supervisor = None
        for child in reversed(self.children):
            stop_process_group(child.process)
        self.children.clear()
        with self._lock:
            if self.triton is not None:
                self.triton.stop()
                self.triton = None

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
