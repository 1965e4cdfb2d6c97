"""`medinfer up` (what `make up` runs) reaches ready, serves the printed curl, and leaves no orphan on Ctrl-C."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.stack import copy_repository, new_stack_ports

pytestmark = pytest.mark.e2e


def _processes_mentioning(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().decode(errors="replace")
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read().decode(errors="replace")
        except OSError:
            continue
        if marker in cmd or marker in env:
            found.append(int(pid))
    return found


def test_up_serves_the_printed_curl_and_stops_cleanly(tmp_path: Path, model_repository_template: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    copy_repository(model_repository_template, home)
    ports = new_stack_ports()
    env = {
        **os.environ, "MEDINFER_HOME": str(home), "MEDINFER_GATEWAY_PORT": str(ports.gateway),
        "MEDINFER_PREPROCESS_PORT": str(ports.preprocessor), "MEDINFER_TRITON_HTTP_PORT": str(ports.triton.http),
        "MEDINFER_TRITON_GRPC_PORT": str(ports.triton.grpc), "MEDINFER_TRITON_METRICS_PORT": str(ports.triton.metrics),
        "MEDINFER_GATEWAY_GRPC_PORT": str(ports.gateway_grpc),
        "MEDINFER_GATEWAY_METRICS_PORT": str(ports.gateway_metrics),
        "MEDINFER_PREPROCESS_METRICS_PORT": str(ports.preprocessor_metrics),
    }
    medinfer = str(Path(sys.executable).parent / "medinfer")
    proc = subprocess.Popen([medinfer, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            cwd=Path(__file__).resolve().parents[2], text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.strip().startswith("curl "):
                break
        curl = next((ln.strip() for ln in lines if ln.strip().startswith("curl ")), None)
        assert curl, "".join(lines)
        args = shlex.split(curl)
        url = next(a for a in args if a.startswith("https://"))
        cacert = args[args.index("--cacert") + 1]
        data = Path(args[args.index("-d") + 1].lstrip("@")).read_bytes()
        auth = next(args[i + 1] for i, a in enumerate(args) if a == "-H" and args[i + 1].startswith("Authorization:"))
        headers = {"Content-Type": "application/json", "Authorization": auth.split(":", 1)[1].strip()}
        r = requests.post(url, data=data, headers=headers, verify=cacert, timeout=30)
        assert r.status_code == 200, r.text
        prob = r.json()["outputs"][0]["data"][0]
        assert 0.0 <= prob <= 1.0
        assert re.search(r"gateway ready at https://127\.0\.0\.1:\d+", "".join(lines))
        assert _processes_mentioning(str(home)), "the stack's processes should be running"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    time.sleep(0.5)
    assert _processes_mentioning(str(home)) == []
