"""Database access for the registry: sessions with typed errors, reads as plain
dicts, and the compare-and-set moves of release tags.

Every tag move is ``UPDATE ... WHERE id = :id AND revision = :seen``; zero rows
means another writer moved the tag first and the caller gets 409. A promotion
first *claims* the tag (``pending_version``) in its own short transaction, so a
concurrent promotion of the same model is refused at once instead of loading a
second version in Triton. A claim older than ``stale_claim_s`` (a crashed
promoter) may be taken over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from medinfer.common.errors import BackendUnavailable, Conflict, ModelNotFound
from medinfer.registry.db import EventRow, FileRow, ModelRow, StateRow, TagRow, VersionRow, utcnow
from medinfer.registry.validation import sha256_file

__all__ = ["Store", "CURRENT", "CANARY", "SHADOW", "RESERVED_TAGS", "ModelSnapshot"]

CURRENT = "current"
CANARY = "canary"
SHADOW = "shadow"  # mirrored traffic only: never answers a request (shadow.py)
RESERVED_TAGS = frozenset({CURRENT, CANARY, SHADOW, "latest"})

ModelSnapshot = dict[str, Any]


def _aware(ts: dt.datetime | None) -> dt.datetime | None:
    # SQLite returns naive datetimes; everything we store is UTC.
    if ts is not None and ts.tzinfo is None:
        return ts.replace(tzinfo=dt.UTC)
    return ts


def _iso(ts: dt.datetime | None) -> str | None:
    ts = _aware(ts)
    return ts.isoformat() if ts else None


class Store:
    def __init__(self, engine: Engine, *, stale_claim_s: float = 600.0) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.stale_claim_s = stale_claim_s

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction; database outages become 503 and constraint races 409."""
        try:
            with self._sessions.begin() as s:
                yield s
        except sa.exc.IntegrityError:
            raise Conflict(
                "a concurrent change to the same model won; retry", code="registry-conflict"
            ) from None
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            if isinstance(exc, sa.exc.OperationalError) and "locked" in str(exc.orig).lower():
                raise Conflict(
                    "the registry is busy with a concurrent change; retry", code="registry-conflict"
                ) from None
            raise BackendUnavailable(
                "the registry database is unavailable", code="registry-unavailable", retry_after=5
            ) from None

    # ---- reads -------------------------------------------------------------------------------
    @staticmethod
    def model(s: Session, name: str, *, lock: bool = False) -> ModelRow:
        q = sa.select(ModelRow).where(ModelRow.name == name)
        if lock:
            q = q.with_for_update()
        row = s.scalar(q)
        if row is None:
            raise ModelNotFound(f"model '{name}' is not registered")
        return row

    @staticmethod
    def version(s: Session, model: ModelRow, version: int) -> VersionRow:
        row = s.scalar(
            sa.select(VersionRow).where(VersionRow.model_id == model.id, VersionRow.version == version)
        )
        if row is None:
            raise ModelNotFound(f"model '{model.name}' has no version {version}")
        return row

    @staticmethod
    def tag(s: Session, model: ModelRow, name: str) -> TagRow | None:
        return s.scalar(sa.select(TagRow).where(TagRow.model_id == model.id, TagRow.name == name))

    @staticmethod
    def tags(s: Session, model: ModelRow) -> dict[str, TagRow]:
        return {t.name: t for t in s.scalars(sa.select(TagRow).where(TagRow.model_id == model.id))}

    def generation(self) -> int:
        with self.session() as s:
            return int(s.scalar(sa.select(StateRow.generation).where(StateRow.id == 1)) or 0)

    @staticmethod
    def bump(s: Session) -> None:
        s.execute(sa.update(StateRow).where(StateRow.id == 1).values(generation=StateRow.generation + 1))

    @staticmethod
    def served_versions(tags: dict[str, TagRow]) -> set[int]:
        """Versions Triton must serve: the targets of every tag (current, canary, named)."""
        return {t.version for t in tags.values() if t.version is not None}

    def snapshot(self) -> tuple[int, dict[str, ModelSnapshot]]:
        """Everything the gateway's resolver needs, read in one transaction."""
        with self.session() as s:
            gen = int(s.scalar(sa.select(StateRow.generation).where(StateRow.id == 1)) or 0)
            models = {m.id: m.name for m in s.scalars(sa.select(ModelRow))}
            out: dict[str, ModelSnapshot] = {
                name: {"current": None, "canary": None, "tags": {}} for name in models.values()
            }
            for t in s.scalars(sa.select(TagRow)):
                snap = out[models[t.model_id]]
                if t.version is None:
                    continue
                if t.name == CURRENT:
                    snap["current"] = t.version
                elif t.name == CANARY:
                    if t.weight > 0:
                        snap["canary"] = (t.version, float(t.weight), bool(t.sticky))
                elif t.name == SHADOW:
                    if t.weight > 0:
                        snap["shadow"] = (t.version, float(t.weight))
                else:
                    snap["tags"][t.name] = t.version
        return gen, out

    # ---- views -------------------------------------------------------------------------------
    @staticmethod
    def version_view(v: VersionRow, *, files: bool = True) -> dict[str, Any]:
        out = {
            "version": v.version,
            "status": v.status,
            "publisher": v.publisher,
            "published_at": _iso(v.published_at),
            "breaking": v.breaking,
            "signature": v.signature,
            "validation": v.validation,
        }
        if files:
            out["files"] = [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in v.files]
            out["model_card"] = v.model_card
        return out

    def model_view(self, s: Session, m: ModelRow, *, files: bool = False) -> dict[str, Any]:
        tags = self.tags(s, m)
        current = tags.get(CURRENT)
        canary = tags.get(CANARY)
        return {
            "name": m.name,
            "current": current.version if current else None,
            "previous": current.previous_version if current else None,
            "canary": (
                {"version": canary.version, "weight": canary.weight, "sticky": canary.sticky}
                if canary is not None and canary.version is not None
                else None
            ),
            "shadow": (
                {"version": tags[SHADOW].version, "share": tags[SHADOW].weight}
                if SHADOW in tags and tags[SHADOW].version is not None
                else None
            ),
            "tags": {n: t.version for n, t in sorted(tags.items()) if n not in (CURRENT, CANARY, SHADOW)},
            "versions": [self.version_view(v, files=files) for v in m.versions],
        }

    @staticmethod
    def event_view(e: EventRow, model: str) -> dict[str, Any]:
        return {
            "model": model,
            "kind": e.kind,
            "tag": e.tag,
            "before": e.before_version,
            "after": e.after_version,
            "actor": e.actor,
            "reason": e.reason,
            "at": _iso(e.at),
            "detail": e.detail,
        }

    # ---- writes ------------------------------------------------------------------------------
    @staticmethod
    def model_or_new(s: Session, name: str, actor: str) -> ModelRow:
        """The model row, created (and flushed, so it has an id) on its first version."""
        model = s.scalar(sa.select(ModelRow).where(ModelRow.name == name))
        if model is None:
            model = ModelRow(name=name, created_at=utcnow(), created_by=actor)
            s.add(model)
            s.flush()
        return model

    @staticmethod
    def add_files(s: Session, row: VersionRow, folder: Path) -> dict[str, str]:
        """Record every file of a version folder with its checksum (``verify`` re-checks them);
        returns ``{relative path: sha256}``."""
        digests = {}
        for f in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            rel = str(f.relative_to(folder))
            digests[rel] = sha256_file(f)
            s.add(FileRow(version_id=row.id, path=rel, sha256=digests[rel], size=f.stat().st_size))
        return digests

    @staticmethod
    def add_event(
        s: Session,
        model: ModelRow,
        kind: str,
        *,
        actor: str,
        reason: str,
        tag: str | None = None,
        before: int | None = None,
        after: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> EventRow:
        ev = EventRow(
            model_id=model.id,
            kind=kind,
            tag=tag,
            before_version=before,
            after_version=after,
            actor=actor,
            reason=reason,
            at=utcnow(),
            detail=detail or {},
        )
        s.add(ev)
        return ev

    def claim(self, name: str, tag: str, version: int, actor: str) -> int:
        """Mark ``tag`` as being moved to ``version``; returns the revision seen. 409 if
        another move of any tag of this model is in progress: every move rewrites the
        model's ``config.pbtxt``, so moves of one model run one at a time (the model row
        is locked while claiming)."""
        with self.session() as s:
            m = self.model(s, name, lock=True)
            row = self.tag(s, m, tag)
            now = utcnow()
            stale = now - dt.timedelta(seconds=self.stale_claim_s)
            busy = s.scalar(
                sa.select(TagRow.name).where(
                    TagRow.model_id == m.id,
                    TagRow.name != tag,
                    TagRow.pending_version.is_not(None),
                    TagRow.pending_since >= stale,
                )
            )
            if busy is not None:
                raise Conflict(
                    f"another change of model '{name}' (tag '{busy}') is in progress",
                    code="promotion-in-progress",
                )
            if row is None:
                s.add(
                    TagRow(
                        model_id=m.id,
                        name=tag,
                        version=None,
                        revision=0,
                        pending_version=version,
                        pending_since=now,
                        updated_at=now,
                        updated_by=actor,
                    )
                )
                return 0
            res = s.execute(
                sa.update(TagRow)
                .where(TagRow.id == row.id, TagRow.revision == row.revision)
                .where(sa.or_(TagRow.pending_version.is_(None), TagRow.pending_since < stale))
                .values(pending_version=version, pending_since=now)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:
                raise Conflict(
                    f"another change of tag '{tag}' of model '{name}' is in progress",
                    code="promotion-in-progress",
                )
            return row.revision

    def release(self, name: str, tag: str, revision: int) -> None:
        """Drop a claim after a failed move (the tag keeps its version)."""
        with self.session() as s:
            m = self.model(s, name)
            s.execute(
                sa.update(TagRow)
                .where(TagRow.model_id == m.id, TagRow.name == tag, TagRow.revision == revision)
                .values(pending_version=None, pending_since=None)
                .execution_options(synchronize_session=False)
            )

    @staticmethod
    def move(
        s: Session,
        row: TagRow,
        revision: int,
        *,
        version: int | None,
        actor: str,
        previous: int | None | bool = False,
        weight: float | None = None,
        sticky: bool | None = None,
    ) -> None:
        """Compare-and-set ``row`` from ``revision``; 409 if someone else moved it."""
        values: dict[str, Any] = {
            "version": version,
            "revision": revision + 1,
            "pending_version": None,
            "pending_since": None,
            "updated_at": utcnow(),
            "updated_by": actor,
        }
        if previous is not False:
            values["previous_version"] = previous
        if weight is not None:
            values["weight"] = weight
        if sticky is not None:
            values["sticky"] = sticky
        res = s.execute(
            sa.update(TagRow)
            .where(TagRow.id == row.id, TagRow.revision == revision)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount != 1:
            raise Conflict(f"tag '{row.name}' was moved concurrently; retry", code="registry-conflict")
        Store.bump(s)
        s.expire_all()  # rows loaded before the UPDATE are stale now
