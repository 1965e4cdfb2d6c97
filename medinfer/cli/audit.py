"""``medinfer audit verify|export``: check the ledger's chain; accounting of disclosures."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from medinfer.audit import AuditKey, AuditStore, disclosures, to_csv, to_json_report, verify_ledger
from medinfer.security.settings import SecuritySettings

__all__ = ["register", "audit_app"]

audit_app = typer.Typer(help="Audit ledger: verify the chain, export accounting of disclosures.", no_args_is_help=True)

UrlOpt = Annotated[str | None, typer.Option("--url", help="Ledger database URL (default: the gateway's setting).")]
KeyOpt = Annotated[list[Path] | None, typer.Option("--key-file", help="Audit key file; repeat for rotated keys.")]


def _open(url: str | None, key_files: list[Path] | None) -> tuple[AuditStore, list[AuditKey]]:
    settings = SecuritySettings()
    files = key_files or [settings.audit_key_path]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        typer.echo(f"error: audit key file not found: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    return AuditStore(url or settings.audit_url_resolved), [AuditKey.from_file(f) for f in files]


@audit_app.command("verify")
def verify(url: UrlOpt = None, key_file: KeyOpt = None) -> None:
    """Check every record's MAC and link; exit 1 and say where when the chain is broken."""
    store, keys = _open(url, key_file)
    try:
        res = verify_ledger(store, keys)
    finally:
        store.dispose()
    ood = ", ".join(f"{k}={v}" for k, v in sorted(res.ood_reasons.items()))
    ood_txt = f"; OOD reason codes: {ood}" if ood else ""
    if res.ok:
        typer.echo(f"OK: {res.checked} records, chain intact through record {res.last_seq}{ood_txt}")
        return
    typer.echo(f"TAMPERED: {len(res.problems)} problem(s) in {res.checked} records{ood_txt}", err=True)
    for p in res.problems:
        typer.echo(f"  record {p.seq}: {p.kind}: {p.message}", err=True)
    raise typer.Exit(1)


def _since(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        d = dt.datetime.fromisoformat(text)
    except ValueError:
        typer.echo("error: --since must be an ISO date such as 2026-01-31", err=True)
        raise typer.Exit(2) from None
    if d.tzinfo is not None:
        d = d.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@audit_app.command("export")
def export(
    patient_key: Annotated[str, typer.Option(help="The patient key (e.g. MRN) as sent in X-Patient-Key; '-' reads stdin.")],
    since: Annotated[str | None, typer.Option(help="Earliest date (ISO 8601, UTC).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    url: UrlOpt = None,
    key_file: KeyOpt = None,
) -> None:
    """Accounting of disclosures for one patient (45 CFR 164.528)."""
    if fmt not in ("json", "csv"):
        typer.echo("error: --format must be json or csv", err=True)
        raise typer.Exit(2)
    if patient_key == "-":
        patient_key = sys.stdin.readline().strip()
    if not patient_key:
        typer.echo("error: empty patient key", err=True)
        raise typer.Exit(2)
    since_ts = _since(since)
    store, keys = _open(url, key_file)
    try:
        rows = disclosures(store, keys, patient_key, since_ts)
    finally:
        store.dispose()
    text = json.dumps(to_json_report(rows, since_ts), indent=2) + "\n" if fmt == "json" else to_csv(rows)
    if out:
        out.write_text(text)
    else:
        typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
