"""Launch the real ``tritonserver`` bundled in the ``nvidia-pytriton`` wheel.

The wheel ships Triton 2.51 with the Python backend only. The server folder is
laid out once under ``<MEDINFER_HOME>/tritonserver`` (binary, backends and the
Python-backend stub built for this interpreter). The stub ignores PYTHONPATH
but uses the interpreter found first on PATH, so the venv's ``bin`` goes first,
and the venv Python's LIBDIR goes on LD_LIBRARY_PATH so the stub loads the
matching libpython. Models are loaded with explicit model control.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TritonPorts", "TritonServer", "TritonStartError", "prepare_server_dir", "stop_process_group"]

_PY = f"{sys.version_info.major}.{sys.version_info.minor}"


class TritonStartError(RuntimeError):
    """Triton did not become ready; the message carries the tail of Triton's own output."""


@dataclass(frozen=True)
class TritonPorts:
    http: int = 8000
    grpc: int = 8001
    metrics: int = 8002


def _wheel_dir() -> Path:
    import pytriton

    return Path(pytriton.__file__).parent / "tritonserver"


def _wheel_libs() -> Path:
    import pytriton

    return Path(pytriton.__file__).parent.parent / "nvidia_pytriton.libs"


def prepare_server_dir(home: Path) -> Path:
    """Lay out ``<home>/tritonserver`` from the wheel (idempotent)."""
    src = _wheel_dir()
    dest = Path(home) / "tritonserver"
    marker = dest / ".layout"
    stamp = f"{src}:{_PY}"
    if marker.is_file() and marker.read_text() == stamp:
        return dest
    tmp = Path(home) / ".tritonserver.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copytree(src / "bin", tmp / "bin")
    shutil.copytree(src / "backends", tmp / "backends", ignore=shutil.ignore_patterns("__pycache__"))
    if (src / "caches").is_dir():
        shutil.copytree(src / "caches", tmp / "caches")
    stub = src / "python_backend_stubs" / _PY / "triton_python_backend_stub"
    if not stub.is_file():
        raise TritonStartError(f"the nvidia-pytriton wheel has no Python-backend stub for Python {_PY}")
    shutil.copy2(stub, tmp / "backends" / "python" / "triton_python_backend_stub")
    (tmp / ".layout").write_text(stamp)
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)
    return dest


def server_environment() -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    parts = [str(_wheel_libs()), libdir, env.get("LD_LIBRARY_PATH", "")]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in parts if p)
    env.pop("PYTHONPATH", None)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


@dataclass
class TritonServer:
    """One tritonserver process. ``start()`` then ``wait_ready()``; ``stop()`` ends it and its stubs."""

    repository: Path
    home: Path
    ports: TritonPorts = field(default_factory=TritonPorts)
    host: str = "127.0.0.1"
    models: tuple[str, ...] = ()
    log_path: Path | None = None
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.ports.http}"

    def command(self) -> list[str]:
        server_dir = prepare_server_dir(self.home)
        cmd = [
            str(server_dir / "bin" / "tritonserver"),
            f"--model-repository={Path(self.repository).resolve()}",
            f"--backend-directory={server_dir / 'backends'}",
            "--model-control-mode=explicit",
            f"--http-address={self.host}", f"--http-port={self.ports.http}",
            f"--grpc-address={self.host}", f"--grpc-port={self.ports.grpc}",
            f"--metrics-address={self.host}", f"--metrics-port={self.ports.metrics}",
            "--allow-metrics=true", "--allow-gpu-metrics=false",
            "--exit-timeout-secs=10",
            "--log-verbose=0",
        ]
        if (server_dir / "caches").is_dir():
            cmd.append(f"--cache-directory={server_dir / 'caches'}")
        cmd += [f"--load-model={m}" for m in self.models]
        return cmd + list(self.extra_args)

    def start(self) -> None:
        log_path = self.log_path or Path(self.home) / "logs" / f"tritonserver-{self.ports.http}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop(); appended: a restart keeps the crash
        self.process = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=server_environment(),
            start_new_session=True,
        )

    def _get(self, path: str, timeout: float = 2.0) -> int:
        try:
            with urllib.request.urlopen(self.http_url + path, timeout=timeout) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0

    def is_ready(self) -> bool:
        return self._get("/v2/health/ready") == 200

    def model_ready(self, name: str, version: int | None = None) -> bool:
        path = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/ready"
        return self._get(path) == 200

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.process
            if proc is None:
                raise TritonStartError("tritonserver was stopped while starting")
            if proc.poll() is not None:
                raise TritonStartError(f"tritonserver exited with {proc.returncode}:\n{self.log_tail()}")
            if self.is_ready() and all(self.model_ready(m) for m in self.models):
                return
            time.sleep(0.2)
        raise TritonStartError(f"tritonserver not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def _post(self, path: str, timeout: float = 120.0) -> None:
        req = urllib.request.Request(self.http_url + path, data=b"{}", method="POST")
        try:
            urllib.request.urlopen(req, timeout=timeout).close()
        except urllib.error.HTTPError as e:
            raise TritonStartError(f"{path} failed ({e.code}): {e.read().decode(errors='replace')}") from None

    def load(self, name: str) -> None:
        """Load or reload a model: new versions become READY before old ones are unloaded."""
        self._post(f"/v2/repository/models/{name}/load")

    def unload(self, name: str) -> None:
        self._post(f"/v2/repository/models/{name}/unload")

    def stop(self, timeout: float = 15.0) -> None:
        proc = self.process
        if proc is None:
            return
        stop_process_group(proc, timeout)  # Triton's stubs live in its process group
        self._log.close()
        self.process = None


def stop_process_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process group led by ``proc``, SIGKILL it after ``timeout``; no descendant outlives it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
