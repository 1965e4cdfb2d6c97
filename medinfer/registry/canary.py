"""Canary releases: a share of a model's traffic goes to a candidate version.

The ``canary`` tag carries the version, its weight (percent of requests) and
whether assignment is sticky by client. Setting a canary loads the version in
Triton and waits for READY before any traffic moves; clearing it (by hand or by
an automatic rollback) moves traffic back first and unloads after the drain.
"""

from __future__ import annotations

from typing import Any

from medinfer.common.errors import Conflict, ValidationFailed
from medinfer.registry.audit import make_event
from medinfer.registry.store import CANARY, CURRENT

__all__ = ["CanaryMixin"]


class CanaryMixin:
    """Canary operations of ``Registry`` (split out to keep modules small)."""

    def set_canary(
        self, name: str, version: int, weight: float, *, sticky: bool = False, actor: str, reason: str = ""
    ) -> dict[str, Any]:
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 < weight <= 100:
            raise ValidationFailed("weight must be a percentage in (0, 100]", field="weight")
        served, current, cfg, breaking = self._promotable(name, version)  # type: ignore[attr-defined]
        if current is None:
            raise Conflict(
                f"model '{name}' has no current version to compare a canary with", code="no-current"
            )
        if version == current:
            raise Conflict(f"model '{name}' version {version} is already current", code="already-current")
        if breaking:
            raise Conflict(
                "a version with another signature than current cannot be served beside it",
                code="signature-mismatch",
            )
        store = self.store  # type: ignore[attr-defined]
        with store.session() as s:
            row = store.tag(s, store.model(s, name), CANARY)
            before = (row.version, row.weight) if row is not None and row.version is not None else (None, 0.0)
        if before[0] != version:
            revision = store.claim(name, CANARY, version, actor)
            self._load_or_restore(
                name,
                cfg,
                served | {version},
                version,
                served,
                CANARY,  # type: ignore[attr-defined]
                revision,
                actor,
            )
        with store.session() as s:
            m = store.model(s, name)
            row = store.tag(s, m, CANARY)
            assert row is not None
            store.move(
                s,
                row,
                row.revision,
                version=version,
                previous=before[0],
                weight=float(weight),
                sticky=sticky,
                actor=actor,
            )
            store.add_event(
                s,
                m,
                "canary",
                tag=CANARY,
                before=before[0],
                after=version,
                actor=actor,
                reason=reason,
                detail={"weight_before": before[1], "weight": float(weight), "sticky": sticky},
            )
            after_served = store.served_versions(store.tags(s, m))
            event = make_event(
                "model.canary",
                model=name,
                actor=actor,
                reason=reason,
                before=before[0],
                after=version,
                weight_before=before[1],
                weight=float(weight),
                sticky=sticky,
            )
            outbox_id = self.outbox.add(s, event)  # type: ignore[attr-defined]
        self._after_commit(outbox_id, name, cfg, after_served, before[0])  # type: ignore[attr-defined]
        return {
            "name": name,
            "canary": version,
            "weight": float(weight),
            "sticky": sticky,
            "current": current,
        }

    def clear_canary(
        self, name: str, *, actor: str, reason: str = "", automatic: bool = False
    ) -> dict[str, Any]:
        """Send all traffic back to ``current``; ``automatic`` marks a rollout's own rollback."""
        store = self.store  # type: ignore[attr-defined]
        with store.session() as s:
            m = store.model(s, name)
            row = store.tag(s, m, CANARY)
            if row is None or row.version is None:
                raise Conflict(f"model '{name}' has no canary", code="no-canary")
            before, weight = row.version, row.weight
            store.move(
                s, row, row.revision, version=None, previous=before, weight=0.0, sticky=False, actor=actor
            )
            kind = "auto_rollback" if automatic else "canary_clear"
            store.add_event(
                s,
                m,
                kind,
                tag=CANARY,
                before=before,
                after=None,
                actor=actor,
                reason=reason,
                detail={"weight_before": weight},
            )
            tags = store.tags(s, m)
            after_served = store.served_versions(tags)
            current = tags[CURRENT].version if CURRENT in tags else None
            event = make_event(
                f"model.{kind}",
                model=name,
                actor=actor,
                reason=reason,
                before=before,
                after=current,
                weight_before=weight,
                canary_cleared=True,
            )
            outbox_id = self.outbox.add(s, event)  # type: ignore[attr-defined]
        cfg = self.repository.read_config(name)  # type: ignore[attr-defined]
        self._after_commit(outbox_id, name, cfg, after_served, before)  # type: ignore[attr-defined]
        return {"name": name, "canary": None, "cleared": before, "current": current}
