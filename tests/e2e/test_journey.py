"""A new user's journey, through the commands the README and docs hand out, run as written.

In a fresh folder laid out like a checkout: ``medinfer up`` (what ``make up`` runs) on ephemeral ports,
the curl it prints, ``medinfer token``, then the README's model lifecycle block (publish -> canary ->
rollout -> rollback -> promote -> list/history/drift -> audit verify -> audit export) while clients keep
calling: no request fails, the new version serves, and the audit chain verifies. Then every other
``bash test`` block of README.md and docs/*.md runs against the same stack (tests/support/doc_blocks.py).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from medinfer.shipped_models import build_model
from tests.support.client_load import ClientLoad
from tests.support.doc_blocks import DocBlock, checkout_like, doc_blocks, run_block
from tests.support.stack import copy_repository, new_stack_ports

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PATIENT = "MRN-0042"  # the README's audit export names this patient key


@dataclass
class Up:
    folder: Path
    env: dict[str, str]
    ports: dict[int, int]
    curl: str
    output: list[str]
    proc: subprocess.Popen

    def medinfer(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        r = subprocess.run(["medinfer", *args], cwd=self.folder, env=self.env, capture_output=True, text=True,
                           timeout=timeout)
        assert r.returncode == 0, f"medinfer {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r


README = ROOT / "README.md"


def _readme_blocks() -> list[DocBlock]:
    return [b for b in doc_blocks() if b.runnable and b.path == README]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory, model_repository_template: Path) -> Iterator[Up]:
    folder = checkout_like(tmp_path_factory.mktemp("journey") / "checkout")
    copy_repository(model_repository_template, folder / ".medinfer")  # prebuilt models; all other state fresh
    p = new_stack_ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDINFER_")}
    env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "MEDINFER_GATEWAY_PORT": str(p.gateway), "MEDINFER_GATEWAY_GRPC_PORT": str(p.gateway_grpc),
                "MEDINFER_PREPROCESS_PORT": str(p.preprocessor), "MEDINFER_TRITON_HTTP_PORT": str(p.triton.http),
                "MEDINFER_TRITON_GRPC_PORT": str(p.triton.grpc),
                "MEDINFER_TRITON_METRICS_PORT": str(p.triton.metrics),
                "MEDINFER_GATEWAY_METRICS_PORT": str(p.gateway_metrics),
                "MEDINFER_PREPROCESS_METRICS_PORT": str(p.preprocessor_metrics)})
    ports = {8443: p.gateway, 8444: p.gateway_grpc, 8445: p.gateway_metrics, 8080: p.preprocessor,
             8081: p.preprocessor_metrics, 8000: p.triton.http, 8001: p.triton.grpc, 8002: p.triton.metrics}
    proc = subprocess.Popen(["medinfer", "up"], cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    curl = None
    try:
        deadline = time.monotonic() + 240
        while curl is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.strip().startswith("curl "):
                curl = line.strip()
        assert curl, "".join(output)
        threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True).start()  # keep draining
        yield Up(folder, env, ports, curl, output, proc)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0, "".join(output[-30:])


def test_journey_through_the_readme(up: Up) -> None:
    # the printed curl, pasted as is
    pasted = subprocess.run(shlex.split(up.curl), cwd=up.folder / "examples", capture_output=True, text=True,
                            timeout=60)
    answer = json.loads(pasted.stdout)
    assert answer["model"] == "breast_cancer" and 0 <= answer["outputs"][0]["data"][0] <= 1, pasted.stdout

    # README "Using it": a token, then steady clients (one patient key, as an EHR integration sends)
    token = up.medinfer("token", "--scope", "infer models:read").stdout.strip()
    load = ClientLoad(f"https://127.0.0.1:{up.ports[8443]}/infer",
                      (ROOT / "examples" / "infer_breast_cancer.json").read_bytes(), token,
                      up.folder / ".medinfer" / "tls" / "ca.pem", threads=2, per_thread_rps=25,
                      headers={"X-Patient-Key": PATIENT}).start()
    build_model("breast_cancer", up.folder / "path" / "to" / "model_folder")  # "retrained" (deterministic)
    try:
        time.sleep(2)
        (block,) = _readme_blocks()
        started = time.monotonic()
        result = run_block(block, cwd=up.folder, env=up.env, ports=up.ports, timeout=240)
        took = time.monotonic() - started
        time.sleep(1.5)
    finally:
        answers = load.stop()
    failed = load.failed()
    print(f"journey: README lifecycle block in {took:.0f}s; {len(answers)} requests, {len(failed)} failed")
    assert len(answers) > 300 and failed == [], f"{len(failed)} of {len(answers)} failed: {failed[:3]}"
    assert load.served() == {"1", "2"}
    assert answers[-1].version == "2", "promoted at the end of the block"
    assert "OK:" in result.stdout and "chain intact" in result.stdout, result.stdout
    exported = json.loads(result.stdout[result.stdout.index("OK:"):].split("\n", 1)[1])
    assert exported["report"] == "accounting-of-disclosures"
    assert 0 < exported["count"] <= len(answers)
    after = json.loads(up.medinfer("audit", "export", "--patient-key", PATIENT).stdout)
    assert after["count"] == len(answers), "every answered request for the patient is a disclosure on record"

    history = json.loads(up.medinfer("models", "history", "breast_cancer", "-o", "json").stdout)
    kinds = [h["kind"] for h in history]
    assert kinds[-1] == "promote" and "rollback" in kinds and "publish" in kinds
    assert any(h["kind"] == "promote" and h["actor"] for h in history)
    verify = up.medinfer("audit", "verify").stdout
    assert verify.startswith("OK:"), verify


@pytest.mark.parametrize("block", [b for b in doc_blocks() if b.runnable and b.path != README],
                         ids=lambda b: b.where.replace("/", "_"))
def test_doc_block_runs_as_written(up: Up, block: DocBlock) -> None:
    if not (up.folder / "path" / "to" / "model_folder" / "model.onnx").is_file():
        build_model("breast_cancer", up.folder / "path" / "to" / "model_folder")
    run_block(block, cwd=up.folder, env=up.env, ports=up.ports, timeout=240)
