"""``medinfer audit verify|export``: check the ledger's chain; accounting of disclosures."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from medinfer.audit import AuditKey, AuditStore, disclosures, load_public_keys, to_csv, to_json_report, verify_ledger
from medinfer.security.settings import SecuritySettings

__all__ = ["register", "audit_app"]

audit_app = typer.Typer(help="Audit ledger: verify the chain, export accounting of disclosures.", no_args_is_help=True)

UrlOpt = Annotated[str | None, typer.Option("--url", help="Ledger database URL (default: the gateway's setting).")]
KeyOpt = Annotated[list[Path] | None, typer.Option("--key-file", help="Audit key file; repeat for rotated keys.")]
CheckpointsOpt = Annotated[list[Path] | None, typer.Option(
    "--checkpoints", help="Checkpoint file (one per gateway replica; repeat). Default: the gateway's setting.")]
CheckpointKeyOpt = Annotated[list[Path] | None, typer.Option(
    "--checkpoint-key", help="Public (or private) Ed25519 key that signed the checkpoints, PEM; repeat for rotated "
    "keys. Default: the gateway's checkpoint key.")]


def _open(url: str | None, key_files: list[Path] | None) -> tuple[AuditStore, list[AuditKey]]:
    settings = SecuritySettings()
    files = key_files or [settings.audit_key_path]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        typer.echo(f"error: audit key file not found: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    return AuditStore(url or settings.audit_url_resolved), [AuditKey.from_file(f) for f in files]


def _checkpoint_inputs(files: list[Path] | None, key_files: list[Path] | None):
    settings = SecuritySettings()
    files = files or [settings.audit_checkpoint_path]
    key_files = key_files or [settings.audit_checkpoint_key_path]
    missing = [str(f) for f in (*files, *key_files) if not f.is_file()]
    if missing:
        typer.echo(f"error: checkpoint file or key not found: {', '.join(missing)} (without the checkpoints, "
                   "records cut off the end cannot be detected; --no-checkpoints skips them explicitly)", err=True)
        raise typer.Exit(2)
    try:
        return files, load_public_keys(key_files)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@audit_app.command("verify")
def verify(url: UrlOpt = None, key_file: KeyOpt = None, checkpoints: CheckpointsOpt = None,
           checkpoint_key: CheckpointKeyOpt = None,
           no_checkpoints: Annotated[bool, typer.Option(
               "--no-checkpoints", help="Check the chain without its external anchor (truncation goes unseen).")] = False,
           ) -> None:
    """Check every record's MAC and link, and the chain against its signed checkpoints; exit 1 and say
    where when the ledger was tampered with."""
    cp_files, cp_keys = ([], {}) if no_checkpoints else _checkpoint_inputs(checkpoints, checkpoint_key)
    store, keys = _open(url, key_file)
    try:
        res = verify_ledger(store, keys, checkpoint_files=cp_files, checkpoint_keys=cp_keys)
    finally:
        store.dispose()
    ood = ", ".join(f"{k}={v}" for k, v in sorted(res.ood_reasons.items()))
    ood_txt = f"; OOD reason codes: {ood}" if ood else ""
    if no_checkpoints:
        anchor = "; checkpoints NOT checked (records cut off the end would go unseen)"
    elif res.checkpoints:
        anchor = (f"; {res.checkpoints} checkpoints, anchored through record {res.anchored_seq} "
                  f"(signed {res.anchored_ts}); {max(0, res.last_seq - res.anchored_seq)} newer records not anchored yet")
    else:
        anchor = "; no checkpoint yet (nothing anchored)"
    if res.ok:
        typer.echo(f"OK: {res.checked} records, chain intact through record {res.last_seq}{ood_txt}{anchor}")
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
