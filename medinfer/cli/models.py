"""``medinfer models ...``: the registry lifecycle from the command line.

Works locally (the registry database and model repository named by
``MEDINFER_REGISTRY_*`` / ``MEDINFER_HOME``; with ``MEDINFER_REGISTRY_TRITON_URL`` a
running Triton loads and unloads versions) or remotely through a gateway's admin
API with ``--gateway URL --token T``. Results print as JSON; errors print the
problem's status, code and detail and exit with status 1.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Any

import orjson
import typer

from medinfer.common.errors import MedinferError

__all__ = ["register", "models_app"]

models_app = typer.Typer(
    name="models", help="Publish, promote, roll back and canary model versions.", no_args_is_help=True
)
bluegreen_app = typer.Typer(
    name="bluegreen", help="Blue-green Triton slots in Kubernetes.", no_args_is_help=True
)
models_app.add_typer(bluegreen_app)

_state: dict[str, Any] = {}


@models_app.callback()
def _options(
    gateway: str | None = typer.Option(
        None,
        envvar="MEDINFER_GATEWAY_URL",
        help="Use this gateway's admin API instead of the local registry.",
    ),
    token: str | None = typer.Option(None, envvar="MEDINFER_TOKEN", help="Bearer token for --gateway."),
    ca_file: str | None = typer.Option(None, help="CA bundle that signed the gateway's certificate."),
    actor: str | None = typer.Option(None, help="Recorded as the actor (local mode; remote uses the token)."),
) -> None:
    _state.clear()
    _state.update(gateway=gateway, token=token, ca_file=ca_file, actor=actor or _default_actor())


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _ops():
    if "ops" not in _state:
        if _state.get("gateway"):
            from medinfer.registry.client import AdminClient

            _state["ops"] = AdminClient(_state["gateway"], _state.get("token"), ca_file=_state.get("ca_file"))
        else:
            from medinfer.registry.factory import build_registry

            _state["ops"] = build_registry()
    return _state["ops"]


def _out(data: Any) -> None:
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _run(fn, *args, **kw) -> Any:
    try:
        return fn(*args, **kw)
    except MedinferError as exc:
        typer.echo(f"error: {exc.status} {exc.code}: {exc.detail}", err=True)
        if exc.extra.get("problems"):
            for p in exc.extra["problems"]:
                typer.echo(f"  - {p}", err=True)
        raise typer.Exit(1) from None


@models_app.command()
def validate(
    path: Path = typer.Argument(..., help="ONNX file or folder (model.onnx, sample.json, README.md)."),
) -> None:
    """Run publish's checks without publishing (ONNX checker, onnxruntime load, smoke inference)."""
    from medinfer.registry.service import Registry

    _out(_run(Registry.validate_path, path))  # validation needs no store


@models_app.command()
def publish(
    path: Path = typer.Argument(..., help="ONNX file or folder holding one."),
    name: str = typer.Option(..., "--name", help="Model name (lower case, digits, underscores)."),
    version: int | None = typer.Option(None, "--version", help="Version number (default: next)."),
    breaking: bool = typer.Option(False, "--breaking", help="Allow a signature different from current."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the history and the audit log)."),
) -> None:
    """Validate and publish an immutable new version (it does not become current)."""
    _out(
        _run(
            _ops().publish,
            path,
            name,
            version=version,
            breaking=breaking,
            actor=_state["actor"],
            reason=reason,
        )
    )


@models_app.command()
def verify(name: str, version: int) -> None:
    """Re-check a published version's checksums and smoke inference."""
    _out(_run(_ops().verify, name, version, actor=_state["actor"]))


@models_app.command()
def promote(name: str, version: int, reason: str = typer.Option("", "--reason")) -> None:
    """Make VERSION current: load it, wait for READY, move the tag, unload the old one after the drain."""
    _out(_run(_ops().promote, name, version, actor=_state["actor"], reason=reason))


@models_app.command()
def rollback(name: str, reason: str = typer.Option("", "--reason")) -> None:
    """Move current back to the previous current version."""
    _out(_run(_ops().rollback, name, actor=_state["actor"], reason=reason))


@models_app.command("list")
def list_models() -> None:
    """Models with current, canary, tags and versions."""
    _out(_run(_ops().list_models))


@models_app.command()
def show(name: str) -> None:
    """One model with files, checksums, signature, model card and validation results."""
    _out(_run(_ops().get_model, name))


@models_app.command()
def history(name: str) -> None:
    """Every publish, tag move, canary change and rollback with actor and reason."""
    _out(_run(_ops().history, name))


@models_app.command()
def tag(
    name: str,
    tag_name: str = typer.Argument(..., metavar="TAG"),
    version: int = typer.Argument(...),
    reason: str = typer.Option("", "--reason"),
) -> None:
    """Point a named tag (e.g. stable, research) at VERSION."""
    _out(_run(_ops().set_tag, name, tag_name, version, actor=_state["actor"], reason=reason))


