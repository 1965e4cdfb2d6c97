"""Zero downtime through the whole stack: a steady stream of inference requests
through the gateway while a new version is published, promoted and rolled back
with the CLI against the gateway's admin API. No request may fail, and every
response must come from the version that was ``current`` when it was routed."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
import requests
from typer.testing import CliRunner

from medinfer.cli.main import app as cli_app
from medinfer.shipped_models import build_model
from medinfer.stack import Stack
from tests.support.stack import copy_repository, dev_auth_header, new_stack_ports

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "breast_cancer"


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory, model_repository_template: Path) -> Iterator[Stack]:
    """A stack of its own: these tests move breast_cancer's tags."""
    home = tmp_path_factory.mktemp("registry-stack")
    copy_repository(model_repository_template, home)
    s = Stack(home, new_stack_ports(), extra_env={"MEDINFER_REGISTRY_DRAIN_TIMEOUT_S": "20",
                                                 "MEDINFER_GATEWAY_RATE_LIMIT_RPS": "100000",
                                                 "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "100000"})
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _v2_body(name: str, x: np.ndarray) -> bytes:
    return orjson.dumps({"inputs": [{"name": name, "datatype": "FP32", "shape": list(x.shape),
                                     "data": x.ravel().tolist()}]})


class Stream:
    """One client sending requests back to back (so the routing order is the response order)."""

    def __init__(self, stack: Stack, model: str = MODEL, bodies: list[bytes] | None = None) -> None:
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(stack.home / "tls" / "ca.pem")
        self.session.headers.update(dev_auth_header(stack.home))
        self.url = f"{stack.gateway_url}/v2/models/{model}/infer"
        x = np.random.default_rng(0).uniform(0.05, 20, size=(2, 30)).astype(np.float32)
        self.bodies = bodies or [_v2_body("features", x)]
        self.results: list[tuple[int, str | None, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            try:
                r = self.session.post(self.url, data=self.bodies[i % len(self.bodies)], headers={"Content-Type": "application/json"},
                                      timeout=30)
                self.results.append((r.status_code, r.headers.get("X-Model-Version"), r.headers.get("X-Model-Tag")))
            except requests.RequestException as exc:
                self.results.append((0, None, type(exc).__name__))

    def start(self) -> Stream:
        self._thread.start()
        return self

    def stop(self) -> list[tuple[int, str | None, str | None]]:
        self._stop.set()
        self._thread.join(30)
        self.session.close()
        return self.results


def _cli(stack: Stack, *args: str, code: int = 0):
    token = dev_auth_header(stack.home, "models:read models:write")["Authorization"].split(" ", 1)[1]
    res = CliRunner().invoke(cli_app, ["models", "--gateway", stack.gateway_url, "--ca-file",
                                       str(stack.home / "tls" / "ca.pem"), "--token", token, *args])
    assert res.exit_code == code, res.output
    return orjson.loads(res.stdout)


def _triton_ready(stack: Stack, version: int) -> bool:
    try:
        with urllib.request.urlopen(f"{stack.triton_url}/v2/models/{MODEL}/versions/{version}/ready", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def _wait(pred, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_promote_and_rollback_through_the_gateway_lose_no_request(own_stack: Stack, tmp_path: Path) -> None:
    stack = own_stack
    model = _cli(stack, "show", MODEL)
    assert model["current"] == 1, "the gateway adopted the shipped version at start-up"
    src = tmp_path / "v2"
    build_model(MODEL, src)
    assert _cli(stack, "publish", str(src), "--name", MODEL, "--reason", "retrained")["version"] == 2
    assert not _triton_ready(stack, 2), "publishing loads nothing"

    streams = [Stream(stack).start() for _ in range(2)]
    time.sleep(1.5)
    promoted = _cli(stack, "promote", MODEL, "2", "--reason", "approved")
    assert promoted["current"] == 2 and promoted["previous"] == 1
    assert _wait(lambda: not _triton_ready(stack, 1)), "v1 is unloaded once drained"
    time.sleep(1.5)
    assert _cli(stack, "rollback", MODEL, "--reason", "clinician report")["current"] == 1
    time.sleep(1.5)
    results = [s.stop() for s in streams]

    total = sum(len(r) for r in results)
    print(f"zero-downtime: {total} requests, per stream {[len(r) for r in results]}")
    failed = [x for r in results for x in r if x[0] != 200]
    assert total > 60 and failed == [], f"{len(failed)} of {total} failed: {failed[:5]}"
    for r in results:
        versions = [v for _, v, _ in r]
        assert {t for _, _, t in r} == {"current"}
        # One client, back to back: the version sequence is 1...1 2...2 1...1 (no interleaving).
        changes = [versions[i] for i in range(len(versions)) if i == 0 or versions[i] != versions[i - 1]]
        assert changes == ["1", "2", "1"], changes
    assert _triton_ready(stack, 1) and _wait(lambda: not _triton_ready(stack, 2))
    history = [(h["kind"], h["before"], h["after"]) for h in _cli(stack, "history", MODEL)]
    assert history[-3:] == [("publish", None, 2), ("promote", 1, 2), ("rollback", 2, 1)]
    metrics = requests.get(f"{stack.gateway_metrics_url}/metrics", timeout=10).text
    assert f'medinfer_model_requests_total{{model="{MODEL}",version="2"}}' in metrics


def test_rollout_through_the_gateway_rolls_a_broken_canary_back(own_stack: Stack, tmp_path: Path) -> None:
    """The CLI measures the canary from the gateway's /metrics and rolls back by itself."""
    from tests.support.onnx_models import flaky, linear, write_folder

    stack, name = own_stack, "rollout_demo"
    _cli(stack, "publish", str(write_folder(tmp_path / "good", linear)), "--name", name)
    _cli(stack, "promote", name, "1", "--reason", "baseline")
    _cli(stack, "publish", str(write_folder(tmp_path / "bad", flaky)), "--name", name)
    rng = np.random.default_rng(3)
    good = [_v2_body("x", rng.random((1, 4)).astype(np.float32)) for _ in range(3)]
    bad = np.array([[5.0, 0.1, 0.2, 0.3]], dtype=np.float32)  # breaks the flaky graph only
    stream = Stream(stack, name, good + [_v2_body("x", bad)]).start()
    try:
        out = _cli(stack, "rollout", name, "2", "--steps", "25,100", "--max-error-rate", "0.05", "--interval", "2",
                   "--min-requests", "10", "--max-p99-ms", "5000", "--metrics-url",
                   stack.gateway_metrics_url + "/metrics", code=3)
    finally:
        results = stream.stop()
    assert out["outcome"] == "rolled_back" and "error rate" in out["reason"]
    model = _cli(stack, "show", name)
    assert model["current"] == 1 and model["canary"] is None
    last = _cli(stack, "history", name)[-1]
    assert last["kind"] == "auto_rollback" and "error rate" in last["reason"] and last["before"] == 2
    assert any(status != 200 for status, _, _ in results)
    text = requests.get(f"{stack.gateway_metrics_url}/metrics", timeout=10).text
    from medinfer.registry.rollout import parse_version_metrics

    per_version = parse_version_metrics(text, name)
    assert per_version[1].requests > 0 and per_version[1].errors == 0, "the stable version never failed"
    assert per_version[2].errors > 0
    assert _wait(lambda: not _triton_ready_model(stack, name, 2))


def _triton_ready_model(stack: Stack, name: str, version: int) -> bool:
    try:
        with urllib.request.urlopen(f"{stack.triton_url}/v2/models/{name}/versions/{version}/ready", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def test_sticky_canary_keeps_each_client_on_one_version(own_stack: Stack, tmp_path: Path) -> None:
    """A sticky canary assigns by the caller's identity (issuer and client id): REST /v2, /infer-style
    and gRPC requests of one client all land on one version, while clients as a group are split."""
    import tritonclient.grpc as grpcclient

    from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token
    from tests.support.onnx_models import linear, write_folder

    stack, name = own_stack, "sticky_demo"
    _cli(stack, "publish", str(write_folder(tmp_path / "v1", linear)), "--name", name)
    _cli(stack, "promote", name, "1", "--reason", "baseline")
    _cli(stack, "publish", str(write_folder(tmp_path / "v2", linear)), "--name", name)
    _cli(stack, "canary", name, "2", "--weight", "50", "--sticky", "--reason", "sticky test")
    keys = ensure_dev_keys(stack.home)
    body = _v2_body("x", np.ones((1, 4), dtype=np.float32))
    seen: dict[str, set[str]] = {}
    for i in range(12):
        token = mint_dev_token(keys, "infer", client_id=f"ehr-{i}")
        session = requests.Session()
        session.trust_env = False
        session.verify = str(stack.home / "tls" / "ca.pem")
        for _ in range(5):
            r = session.post(f"{stack.gateway_url}/v2/models/{name}/infer", data=body, timeout=30,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            assert r.status_code == 200, r.text
            seen.setdefault(f"ehr-{i}", set()).add(r.headers["X-Model-Version"])
        if i < 3:  # the gRPC service resolves with the same identity
            client = grpcclient.InferenceServerClient(f"127.0.0.1:{stack.ports.gateway_grpc}", ssl=True,
                                                      root_certificates=str(stack.home / "tls" / "ca.pem"))
            try:
                inp = grpcclient.InferInput("x", [1, 4], "FP32")
                inp.set_data_from_numpy(np.ones((1, 4), dtype=np.float32))
                for _ in range(3):
                    res = client.infer(name, [inp], headers={"authorization": f"Bearer {token}"}, client_timeout=15)
                    seen[f"ehr-{i}"].add(res.get_response().model_version)
            finally:
                client.close()
    assert all(len(v) == 1 for v in seen.values()), seen  # each client stays on one version
    assert {next(iter(v)) for v in seen.values()} == {"1", "2"}  # and the clients are split between them
    _cli(stack, "canary", name, "--off")
