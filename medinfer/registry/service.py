"""The registry's operations: publish, promote, rollback, tags (canary in ``canary.py``).

Ordering rules that keep the lifecycle safe:

* **publish** (``publishing.py``) validates first and writes nothing on failure.
* **promote** claims the ``current`` tag (409 for a concurrent promotion), lists
  the new version in ``config.pbtxt`` next to the ones still served, asks Triton to
  load and waits until the version is READY, and only then moves the tag
  (compare-and-set) and bumps the change counter the gateways watch. The old
  version is dropped from the config and unloaded after its in-flight requests
  drained. Any failure before the move restores ``config.pbtxt`` and releases the
  claim: tags, history and repository stay as they were.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from medinfer.common.errors import BackendUnavailable, Conflict, MedinferError, ValidationFailed
from medinfer.registry.audit import AuditSink, LogAuditSink, make_event
from medinfer.registry.canary import CanaryMixin
from medinfer.registry.db import EventRow, ModelRow, utcnow
from medinfer.registry.outbox import AuditOutbox
from medinfer.registry.publishing import NAME_PATTERN, PublishMixin
from medinfer.registry.routing import DrainWaiter, GraceDrain
from medinfer.registry.store import CANARY, CURRENT, RESERVED_TAGS, Store
from medinfer.registry.triton_control import TritonControl, wait_version_ready
from medinfer.triton.model_config import ModelConfig
from medinfer.triton.repository import ModelRepository

__all__ = ["Registry", "NAME_PATTERN"]

log = logging.getLogger("medinfer.registry")

_TAG_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


class Registry(PublishMixin, CanaryMixin):
    def __init__(
        self,
        store: Store,
        repository: ModelRepository,
        *,
        triton: TritonControl | None = None,
        audit: AuditSink | None = None,
        drain: DrainWaiter | None = None,
        backend: str = "python",
        load_timeout_s: float = 120.0,
        drain_timeout_s: float = 30.0,
        outbox: AuditOutbox | None = None,
    ) -> None:
        self.store = store
        self.repository = repository
        self.triton = triton
        self.audit = audit or LogAuditSink()
        self.drain = drain or GraceDrain(0.0)
        self.backend = backend
        self.load_timeout_s = load_timeout_s
        self.drain_timeout_s = drain_timeout_s
        self._listeners: list[Callable[[], None]] = []
        self.outbox = outbox or AuditOutbox()

    # ---- plumbing ----------------------------------------------------------------------------
    def on_change(self, listener: Callable[[], None]) -> None:
        """Called after every committed routing change (the in-process gateway refreshes)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    def _record(self, outbox_id: int) -> None:
        """After the commit: deliver the outbox up to this change's event (see ``outbox.py``).
        A sink failure raises 503 to the caller; the committed event stays queued."""
        self.outbox.deliver(self.store, self.audit, wait_for=outbox_id)

    def deliver_audit(self) -> int:
        """Deliver queued audit events (the runtime calls this at start-up and periodically)."""
        return self.outbox.deliver(self.store, self.audit)

    # ---- reads -------------------------------------------------------------------------------
    def list_models(self) -> list[dict[str, Any]]:
        with self.store.session() as s:
            return [
                self.store.model_view(s, m) for m in s.scalars(sa.select(ModelRow).order_by(ModelRow.name))
            ]

    def get_model(self, name: str) -> dict[str, Any]:
        with self.store.session() as s:
            return self.store.model_view(s, self.store.model(s, name), files=True)

    def history(self, name: str) -> list[dict[str, Any]]:
        with self.store.session() as s:
            m = self.store.model(s, name)
            rows = s.scalars(sa.select(EventRow).where(EventRow.model_id == m.id).order_by(EventRow.id))
            return [self.store.event_view(e, name) for e in rows]

    # ---- promotion ---------------------------------------------------------------------------
    def promote(self, name: str, version: int, *, actor: str, reason: str = "") -> dict[str, Any]:
        return self._move_current(name, version, actor=actor, reason=reason, kind="promote")

    def rollback(self, name: str, *, actor: str, reason: str = "") -> dict[str, Any]:
        with self.store.session() as s:
            m = self.store.model(s, name)
            cur = self.store.tag(s, m, CURRENT)
            if cur is None or cur.previous_version is None:
                raise Conflict(
                    f"model '{name}' has no previous current version to roll back to",
                    code="nothing-to-roll-back",
                )
            target = cur.previous_version
        return self._move_current(name, target, actor=actor, reason=reason, kind="rollback")

    def _promotable(self, name: str, version: int) -> tuple[set[int], int | None, ModelConfig, bool]:
        with self.store.session() as s:
            m = self.store.model(s, name)
            row = self.store.version(s, m, version)
            if row.status != "ready":
                raise Conflict(
                    f"model '{name}' version {version} failed validation and cannot be promoted",
                    code="version-failed-validation",
                )
            tags = self.store.tags(s, m)
            cur = tags.get(CURRENT)
            old = cur.version if cur else None
            served = self.store.served_versions(tags)
            breaking = old is not None and self.store.version(s, m, old).signature != row.signature
            if breaking:
                served = {old}  # an incompatible signature cannot share the model config
            return served, old, ModelConfig.from_pbtxt(row.config_pbtxt), breaking

    def _move_current(self, name: str, version: int, *, actor: str, reason: str, kind: str) -> dict[str, Any]:
        served, old, cfg, breaking = self._promotable(name, version)
        if old == version:
            raise Conflict(f"model '{name}' version {version} is already current", code="already-current")
        check = self.verify(name, version, actor=actor)
        if not check["passed"]:
            raise Conflict(
                f"model '{name}' version {version} failed validation and cannot be promoted",
                code="version-failed-validation",
                extra={"problems": check["problems"]},
            )
        revision = self.store.claim(name, CURRENT, version, actor)
        # A breaking version cannot run under the old config: swap (not zero-downtime, see docs).
        self._load_or_restore(
            name,
            cfg,
            {version} if breaking else served | {version},
            version,
            served,
            CURRENT,
            revision,
            actor,
        )
        with self.store.session() as s:
            m = self.store.model(s, name)
            row = self.store.tag(s, m, CURRENT)
            assert row is not None
            self.store.move(s, row, revision, version=version, previous=old, actor=actor)
            canary = self.store.tag(s, m, CANARY)
            if canary is not None and canary.version == version:
                # The canary graduated: it is now all the traffic.
                self.store.move(s, canary, canary.revision, version=None, weight=0.0, actor=actor)
            if breaking and canary is not None and canary.version not in (None, version):
                self.store.move(s, canary, canary.revision, version=None, weight=0.0, actor=actor)
            self.store.add_event(
                s,
                m,
                kind,
                tag=CURRENT,
                before=old,
                after=version,
                actor=actor,
                reason=reason,
                detail={"breaking": breaking},
            )
            after_served = self.store.served_versions(self.store.tags(s, m)) | {version}
            outbox_id = self.outbox.add(
                s, make_event(f"model.{kind}", model=name, actor=actor, reason=reason, before=old, after=version)
            )
        self._after_commit(outbox_id, name, cfg, after_served, old)
        return {"name": name, "current": version, "previous": old, "served": sorted(after_served)}

    def _after_commit(
        self, outbox_id: int, name: str, cfg: ModelConfig, served: set[int], old: int | None
    ) -> None:
        """Route first, then audit; the retired version is unloaded even when the audit
        sink fails (whose error still reaches the caller: the change and its queued
        audit event are committed)."""
        self._changed()
        try:
            self._record(outbox_id)
        finally:
            self._retire(name, cfg, served, old)

    def _serve(self, name: str, cfg: ModelConfig, versions: set[int], wait_for: int | None) -> None:
        """Write config.pbtxt listing ``versions`` and (with Triton) load and wait for READY."""
        self.repository.write_config(self._with_versions(cfg, versions))
        if self.triton is None:
            return
        try:
            self.triton.load(name)
        except MedinferError:
            raise
        except Exception:  # noqa: BLE001 - TritonServer raises its own start/load error type
            raise BackendUnavailable(
                f"Triton failed to load model '{name}'", code="triton-load-failed"
            ) from None
        if wait_for is not None and not wait_version_ready(self.triton, name, wait_for, self.load_timeout_s):
            raise BackendUnavailable(
                f"model '{name}' version {wait_for} did not become ready in Triton", code="triton-not-ready"
            )

    def _load_or_restore(
        self,
        name: str,
        cfg: ModelConfig,
        target: set[int],
        version: int,
        served: set[int],
        tag: str,
        revision: int,
        actor: str,
    ) -> None:
        """Serve ``target`` and wait for ``version``; on failure put back the config of
        ``served`` and release the claim on ``tag`` (the registry is left as before)."""
        before = self._read_config_text(name)
        try:
            self._serve(name, cfg, target, wait_for=version)
        except BaseException as exc:
            try:
                self._restore_config(name, before)
                if self.triton is not None and served:
                    self.triton.load(name)
            except Exception:  # noqa: BLE001 - the original error is what the caller must see
                log.error("could not restore the served versions", extra={"model": name})
            self.store.release(name, tag, revision)
            if isinstance(exc, MedinferError) and exc.code == "triton-load-failed":
                self._mark_failed(
                    name,
                    version,
                    "triton_load",
                    {
                        "passed": False,
                        "checked_at": utcnow().isoformat(),
                        "problems": ["Triton failed to load the version"],
                    },
                    actor,
                )
            raise

    def _read_config_text(self, name: str) -> str | None:
        path = self.repository.root / name / "config.pbtxt"
        return path.read_text() if path.is_file() else None

    def _restore_config(self, name: str, text: str | None) -> None:
        path = self.repository.root / name / "config.pbtxt"
        if text is None:
            path.unlink(missing_ok=True)
        elif not path.is_file() or path.read_text() != text:
            self.repository.write_config(ModelConfig.from_pbtxt(text))

    def _retire(self, name: str, cfg: ModelConfig, served: set[int], old: int | None) -> None:
        """Unload versions no tag points to any more, once their in-flight requests finished."""
        if old is None or old in served:
            return
        if not self.drain.wait_drained(name, old, self.drain_timeout_s):
            log.warning("drain timed out; unloading anyway", extra={"model": name, "version": old})
        self._serve(name, cfg, served, wait_for=None)

    # ---- named tags --------------------------------------------------------------------------
    def set_tag(self, name: str, tag: str, version: int, *, actor: str, reason: str = "") -> dict[str, Any]:
        if tag in RESERVED_TAGS or not _TAG_RE.fullmatch(tag):
            raise ValidationFailed(
                "tag must be a lower-case name other than current, canary, latest", field="tag"
            )
        served, old_current, cfg, breaking = self._promotable(name, version)
        if breaking:
            raise Conflict(
                "a version with another signature than current cannot be served beside it",
                code="signature-mismatch",
            )
        revision = self.store.claim(name, tag, version, actor)
        self._load_or_restore(name, cfg, served | {version}, version, served, tag, revision, actor)
        with self.store.session() as s:
            m = self.store.model(s, name)
            row = self.store.tag(s, m, tag)
            assert row is not None
            before = row.version
            self.store.move(s, row, revision, version=version, previous=before, actor=actor)
            self.store.add_event(
                s, m, "tag", tag=tag, before=before, after=version, actor=actor, reason=reason
            )
            after_served = self.store.served_versions(self.store.tags(s, m))
            outbox_id = self.outbox.add(
                s,
                make_event("model.tag", model=name, actor=actor, reason=reason, before=before, after=version, tag=tag),
            )
        self._after_commit(outbox_id, name, cfg, after_served, before)
        return {"name": name, "tag": tag, "version": version, "previous": before}
