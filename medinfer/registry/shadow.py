"""Shadow traffic: mirror a share of a model's requests to a candidate version.

The candidate answers nothing: the gateway sends the caller the routed version's answer,
then repeats the request on the shadow version, compares the outputs and records the
comparison (metrics ``medinfer_shadow_*`` and an audit record ``shadow infer``; see
``medinfer/gateway/shadow.py``). A safer first step than a canary for a clinical model:
no patient-facing answer ever comes from it.

The ``shadow`` tag carries the version and its ``weight`` (the mirrored share, percent).
Setting it loads the version on every Triton endpoint and waits for READY, as a canary
does; clearing it stops mirroring first and unloads after the drain.
"""

from __future__ import annotations

from typing import Any

from medinfer.common.errors import Conflict, ValidationFailed
from medinfer.registry.audit import make_event
from medinfer.registry.store import SHADOW

__all__ = ["ShadowMixin"]


class ShadowMixin:
    """Shadow operations of ``Registry`` (split out to keep modules small)."""

    def set_shadow(self, name: str, version: int, share: float, *, actor: str, reason: str = "") -> dict[str, Any]:
        if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 < share <= 100:
            raise ValidationFailed("share must be a percentage in (0, 100]", field="share")
        served, current, cfg, breaking = self._promotable(name, version)  # type: ignore[attr-defined]
        if current is None:
            raise Conflict(f"model '{name}' has no current version to compare a shadow with", code="no-current")
        if version == current:
            raise Conflict(f"model '{name}' version {version} is already current", code="already-current")
        if breaking:
            raise Conflict("a version with another signature than current cannot be compared with it",
                           code="signature-mismatch")
        store = self.store  # type: ignore[attr-defined]
        with store.session() as s:
            row = store.tag(s, store.model(s, name), SHADOW)
            before = (row.version, row.weight) if row is not None and row.version is not None else (None, 0.0)
        if before[0] != version:
            revision = store.claim(name, SHADOW, version, actor)
            self._load_or_restore(name, cfg, served | {version}, version, served, SHADOW,  # type: ignore[attr-defined]
                                  revision, actor)
        with store.session() as s:
            m = store.model(s, name)
            row = store.tag(s, m, SHADOW)
            assert row is not None
            store.move(s, row, row.revision, version=version, previous=before[0], weight=float(share), actor=actor)
            store.add_event(s, m, "shadow", tag=SHADOW, before=before[0], after=version, actor=actor, reason=reason,
                            detail={"share_before": before[1], "share": float(share)})
            after_served = store.served_versions(store.tags(s, m))
            outbox_id = self.outbox.add(s, make_event(  # type: ignore[attr-defined]
                "model.shadow", model=name, actor=actor, reason=reason, before=before[0], after=version,
                share=float(share)))
        self._after_commit(outbox_id, name, cfg, after_served, before[0])  # type: ignore[attr-defined]
        return {"name": name, "shadow": version, "share": float(share), "current": current}

    def clear_shadow(self, name: str, *, actor: str, reason: str = "") -> dict[str, Any]:
        store = self.store  # type: ignore[attr-defined]
        with store.session() as s:
            m = store.model(s, name)
            row = store.tag(s, m, SHADOW)
            if row is None or row.version is None:
                raise Conflict(f"model '{name}' has no shadow", code="no-shadow")
            before = row.version
            store.move(s, row, row.revision, version=None, previous=before, weight=0.0, actor=actor)
            store.add_event(s, m, "shadow_clear", tag=SHADOW, before=before, after=None, actor=actor, reason=reason)
            after_served = store.served_versions(store.tags(s, m))
            outbox_id = self.outbox.add(s, make_event(  # type: ignore[attr-defined]
                "model.shadow_clear", model=name, actor=actor, reason=reason, before=before, after=None))
        cfg = self.repository.read_config(name)  # type: ignore[attr-defined]
        self._after_commit(outbox_id, name, cfg, after_served, before)  # type: ignore[attr-defined]
        return {"name": name, "shadow": None, "cleared": before}