@models_app.command()
def canary(
    name: str,
    version: int | None = typer.Argument(None, help="Canary version (omit with --off)."),
    weight: float = typer.Option(10.0, "--weight", help="Percent of requests for the canary."),
    sticky: bool = typer.Option(False, "--sticky", help="Assign by client id instead of request id."),
    off: bool = typer.Option(False, "--off", help="Send all traffic back to current."),
    reason: str = typer.Option("", "--reason"),
) -> None:
    """Send WEIGHT percent of NAME's traffic to VERSION (deterministic by request id)."""
    if off:
        _out(_run(_ops().clear_canary, name, actor=_state["actor"], reason=reason))
        return
    if version is None:
        typer.echo("error: VERSION is required unless --off", err=True)
        raise typer.Exit(2)
    _out(_run(_ops().set_canary, name, version, weight, sticky=sticky, actor=_state["actor"], reason=reason))


def _ops_metrics_url(gateway: str) -> str:
    """The gateway's operations listener on the same host (its default metrics_port)."""
    from urllib.parse import urlsplit

    from medinfer.gateway.settings import GatewaySettings

    host = urlsplit(gateway).hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{GatewaySettings.model_fields['metrics_port'].default}/metrics"


@models_app.command()
def rollout(
    name: str,
    version: int,
    steps: str = typer.Option("10,50,100", "--steps", help="Canary weights in percent, ending at 100."),
    max_error_rate: float = typer.Option(
        0.01, "--max-error-rate", help="Allowed excess over stable's error rate."
    ),
    max_p99_ms: float = typer.Option(500.0, "--max-p99-ms", help="p99 bound (when also slower than stable)."),
    interval: float = typer.Option(60.0, "--interval", help="Seconds per step."),
    min_requests: int = typer.Option(20, "--min-requests", help="Canary requests needed per step."),
    sticky: bool = typer.Option(False, "--sticky"),
    metrics_url: str | None = typer.Option(
        None, "--metrics-url", help="Gateway /metrics to measure (default: the gateway host's operations port, "
        "http://<host>:8445/metrics; /metrics is not served on the API port)."
    ),
    max_ood_share: float | None = typer.Option(
        None, "--max-ood-share", min=0.0, max=1.0,
        help="Roll back when the canary's OOD share exceeds this (default: MEDINFER_REGISTRY_ROLLOUT_MAX_OOD_SHARE).",
    ),
    drift_gate: bool | None = typer.Option(
        None, "--drift-gate/--no-drift-gate",
        help="Roll back on drift against the canary's profile that stable does not show "
        "(default: MEDINFER_REGISTRY_ROLLOUT_DRIFT_GATE).",
    ),
) -> None:
    """Advance a canary through STEPS while it stays within bounds; roll back (audited) otherwise."""
    from medinfer.registry.drift_gate import MetricsDriftSource
    from medinfer.registry.rollout import HTTPMetricsSource, RolloutController, RolloutPolicy, parse_steps
    from medinfer.registry.settings import RegistrySettings

    url = metrics_url or (_ops_metrics_url(_state["gateway"]) if _state.get("gateway") else None)
    if not url:
        typer.echo("error: --metrics-url (or --gateway) is needed to measure the canary", err=True)
        raise typer.Exit(2)
    defaults = RegistrySettings()
    policy = RolloutPolicy(
        _run(parse_steps, steps), max_error_rate, max_p99_ms, interval, min_requests, sticky=sticky,
        max_ood_share=defaults.rollout_max_ood_share if max_ood_share is None else max_ood_share,
        drift_gate=defaults.rollout_drift_gate if drift_gate is None else drift_gate,
    )
    source = HTTPMetricsSource(url, _state.get("token"), ca_file=_state.get("ca_file"))
    controller = RolloutController(_ops(), source, policy, report=lambda m: typer.echo(m, err=True),
                                   drift=MetricsDriftSource(source))
    result = _run(controller.run, name, version, actor=_state["actor"])
    _out({"outcome": result.outcome, "reason": result.reason, "steps": result.steps})
    if result.outcome != "promoted":
        raise typer.Exit(3)


@bluegreen_app.command("switch")
def bluegreen_switch(
    to: str | None = typer.Option(None, "--to", help="blue or green (default: the slot not serving now)."),
    apply: bool = typer.Option(False, "--apply", help="Run kubectl (waits for the slot's rollout first)."),
    namespace: str = typer.Option("medinfer", "--namespace", "-n"),
    kubectl: str = typer.Option("kubectl", "--kubectl", help="kubectl executable."),
) -> None:
    """Print (or --apply) the Service selector patch that moves Triton traffic to the other slot."""
    from medinfer.registry import bluegreen

    if to is None:
        now = _run(bluegreen.current_slot, namespace, kubectl)
        to = "green" if now == "blue" else "blue"
    plan = _run(bluegreen.plan_switch, to, namespace)
    if not apply:
        typer.echo(plan.command())
        return
    typer.echo(_run(bluegreen.apply_switch, plan, kubectl).strip())


def register(app: typer.Typer) -> None:
    app.add_typer(models_app)


if __name__ == "__main__":  # pragma: no cover
    models_app(sys.argv[1:])
