"""Who is calling, and what they may do.

Scopes (space-separated ``scope`` claim, or a ``scp`` list as some IdPs emit):

- ``infer``            run inference on any model
- ``infer:<model>``    run inference on that model only
- ``models:read``      list models and read their metadata
- ``models:write``     register, promote, roll back models
- ``audit:read``       read and export the audit ledger
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medinfer.common.errors import Forbidden

__all__ = ["Principal", "KNOWN_SCOPES", "require_scope", "require_infer", "require_some_infer", "parse_scopes"]

KNOWN_SCOPES = ("infer", "models:read", "models:write", "audit:read")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``sub`` and ``client_id`` are identifiers, never PHI."""

    sub: str
    client_id: str | None
    scopes: frozenset[str] = field(default_factory=frozenset)
    issuer: str = ""
    expires_at: float = 0.0

    @property
    def rate_key(self) -> str:
        """The identity rate limits are counted against (one bucket per client)."""
        return f"{self.issuer}|{self.client_id or self.sub}"

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def may_infer_any(self) -> bool:
        return any(s == "infer" or s.startswith("infer:") for s in self.scopes)

    def may_infer(self, model: str) -> bool:
        return "infer" in self.scopes or f"infer:{model}" in self.scopes


def parse_scopes(claims: dict) -> frozenset[str]:
    raw = claims.get("scope")
    if isinstance(raw, str):
        return frozenset(raw.split())
    scp = claims.get("scp")
    if isinstance(scp, list):
        return frozenset(s for s in scp if isinstance(s, str))
    if isinstance(scp, str):
        return frozenset(scp.split())
    return frozenset()


def _forbidden(scope: str) -> Forbidden:
    # The scope name is ours (not caller input), so it is safe to name.
    return Forbidden(
        f"token lacks the required scope '{scope}'",
        headers={"WWW-Authenticate": f'Bearer realm="medinfer", error="insufficient_scope", scope="{scope}"'},
        extra={"required_scope": scope},
    )


def require_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise _forbidden(scope)


def require_infer(principal: Principal, model: str) -> None:
    """``infer`` or ``infer:<model>``; the 403 names only the generic scope (model names come from the URL)."""
    if not principal.may_infer(model):
        raise _forbidden("infer")


def require_some_infer(principal: Principal) -> None:
    """Checked before the model is resolved, so a caller without any ``infer`` scope learns nothing about models."""
    if not principal.may_infer_any():
        raise _forbidden("infer")
