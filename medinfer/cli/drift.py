"""``medinfer models drift NAME``: print a model's drift snapshot from the gateway's admin route."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import typer

from medinfer.gateway.settings import GatewaySettings

__all__ = ["register", "fetch_drift", "render_drift"]


def fetch_drift(name: str, gateway_url: str, ca_file: str | None = None, timeout: float = 10.0,
                token: str | None = None) -> dict[str, Any]:
    url = f"{gateway_url.rstrip('/')}/admin/models/{urllib.parse.quote(name, safe='')}/drift"
    ctx = ssl.create_default_context(cafile=ca_file) if url.startswith("https") else None
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
        return json.loads(resp.read())


def _fmt(x: object, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def render_drift(doc: dict[str, Any]) -> str:
    """Human-readable table: one block per version, drifted features first."""
    lines = []
    for v in doc.get("versions", []):
        state = "DRIFT" if v["drift_detected"] else ("ok" if v["ready"] else "warming up")
        lines.append(f"{doc['model']} v{v['version']} ({v['kind']}, policy {v.get('policy')}): {state}; "
                     f"window {v['window_records']}, records {v['records_total']}, "
                     f"out-of-range {_fmt(v.get('out_of_range_share'), '.2%')}")
        if v.get("mmd2") is not None:
            lines.append(f"  MMD² {v['mmd2']:.5f}  p={v['mmd_pvalue']:.4f}")
        feats = sorted(v.get("features", []), key=lambda f: (not f["drifted"], -f["psi"]))
        if feats:
            lines.append(f"  {'feature':32s} {'PSI':>7s} {'KS D':>6s} {'KS p':>9s}")
            for f in feats:
                mark = " *" if f["drifted"] else ""
                lines.append(f"  {f['name']:32s} {f['psi']:7.3f} {f['ks_statistic']:6.3f} {f['ks_pvalue']:9.2e}{mark}")
        if v.get("ood_counts"):
            lines.append("  OOD: " + ", ".join(f"{k}={n}" for k, n in sorted(v["ood_counts"].items())))
    return "\n".join(lines)


def drift(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name."),
    gateway: str | None = typer.Option(None, help="Gateway base URL (default from MEDINFER_GATEWAY_* settings)."),
    as_json: bool = typer.Option(False, "--json", help="Print the raw JSON snapshot."),
) -> None:
    """Drift (PSI, KS, MMD, out-of-range share) and OOD counts of a model's served versions."""
    from medinfer.cli.models import discover_gateway

    gw = GatewaySettings()
    scheme = "http" if gw.insecure_http else "https"
    group = ctx.parent.params if ctx.parent is not None else {}  # `medinfer models --token T --ca-file F`
    gateway = gateway or group.get("gateway")
    token, ca_file = group.get("token"), group.get("ca_file")
    if gateway is None:  # the stack `medinfer up` runs on this home, with a development token
        found = discover_gateway()
        gateway, token, ca_file = found.get("gateway"), found.get("token"), ca_file or found.get("ca_file")
    url = gateway or f"{scheme}://127.0.0.1:{gw.port}"
    ca = gw.home / "tls" / "ca.pem"
    ca_file = ca_file or (str(ca) if ca.exists() else None)
    try:
        doc = fetch_drift(name, url, ca_file, token=token)
    except urllib.error.HTTPError as exc:
        typer.echo(f"medinfer: gateway answered {exc.code} for model {name!r}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"medinfer: cannot reach the gateway at {url}: {exc.__class__.__name__}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(doc, indent=2) if as_json else render_drift(doc))


def register(app: typer.Typer) -> None:
    """Add ``drift`` to the ``models`` command group (owned by the registry CLI)."""
    app.command("drift")(drift)
