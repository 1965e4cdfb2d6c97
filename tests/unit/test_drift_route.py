"""``GET /admin/models/{name}/drift`` and the ``models drift`` CLI rendering, in-process (plain ASGI calls)."""

from __future__ import annotations

import asyncio

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
from medinfer.monitoring import DriftConfig, DriftMetrics, DriftMonitor, MonitorConfig, build_tabular_profile


async def _get(app, path: str) -> tuple[int, dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [], "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 1), "root_path": "", "app": app}
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], orjson.loads(body)


def _app() -> FastAPI:
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
    return app


def test_drift_route_returns_snapshot_and_404_for_unmonitored_models():
    app = _app()
    status, doc = asyncio.run(_get(app, "/admin/models/breast_cancer/drift"))
    assert status == 200 and doc["model"] == "breast_cancer"
    (v,) = doc["versions"]
    assert v["version"] == "1" and v["drift_detected"] is True and "mean_radius" in v["drifted_features"]
    assert v["ood_counts"] == {"non-finite": 1} and v["policy"] == "flag"
    status, doc = asyncio.run(_get(app, "/admin/models/nope/drift"))
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
