"""The README's model lifecycle, typed as written (local mode, no ``--gateway``), while a stack
runs on the same ``MEDINFER_HOME`` and clients keep calling: nothing fails, the new version serves.

Local commands find the running gateway (``<home>/run/gateway.json``) and send the change to it,
so one process owns Triton's loads and unloads and drains its own in-flight requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from medinfer.shipped_models import build_model
from medinfer.stack import Stack, running_gateway
from tests.support.client_load import ClientLoad
from tests.support.stack import copy_repository, dev_auth_header, new_stack_ports

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MEDINFER = str(Path(sys.executable).parent / "medinfer")


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory, model_repository_template: Path) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("readme-local")
    copy_repository(model_repository_template, home)
    s = Stack(home, new_stack_ports(), models=("breast_cancer", "image_quality"),
              extra_env={"MEDINFER_GATEWAY_RATE_LIMIT_RPS": "100000", "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "100000"})
    s.start()
    try:
        yield s
    finally:
        s.stop()
    assert running_gateway(home) is None, "a stopped stack withdraws its gateway"


def medinfer(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A user's shell: MEDINFER_HOME set, no --gateway, no token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDINFER_")}
    env["MEDINFER_HOME"] = str(home)
    r = subprocess.run([MEDINFER, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, f"medinfer {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def test_readme_local_publish_promote_rollback_drop_no_request(local_stack: Stack, tmp_path: Path) -> None:
    stack = local_stack
    assert running_gateway(stack.home) is not None
    folder = tmp_path / "model_folder"
    build_model("breast_cancer", folder)
    token = dev_auth_header(stack.home, "infer")["Authorization"].split(" ", 1)[1]
    load = ClientLoad(stack.gateway_url + "/infer", (ROOT / "examples" / "infer_breast_cancer.json").read_bytes(),
                      token, stack.home / "tls" / "ca.pem").start()
    try:
        time.sleep(1.0)
        published = json.loads(medinfer(stack.home, "models", "publish", str(folder), "--name", "breast_cancer",
                                        "--reason", "retrained on Q3 data", "-o", "json", cwd=tmp_path).stdout)
        version = published["version"]
        assert version == 2
        medinfer(stack.home, "models", "promote", "breast_cancer", str(version), "--reason", "CAB-142 approved",
                 cwd=tmp_path)
        deadline = time.monotonic() + 15
        while str(version) not in load.served() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.5)
        medinfer(stack.home, "models", "rollback", "breast_cancer", "--reason", "clinician report #77", cwd=tmp_path)
        time.sleep(1.5)
    finally:
        answers = load.stop()
    failed = load.failed()
    print(f"readme local promotion: {len(answers)} requests, {len(failed)} failed")
    assert len(answers) > 40 and failed == [], f"{len(failed)} of {len(answers)} failed: {failed[:3]}"
    assert load.served() == {"1", "2"}, "the promoted version served, then the rollback's"
    assert answers[-1].version == "1"
    history = json.loads(medinfer(stack.home, "models", "history", "breast_cancer", "-o", "json",
                                  cwd=tmp_path).stdout)
    assert [(h["kind"], h["before"], h["after"]) for h in history][-3:] == [
        ("publish", None, 2), ("promote", 1, 2), ("rollback", 2, 1)]


def test_image_inference_follows_a_promotion_without_restarting_the_preprocessor(local_stack: Stack,
                                                                                tmp_path: Path) -> None:
    """The issue's commands: publish the repository's own image_quality folder, promote it, send CT_small."""
    import base64

    import requests
    from pydicom.data import get_testdata_file

    stack = local_stack
    folder = stack.home / "models" / "image_quality" / "1"
    published = json.loads(medinfer(stack.home, "models", "publish", str(folder), "--name", "image_quality",
                                    "-o", "json", cwd=tmp_path).stdout)
    version = published["version"]
    medinfer(stack.home, "models", "promote", "image_quality", str(version), cwd=tmp_path)
    dicom = base64.b64encode(Path(get_testdata_file("CT_small.dcm")).read_bytes()).decode()
    session = requests.Session()
    session.trust_env = False
    session.verify = str(stack.home / "tls" / "ca.pem")
    session.headers.update(dev_auth_header(stack.home, "infer"))
    for body in ({"model": "image_quality", "input": dicom},
                 {"model": "image_quality", "version": version, "input": dicom}):
        r = session.post(stack.gateway_url + "/infer", json=body, timeout=60)
        assert r.status_code == 200, r.text
        assert str(r.json()["version"]) == str(version)
