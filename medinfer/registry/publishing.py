"""Publishing and integrity checks of ``Registry`` (split out of ``service.py`` to keep modules small).

**publish** validates first (nothing written on failure), then inserts the
version row, writes the version folder atomically and commits; a failed commit
removes the folder again, so the database and the repository never disagree.
**verify** re-checks a published version's files and runs the ONNX Runtime
smoke test again; a failure marks the version ``failed`` for good.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from medinfer.common.errors import Conflict, ValidationFailed
from medinfer.monitoring.profile import PROFILE_FILENAME, profile_from_json
from medinfer.registry.audit import make_event
from medinfer.registry.db import VersionRow, utcnow
from medinfer.registry.store import CURRENT
from medinfer.registry.validation import (
    SAMPLE_FILE,
    check_compatible,
    find_candidate,
    sha256_file,
    validate_candidate,
)
from medinfer.triton.model_config import ModelConfig
from medinfer.triton.onnx_signature import config_from_onnx
from medinfer.triton.repository import METADATA_FILE

__all__ = ["PublishMixin", "NAME_PATTERN", "check_name"]

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
_NAME_RE = re.compile(NAME_PATTERN)


def check_name(name: str) -> None:
    # fullmatch: with .match, "$" also matches before a trailing newline ("tab\n" would pass)
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValidationFailed("model name must match " + NAME_PATTERN, field="name")


class PublishMixin:
    """``Registry``'s publish and verify (uses its store, repository, outbox and ``_record``)."""

    # ---- publish -----------------------------------------------------------------------------
    @staticmethod
    def validate_path(path: Path) -> dict[str, Any]:
        """Dry run of publish's checks (the CI 'validate' step)."""
        report = validate_candidate(find_candidate(path))
        return {"signature": report.signature, "validation": report.results}

    def publish(
        self,
        path: Path,
        name: str,
        *,
        version: int | None = None,
        breaking: bool = False,
        actor: str,
        reason: str = "",
    ) -> dict[str, Any]:
        check_name(name)
        if version is not None and (isinstance(version, bool) or version < 1):
            raise ValidationFailed("version must be a positive integer", field="version")
        candidate = find_candidate(path)
        report = validate_candidate(candidate)
        signature = report.signature
        files: dict[str, Path | bytes] = {"model.onnx": candidate.onnx_path}
        if candidate.sample_path is not None:
            files[SAMPLE_FILE] = candidate.sample_path
        profile = candidate.onnx_path.parent / PROFILE_FILENAME
        if Path(path).is_dir() and profile.is_file():
            # the drift/OOD reference built from the training inputs travels with the version
            try:
                profile_from_json(profile.read_bytes())
            except ValueError:
                raise ValidationFailed("reference_profile.json is not a valid reference profile",
                                       field=PROFILE_FILENAME) from None
            files[PROFILE_FILENAME] = profile
        card = candidate.card_path.read_text(errors="replace") if candidate.card_path else ""
        if card:
            files["README.md"] = card.encode()
        metadata: dict[str, Any] = {"kind": "tensor"}
        shipped_meta = candidate.onnx_path.parent / METADATA_FILE
        if Path(path).is_dir() and shipped_meta.is_file():
            try:
                metadata = json.loads(shipped_meta.read_text())
            except ValueError:
                raise ValidationFailed("medinfer.json is not valid JSON", field=METADATA_FILE) from None
        metadata.update({"name": name, "signature": signature})

        written: Path | None = None
        model_dir_existed = (self.repository.root / name).is_dir()
        config_before = self._read_config_text(name)
        try:
            with self.store.session() as s:
                model = self.store.model_or_new(s, name, actor)
                existing = {v.version for v in model.versions}
                if version is None:
                    version = max(existing | set(self.repository.versions(name)) | {0}) + 1
                if version in existing or self.repository.has_version(name, version):
                    raise Conflict(
                        f"model '{name}' version {version} already exists; versions are immutable",
                        code="version-exists",
                    )
                tags = self.store.tags(s, model)
                current = tags.get(CURRENT)
                if current is not None and current.version is not None and not breaking:
                    check_compatible(self.store.version(s, model, current.version).signature, signature)
                served = self.store.served_versions(tags)
                config = self._config(name, candidate.onnx_path, served or {version})
                if served and current is not None and current.version is not None:
                    # The model-level config keeps describing what is served now.
                    config = self._with_versions(
                        ModelConfig.from_pbtxt(self.store.version(s, model, current.version).config_pbtxt),
                        served,
                    )
                row = VersionRow(
                    model_id=model.id,
                    version=version,
                    publisher=actor,
                    published_at=utcnow(),
                    status="ready",
                    breaking=breaking,
                    signature=signature,
                    config_pbtxt=self._config(name, candidate.onnx_path, None).to_pbtxt(),
                    model_card=card,
                    validation=report.results | {"validated_at": utcnow().isoformat()},
                )
                s.add(row)
                s.flush()
                written = self.repository.write_version(config, version, files, metadata)
                digests = self.store.add_files(s, row, written)
                self.store.add_event(
                    s,
                    model,
                    "publish",
                    actor=actor,
                    reason=reason,
                    after=version,
                    detail={"breaking": breaking},
                )
                outbox_id = self.outbox.add(
                    s,
                    make_event(
                        "model.publish",
                        model=name,
                        actor=actor,
                        reason=reason,
                        after=version,
                        sha256=digests["model.onnx"],
                        breaking=breaking,
                    ),
                )
                view = self.store.version_view(row, files=False) | {"name": name}
        except BaseException:
            if written is not None:
                # Commit failed after the folder appeared: take it back out of sight first.
                hidden = written.with_name(f".failed-{written.name}")
                written.rename(hidden)
                shutil.rmtree(hidden, ignore_errors=True)
                self._restore_config(name, config_before)
            model_dir = self.repository.root / name
            if not model_dir_existed and model_dir.is_dir() and not self.repository.versions(name):
                shutil.rmtree(model_dir, ignore_errors=True)
            raise
        self._record(outbox_id)
        return view

    def _config(self, name: str, onnx_path: Path, versions: set[int] | None) -> ModelConfig:
        cfg = config_from_onnx(name, onnx_path, backend=self.backend)
        return self._with_versions(cfg, versions) if versions is not None else cfg

    @staticmethod
    def _with_versions(cfg: ModelConfig, versions: set[int]) -> ModelConfig:
        return replace(cfg, versions=tuple(sorted(versions)))

    # ---- integrity ---------------------------------------------------------------------------
    def verify(self, name: str, version: int, *, actor: str = "registry") -> dict[str, Any]:
        """Re-check a published version: checksums of every file and ONNX Runtime smoke test.
        A failure marks the version ``failed`` for good (it can no longer be promoted)."""
        with self.store.session() as s:
            m = self.store.model(s, name)
            row = self.store.version(s, m, version)
            expected = {f.path: f.sha256 for f in row.files}
            custom = row.validation.get("kind") == "custom"
        folder = self.repository.root / name / str(version)
        problems = []
        for rel, digest in expected.items():
            p = folder / rel
            if not p.is_file():
                problems.append(f"file '{rel}' is missing")
            elif sha256_file(p) != digest:
                problems.append(f"file '{rel}' does not match its sha256")
        if not problems and not custom:  # a custom Python-backend model is checked by checksums only
            try:
                validate_candidate(find_candidate(folder))
            except ValidationFailed as exc:
                problems.append(exc.detail)
        result = {"checked_at": utcnow().isoformat(), "passed": not problems, "problems": problems}
        if problems:
            self._mark_failed(name, version, "verify", result, actor)
        return result

    def _mark_failed(self, name: str, version: int, check: str, result: dict[str, Any], actor: str) -> None:
        with self.store.session() as s:
            m = self.store.model(s, name)
            row = self.store.version(s, m, version)
            row.status = "failed"
            row.validation = dict(row.validation) | {check: result, "passed": False}
            self.store.add_event(
                s, m, "validation_failed", actor=actor, reason=check, after=version, detail={"check": check}
            )
            outbox_id = self.outbox.add(
                s, make_event("model.validation_failed", model=name, actor=actor, reason=check, after=version)
            )
        self._record(outbox_id)
