"""``medinfer up`` and ``medinfer status``."""

from __future__ import annotations

import json
import shlex
import signal
import ssl
import sys
import time
import urllib.request
from pathlib import Path

import typer

from medinfer.gateway.settings import GatewaySettings
from medinfer.preprocess.settings import PreprocessSettings
from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token
from medinfer.shipped_models import project_root
from medinfer.stack import Stack, StackError, StackPorts
from medinfer.triton.server import TritonPorts, TritonStartError
from medinfer.triton.settings import TritonSettings

__all__ = ["register"]


def _ports() -> tuple[StackPorts, GatewaySettings]:
    gw, pre, tri = GatewaySettings(), PreprocessSettings(), TritonSettings()
    return StackPorts(gw.port, pre.port, TritonPorts(tri.http_port, tri.grpc_port, tri.metrics_port), gw.grpc_port,
                      gateway_metrics=gw.metrics_port, preprocessor_metrics=pre.metrics_port), gw


def _example_body(stack: Stack) -> str:
    """``-d`` for the printed curl, valid from any folder: the repository's example by absolute path,
    or (installed without the repository) a record of the model's training means."""
    example = project_root() / "examples" / "infer_breast_cancer.json"
    if example.is_file():
        return "@" + shlex.quote(str(example))
    meta = stack.repository.metadata("breast_cancer", 1)
    record = {f["name"]: round(float(f["mean"]), 6) for f in meta["features"]}
    return shlex.quote(json.dumps({"model": "breast_cancer", "input": record}, separators=(",", ":")))


def _curl(stack: Stack) -> str:
    tls = "" if stack.insecure_http else f"--cacert {shlex.quote(str(stack.home / 'tls' / 'ca.pem'))} "
    token = mint_dev_token(ensure_dev_keys(stack.home), "infer models:read", ttl_s=3600)
    return (f"curl -sS {tls}{stack.gateway_url}/infer -H 'Content-Type: application/json' "
            f"-H 'Authorization: Bearer {token}' -d {_example_body(stack)}")


def up(insecure_http: bool = typer.Option(False, help="Serve plain HTTP (development only).")) -> None:
    """Build missing models, then run tritonserver, the preprocessor and the gateway until Ctrl-C."""
    ports, gw = _ports()
    stack = Stack(gw.home, ports, insecure_http=insecure_http or gw.insecure_http,
                  report=lambda message: typer.echo(f"medinfer: {message}"),
                  on_event=lambda line: typer.echo(f"medinfer: {line}", err=True))
    stopping = False

    def _stop(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    typer.echo("medinfer: starting the local stack (tritonserver, preprocessor, gateway) ...")
    try:
        stack.start()
    except (StackError, TritonStartError) as exc:
        typer.echo(f"medinfer: start-up failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"medinfer: gateway ready at {stack.gateway_url} (KServe v2 gRPC on 127.0.0.1:{ports.gateway_grpc})")
    typer.echo(f"  triton http {stack.triton_url}  grpc 127.0.0.1:{ports.triton.grpc}  "
               f"metrics 127.0.0.1:{ports.triton.metrics}  preprocessor {stack.preprocessor_url}")
    typer.echo(f"  metrics (operations ports, plain HTTP): gateway {stack.gateway_metrics_url}/metrics  "
               f"preprocessor {stack.preprocessor_metrics_url}/metrics")
    typer.echo("Try a real inference:")
    typer.echo("  " + _curl(stack))
    typer.echo(f"Web console (development login; trust {stack.home / 'tls' / 'ca.pem'} or accept the dev "
               f"certificate): {stack.gateway_url}/console/")
    activate = Path(sys.prefix) / "bin" / "activate"
    if activate.is_file():  # the medinfer command (models, token, audit) lives in this virtualenv
        typer.echo(f"In another shell: source {shlex.quote(str(activate))}  (then medinfer models list, ...)")
    typer.echo("Ctrl-C stops every process. If tritonserver exits it is restarted (with backoff); meanwhile the "
               "gateway answers 503.")
    code = 0
    try:
        while not stopping:
            failed = stack.failed_child()
            if failed:
                typer.echo(f"medinfer: {failed} exited; stopping the stack", err=True)
                code = 1
                break
            time.sleep(0.5)
    finally:
        typer.echo("medinfer: stopping ...")
        stack.stop()
    raise typer.Exit(code)


def status() -> None:
    """Readiness of the gateway, the preprocessor and Triton."""
    ports, gw = _ports()
    ca = gw.home / "tls" / "ca.pem"
    ctx = ssl.create_default_context(cafile=str(ca)) if ca.exists() else None
    scheme = "http" if gw.insecure_http else "https"
    checks = {
        "gateway": (f"{scheme}://127.0.0.1:{ports.gateway}/readyz", ctx),
        "preprocessor": (f"http://127.0.0.1:{ports.preprocessor}/readyz", None),
        "triton": (f"http://127.0.0.1:{ports.triton.http}/v2/health/ready", None),
    }
    bad = 0
    for name, (url, context) in checks.items():
        detail = ""
        try:
            with urllib.request.urlopen(url, timeout=3, context=context) as resp:
                ok = resp.status == 200
                if name == "gateway":  # 200 "degraded" names circuits that are not closed
                    circuits = json.loads(resp.read() or b"{}").get("circuits") or {}
                    detail = "".join(f"  (circuit {b} {state})" for b, state in sorted(circuits.items()))
        except (OSError, ValueError):
            ok = False
        bad += not ok
        typer.echo(f"{name:13s} {'ready' if ok else 'NOT READY'}  {url}{detail}")
    raise typer.Exit(1 if bad else 0)


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(status)
