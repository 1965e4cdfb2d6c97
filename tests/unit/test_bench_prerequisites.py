"""What the README's benchmark lines need is installed by CI's package list: perf_analyzer starts
(its shared libraries resolve, libb64 from Debian) with the environment bench_protocols.py gives it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from bench_protocols import perf_analyzer_env  # noqa: E402


def _apt_packages() -> set[str]:
    lines = (ROOT / ".ci" / "apt-packages.txt").read_text().splitlines()
    return {ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")}


def test_perf_analyzer_starts_with_the_bench_environment() -> None:
    pa = shutil.which("perf_analyzer", path=str(Path(sys.executable).parent))
    assert pa, "perf_analyzer ships in the tritonclient wheel"
    env = perf_analyzer_env()
    ldd = subprocess.run(["ldd", pa], env=env, capture_output=True, text=True, timeout=30)
    missing = [ln.strip() for ln in ldd.stdout.splitlines() if "not found" in ln]
    assert missing == [], f"unresolved libraries (add their Debian package to .ci/apt-packages.txt): {missing}"
    r = subprocess.run([pa, "--help"], env=env, capture_output=True, text=True, timeout=30)
    assert "error while loading shared libraries" not in r.stderr + r.stdout


def test_the_benchmarks_system_tools_are_in_the_ci_package_list() -> None:
    assert {"libb64-0d", "wrk"} <= _apt_packages()
