"""``medinfer token``: mint a development access token signed with the local dev key."""

from __future__ import annotations

from typing import Annotated

import typer

from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token, parse_ttl
from medinfer.security.principal import KNOWN_SCOPES
from medinfer.security.settings import SecuritySettings
from medinfer.security.smart import is_smart_scope

__all__ = ["register", "token"]


def token(
    scope: Annotated[str, typer.Option(help='Space-separated scopes, e.g. "infer models:read" or "infer:breast_cancer".')] = "infer models:read",
    ttl: Annotated[str, typer.Option(help="Lifetime: 90s, 15m, 1h, 1d.")] = "1h",
    sub: Annotated[str, typer.Option(help="Subject (an identifier, never a person's name).")] = "dev-user",
) -> None:
    """Print a bearer token the local gateway accepts (development only)."""
    settings = SecuritySettings()
    if not settings.dev_key_trusted:
        typer.echo("error: the development key is not trusted in this environment; "
                   "get a token from your identity provider", err=True)
        raise typer.Exit(2)
    scopes = scope.split()
    unknown = [s for s in scopes if s not in KNOWN_SCOPES and not (s.startswith("infer:") and len(s) > 6)
               and not is_smart_scope(s)]
    if unknown or not scopes:
        typer.echo(f"error: unknown scope(s) {unknown}; known: {' '.join(KNOWN_SCOPES)} infer:<model> "
                   "and SMART system/<Type>.read (docs/fhir.md)", err=True)
        raise typer.Exit(2)
    try:
        ttl_s = parse_ttl(ttl)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if ttl_s > 7 * 86400:
        typer.echo("error: ttl may be at most 7d", err=True)
        raise typer.Exit(2)
    keys = ensure_dev_keys(settings.home)
    typer.echo(mint_dev_token(keys, scopes, ttl_s=ttl_s, sub=sub, audience=settings.oidc_audience))


def register(app: typer.Typer) -> None:
    app.command("token")(token)
