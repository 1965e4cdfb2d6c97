"""Zero downtime through the whole stack: a steady stream of inference requests
through the gateway while a new version is published, promoted and rolled back
with the CLI against the gateway's admin API. No request may fail, and every
response must come from the version that was ``current`` when it was routed."""

from __future__ import annotations

import ssl
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
from tests.support.stack import copy_repository, new_stack_ports

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "breast_cancer"


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory, model_repository_template: Path) -> Iterator[Stack]:
    """A stack of its own: these tests move breast_cancer's tags."""
    home = tmp_path_factory.mktemp("registry-stack")
    copy_repository(model_repository_template, home)
    s = Stack(home, new_stack_ports(), extra_env={"MEDINFER_REGISTRY_DRAIN_TIMEOUT_S": "20"})
    s.start()
    try:
        yield s
    finally:
        s.stop()


class Stream:
    """One client sending requests back to back (so the routing order is the response order)."""

    def __init__(self, stack: Stack) -> None:
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(stack.home / "tls" / "ca.pem")
        self.url = f"{stack.gateway_url}/v2/models/{MODEL}/infer"
        x = np.random.default_rng(0).uniform(0.05, 20, size=(2, 30)).astype(np.float32)
        self.body = orjson.dumps({"inputs": [{"name": "features", "datatype": "FP32", "shape": [2, 30],
                                              "data": x.ravel().tolist()}]})
        self.results: list[tuple[int, str | None, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                r = self.session.post(self.url, data=self.body, headers={"Content-Type": "application/json"},
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


def _cli(stack: Stack, *args: str):
    res = CliRunner().invoke(cli_app, ["models", "--gateway", stack.gateway_url, "--ca-file",
                                       str(stack.home / "tls" / "ca.pem"), *args])
    assert res.exit_code == 0, res.output
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
    metrics = requests.get(f"{stack.gateway_url}/metrics", verify=str(stack.home / "tls" / "ca.pem"), timeout=10).text
    assert f'medinfer_model_requests_total{{model="{MODEL}",version="2"}}' in metrics
