"""Fixtures for the offline checks of deploy/: tool paths, rendered overlays, checkov.

Every tool comes from the project's own install (no skips): the Python wheels
(kubectl, kubernetes-validate, hadolint, actionlint) from requirements-dev.txt into the
venv running pytest, Debian's prometheus/graphviz/shellcheck from
.ci/apt-packages.txt, and checkov into .venv-checkov (``make checkov-venv``). The
checkov venv is built in the background while the other tests run, and the
checkov tests are moved to the end of the session so they rarely wait for it.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = {
    "base": DEPLOY / "base",
    "dev": DEPLOY / "overlays" / "dev",
    "prod": DEPLOY / "overlays" / "prod",
    "prod-gpu": DEPLOY / "overlays" / "prod-gpu",
}
K8S_VERSION = "1.30.0"
CHECKOV_VENV = ROOT / ".venv-checkov"
_CHECKOV_KEY = pytest.StashKey[subprocess.Popen]()


def venv_tool(name: str) -> str:
    """A tool installed by a wheel from requirements-dev.txt, next to this interpreter."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise RuntimeError(f"{name} missing from {path.parent}: run `make install` (it is pinned in requirements-dev.txt)")
    return str(path)


def system_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not on PATH: .ci/run installs it from .ci/apt-packages.txt")
    return found


def run(cmd: list[str], cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, check=False, capture_output=True, text=True, timeout=timeout)


def load_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def checkov_ready() -> bool:
    return (CHECKOV_VENV / ".installed").exists() and (CHECKOV_VENV / "bin" / "checkov").exists()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    checkov = [i for i in items if "checkov" in i.nodeid]
    if not checkov:
        return
    items[:] = [i for i in items if i not in checkov] + checkov
    if not checkov_ready():
        log = open(ROOT / ".venv-checkov.log", "wb")  # noqa: SIM115 - handed to the child
        config.stash[_CHECKOV_KEY] = subprocess.Popen(
            ["make", "--no-print-directory", "checkov-venv"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()


@pytest.fixture(scope="session")
def checkov(pytestconfig: pytest.Config) -> str:
    """The checkov executable, waiting for the background install if one is running."""
    proc = pytestconfig.stash.get(_CHECKOV_KEY, None)
    if proc is not None:
        rc = proc.wait(timeout=900)
        assert rc == 0, (ROOT / ".venv-checkov.log").read_text()[-3000:]
    elif not checkov_ready():
        with open(ROOT / ".venv-checkov.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            out = run(["make", "--no-print-directory", "checkov-venv"], timeout=900)
            assert out.returncode == 0, out.stdout + out.stderr
    return str(CHECKOV_VENV / "bin" / "checkov")


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Each overlay rendered by ``kubectl kustomize`` into a file."""
    kubectl = venv_tool("kubectl")
    out_dir = tmp_path_factory.mktemp("rendered")
    files = {}
    for name, path in OVERLAYS.items():
        res = run([kubectl, "kustomize", str(path)])
        assert res.returncode == 0, f"kubectl kustomize {path} failed:\n{res.stderr}"
        files[name] = out_dir / f"{name}.yaml"
        files[name].write_text(res.stdout)
    yield files


@pytest.fixture(scope="session")
def rendered_docs(rendered: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    return {name: load_docs(path.read_text()) for name, path in rendered.items()}
