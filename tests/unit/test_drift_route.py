"""``GET /admin/models/{name}/drift`` and the ``models drift`` CLI rendering, in-process (plain ASGI calls)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import orjson
import typer
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sklearn.datasets import load_breast_cancer
from typer.testing import CliRunner

from medinfer.cli.drift import register, render_drift
from medinfer.common.http import install_problem_handlers
from medinfer.gateway.routes import drift
from medinfer.gateway.settings import GatewaySettings
from medinfer.monitoring import DriftConfig, DriftMetrics, DriftMonitor, MonitorConfig, build_tabular_profile
from medinfer.security import build_security
from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token


async def _get(app, path: str, token: str | None = None) -> tuple[int, dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"authorization", f"Bearer {token}".encode())] if token else [], "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 1), "root_path": "", "app": app}
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], orjson.loads(body)


def _app(home: Path) -> FastAPI:
    d = load_breast_cancer()
    names = [n.replace(" ", "_") for n in d.feature_names]
    mon = DriftMonitor(MonitorConfig(drift=DriftConfig(window=200, min_samples=100)),
                       DriftMetrics(CollectorRegistry()))
    mon.register("breast_cancer", "1", build_tabular_profile(d.data[:400], names), policy="flag")
    shifted = d.data[400:].copy()
    shifted[:, 0] /= 10.0
    mon.record("breast_cancer", "1", shifted)
    mon.check("breast_cancer", "1", np.full(30, np.nan))
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(drift.router)
    app.state.drift_monitor = mon
    app.state.security = build_security(GatewaySettings(home=home, trust_dev_key=True, audit_enabled=False))
    return app


def test_drift_route_returns_snapshot_and_404_for_unmonitored_models(tmp_path: Path):
    app = _app(tmp_path)
    keys = ensure_dev_keys(tmp_path)
    token = mint_dev_token(keys, "models:read", ttl_s=600)
    assert asyncio.run(_get(app, "/admin/models/breast_cancer/drift"))[0] == 401
    assert asyncio.run(_get(app, "/admin/models/breast_cancer/drift", mint_dev_token(keys, "infer", ttl_s=600)))[0] == 403
    status, doc = asyncio.run(_get(app, "/admin/models/breast_cancer/drift", token))
    assert status == 200 and doc["model"] == "breast_cancer"
    (v,) = doc["versions"]
    assert v["version"] == "1" and v["drift_detected"] is True and "mean_radius" in v["drifted_features"]
    assert v["ood_counts"] == {"non-finite": 1} and v["policy"] == "flag"
    status, doc = asyncio.run(_get(app, "/admin/models/nope/drift", token))
    assert status == 404 and doc["code"] == "model-not-found"
    text = render_drift({"model": "breast_cancer", "versions": [v]})
    assert "DRIFT" in text and "mean_radius" in text and "non-finite=1" in text
    assert text.index("mean_radius") < text.index("mean_texture")  # drifted features first


def test_cli_reports_an_unreachable_gateway():
    cli = typer.Typer()
    register(cli)
    cli.command("noop")(lambda: None)  # a group with two commands keeps 'drift' as a subcommand
    res = CliRunner().invoke(cli, ["drift", "breast_cancer", "--gateway", "http://127.0.0.1:9"])
    assert res.exit_code == 2
