"""The admin API on a real uvicorn server and the CLI in both modes (local and --gateway)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
import uvicorn
from fastapi import FastAPI, Request
from typer.testing import CliRunner

from medinfer.cli.main import app as cli_app
from medinfer.common.errors import Forbidden
from medinfer.common.edge import EdgeMiddleware
from medinfer.common.http import install_problem_handlers
from medinfer.gateway.routes.admin_models import create_router
from medinfer.registry import RegistrySettings, build_registry
from tests.support.onnx_models import linear, write_folder
from tests.support.ports import bound_socket

pytestmark = pytest.mark.integration

TOKEN = "test-token-for-models-write"


class Principal:
    def __init__(self, subject: str) -> None:
        self.subject = subject


def require(scope: str):
    """A stand-in for the security dependency: the token maps to a principal with scopes."""

    def dep(request: Request) -> Principal:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            raise Forbidden(f"requires scope {scope}")
        return Principal("ci-bot")

    return dep


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, object]]:
    reg = build_registry(RegistrySettings(home=tmp_path / "srv", drain_grace_s=0))
    app = FastAPI()
    app.state.registry = reg
    install_problem_handlers(app)
    app.include_router(create_router(read=require("models:read"), write=require("models:write")))
    app.add_middleware(EdgeMiddleware, max_body_bytes=1 << 20)
    sock = bound_socket()
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    th = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", reg
    finally:
        srv.should_exit = True
        th.join(10)
        sock.close()
        reg.store.engine.dispose()


def cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli_app, list(args), env=env)


def test_cli_through_the_admin_api(server, tmp_path):
    url, reg = server
    src = write_folder(tmp_path / "m", linear, card="# card")
    remote = ["models", "--gateway", url, "--token", TOKEN]
    r = cli(*remote, "publish", str(src), "--name", "demo", "--reason", "ci")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["version"] == 1
    r = cli(*remote, "publish", str(src), "--name", "demo", "--version", "1")
    assert r.exit_code == 1 and "409 version-exists" in r.output
    assert cli(*remote, "promote", "demo", "1", "--reason", "go").exit_code == 0
    r = cli(*remote, "history", "demo", "-o", "json")
    hist = json.loads(r.stdout)
    assert [(h["kind"], h["actor"]) for h in hist] == [("publish", "ci-bot"), ("promote", "ci-bot")]
    assert hist[1]["reason"] == "go"
    r = cli(*remote, "promote", "demo", "5")
    assert r.exit_code == 1 and "404 model-not-found" in r.output
    r = cli("models", "--gateway", url, "--token", "wrong", "list")
    assert r.exit_code == 1 and "403" in r.output
    assert reg.get_model("demo")["current"] == 1


def test_admin_api_validation_and_problem_json(server, tmp_path):
    url, _ = server
    http = urllib3.PoolManager()
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    r = http.request("POST", f"{url}/admin/models/demo/promote", body=b'{"version": 0}', headers=auth)
    assert r.status == 422 and r.headers["content-type"] == "application/problem+json"
    r = http.request(
        "PUT", f"{url}/admin/models/demo/canary", body=b'{"version": 2, "weight": 500}', headers=auth
    )
    assert r.status == 422
    r = http.request(
        "POST",
        f"{url}/admin/models/demo/versions",
        headers={"Authorization": f"Bearer {TOKEN}"},
        fields={"model": ("model.onnx", b"garbage", "application/octet-stream")},
    )
    assert r.status == 422 and "not an ONNX model" in json.loads(r.data)["detail"]
    r = http.request("GET", f"{url}/admin/models/nosuch", headers=auth)
    assert r.status == 404 and json.loads(r.data)["code"] == "model-not-found"


def test_cli_local_mode_and_bad_input(tmp_path):
    env = {"MEDINFER_HOME": str(tmp_path / "home"), "MEDINFER_REGISTRY_DRAIN_GRACE_S": "0"}
    src = write_folder(tmp_path / "m", linear)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    r = cli("models", "validate", str(src), env=env)
    assert r.exit_code == 0 and json.loads(r.stdout)["validation"]["passed"] is True
    r = cli("models", "publish", str(bad), "--name", "demo", env=env)
    assert r.exit_code == 1 and "422" in r.output
    assert not (tmp_path / "home" / "models" / "demo").exists()
    assert cli("models", "--actor", "alice", "publish", str(src), "--name", "demo", env=env).exit_code == 0
    r = cli("models", "canary", "demo", "1", "--weight", "10", env=env)
    assert r.exit_code == 1 and "no-current" in r.output
    r = cli(
        "models", "rollout", "demo", "1", "--steps", "10,5", "--metrics-url", "http://127.0.0.1:1/m", env=env
    )
    assert r.exit_code == 1 and "steps" in r.output
    r = cli("models", "history", "demo", "-o", "json", env=env)
    assert json.loads(r.stdout)[0]["actor"] == "alice"
    r = cli("models", "bluegreen", "switch", "--to", "purple", env=env)
    assert r.exit_code == 1 and "slot" in r.output
