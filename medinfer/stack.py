"""The local stack behind ``medinfer up`` (and the test fixtures): tritonserver,
the preprocessor and the gateway as child processes on 127.0.0.1.

Every child runs in its own process group, so ``stop()`` ends it with all its
descendants (Triton's Python-backend stubs included): Ctrl-C leaves no orphans.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from medinfer.common.devpki import DevTLS, ensure_dev_tls
from medinfer.security.devkeys import ensure_dev_keys
from medinfer.shipped_models import ensure_shipped_models
from medinfer.triton.repository import ModelRepository
from medinfer.triton.server import TritonPorts, TritonServer, stop_process_group
from medinfer.triton.settings import TritonSettings

__all__ = ["StackPorts", "Stack", "StackError", "RunningGateway", "running_gateway", "GATEWAY_FILE"]

# Where a running stack announces its gateway, so local ``medinfer models ...`` commands send
# their changes to it: the gateway's registry runtime is then the one owner of Triton's model
# control (a second process loading/unloading behind its back drops requests).
GATEWAY_FILE = Path("run") / "gateway.json"


@dataclass(frozen=True)
class RunningGateway:
    url: str
    ca_file: str | None
    pid: int


def running_gateway(home: Path) -> RunningGateway | None:
    """The gateway a ``medinfer up`` (or a test stack) runs on ``home``, if its process is alive."""
    path = Path(home) / GATEWAY_FILE
    try:
        data = json.loads(path.read_text())
        found = RunningGateway(str(data["url"]), data.get("ca_file"), int(data["pid"]))
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
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.home = Path(home).resolve()
        self.ports = ports or StackPorts()
        self.insecure_http = insecure_http
        self.extra_env = dict(extra_env or {})
        self.repository = ModelRepository(self.home / "models")
        self.models = models
        self.triton: TritonServer | None = None
        self.children: list[_Child] = []
        self.tls: DevTLS | None = None
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
            "MEDINFER_GATEWAY_INSECURE_HTTP": "true" if self.insecure_http else "false",
            "MEDINFER_TRITON_HTTP_PORT": str(self.ports.triton.http),
            "MEDINFER_TRITON_GRPC_PORT": str(self.ports.triton.grpc),
            "MEDINFER_TRITON_METRICS_PORT": str(self.ports.triton.metrics),
        })
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 180.0) -> None:
        try:
            self.prepare()
            models = self.models or tuple(self.repository.models())
            self.triton = TritonServer(self.repository.root, self.home, self.ports.triton, models=models,
                                       log_path=self.home / "logs" / "tritonserver.log",
                                       extra_args=TritonSettings().grpc_ssl_args())
            self.report(f"starting tritonserver ({', '.join(models)}) and the preprocessor; logs in {self.home / 'logs'}")
            self.triton.start()
            self._spawn("preprocessor", [sys.executable, "-m", "medinfer.preprocess"])
            self.triton.wait_ready(timeout)
            self.report("tritonserver ready; waiting for the preprocessor (spaCy, Presidio) ...")
            self._wait_http("preprocessor", self.preprocessor_url + "/readyz", timeout)
            self.report("preprocessor ready; starting the gateway ...")
            self._spawn("gateway", [sys.executable, "-m", "medinfer.gateway"])
            self._wait_http("gateway", self.gateway_url + "/readyz", timeout)
            self._announce_gateway()
        except BaseException:
            self.stop()
            raise

    def _announce_gateway(self) -> None:
        gateway = next(c for c in self.children if c.name == "gateway")
        ca = None if self.insecure_http or self.tls is None else str(self.tls.ca_file)
        path = self.home / GATEWAY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": self.gateway_url, "ca_file": ca, "pid": gateway.process.pid}))
        os.replace(tmp, path)

    def _withdraw_gateway(self) -> None:
        mine = {c.process.pid for c in self.children if c.name == "gateway"}
        path = self.home / GATEWAY_FILE
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if json.loads(path.read_text()).get("pid") in mine:
                path.unlink()

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
        if self.triton and self.triton.process and self.triton.process.poll() is not None:
            return "tritonserver"
        return None

    def pids(self) -> list[int]:
        pids = [c.process.pid for c in self.children]
        if self.triton and self.triton.process:
            pids.append(self.triton.process.pid)
        return pids

    def stop(self) -> None:
        self._withdraw_gateway()
        for child in reversed(self.children):
            stop_process_group(child.process)
        self.children.clear()
        if self.triton is not None:
            self.triton.stop()
            self.triton = None

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
