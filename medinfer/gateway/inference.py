"""The gateway's inference path for ``POST /infer`` (no HTTP here).

Resolve the model and version, check that the input kind matches what the
model takes, preprocess (tabular schema validation inline or in the
preprocessor service), call Triton, shape the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from medinfer.common.errors import BackendUnavailable, ValidationFailed
from medinfer.common.v2 import V2Tensor
from medinfer.gateway.clients.preprocessor import PreprocessorClient
from medinfer.gateway.clients.triton import TritonClient
from medinfer.gateway.media_ood import MediaOod
from medinfer.gateway.pipelines import ImagePipeline, TextPipeline
from medinfer.gateway.resilience import Deadline
from medinfer.gateway.routing import InputKind, classify_input, image_bytes
from medinfer.monitoring import DriftMonitor, OodDecision
from medinfer.preprocess.tabular import TabularSchema
from medinfer.triton.catalog import CatalogEntry, ModelCatalog

REROUTE_DELAY_S = 0.05

__all__ = ["InferenceService", "InferenceResult", "VersionResolver", "LatestVersionResolver"]


class VersionResolver(Protocol):
    """Which version serves a request that names a model (and maybe a version).

    Returns the version and the release tag it was reached through (None when
    the caller pinned a version). The registry's resolver applies ``current``
    and canary weights (by request id, or by ``client`` when the canary is
    sticky); the default serves the highest version present."""

    def resolve(self, model: str, version: int | None, request_id: str,
                client: str | None = None) -> tuple[int, str | None]: ...


def _untracked(model: str, version: int) -> AbstractContextManager[Any]:
    return nullcontext()


class LatestVersionResolver:
    def __init__(self, catalog: ModelCatalog) -> None:
        self.catalog = catalog

    def resolve(self, model: str, version: int | None, request_id: str,
                client: str | None = None) -> tuple[int, str | None]:
        if version is not None:
            return version, None
        return self.catalog.get(model).version, "latest"


@dataclass
class InferenceResult:
    model: str
    version: int
    outputs: list[V2Tensor]
    kind: InputKind
    tag: str | None = None
    ood: OodDecision | None = None
    phi_counts: dict[str, int] | None = None
    spans: dict[str, Any] | None = None  # span models: deidentified_text and entities on the caller's text

    def to_json(self, request_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "model": self.model,
            "version": str(self.version),
            "outputs": [t.to_json() for t in self.outputs],
            "request_id": request_id,
        }
        if self.phi_counts is not None:  # text: what de-identification removed before the model saw it
            doc["phi_removed"] = self.phi_counts
        if self.spans is not None:
            doc.update(self.spans)
        if self.ood is not None:  # the version is monitored: say whether the gate flagged the input
            doc["ood"] = self.ood.ood
            if self.ood.ood:
                doc["ood_reason"] = self.ood.reason
                if self.ood.rows:  # tabular batches: which rows
                    doc["ood_rows"] = list(self.ood.rows)
        return doc


class InferenceService:
    def __init__(
        self, catalog: ModelCatalog, triton: TritonClient, preprocessor: PreprocessorClient, *,
        default_models: dict[str, str], tabular_normalizer: str = "inline",
        versions: VersionResolver | None = None,
        track: Callable[[str, int], AbstractContextManager[Any]] | None = None,
        monitor: DriftMonitor | None = None, text_operator: str = "surrogate",
    ) -> None:
        self.catalog = catalog
        self.versions: VersionResolver = versions or LatestVersionResolver(catalog)
        # Counts a request in flight on (model, version) so the registry unloads a retired
        # version only after its requests finished (``VersionMetrics.track``).
        self.track = track or _untracked
        self.triton = triton
        self.preprocessor = preprocessor
        self.default_models = default_models
        self.tabular_normalizer = tabular_normalizer
        self.monitor = monitor
        self._schemas: dict[tuple[str, int], TabularSchema] = {}
        self.text = TextPipeline(preprocessor, triton, text_operator)
        self.image = ImagePipeline(preprocessor, triton)
        self.media_ood = MediaOod(monitor)
        self.shadow: Any = None  # ShadowMirror when the registry routes (gateway/shadow.py)

    def resolve_named(self, model: Any, version: Any, request_id: str,
                      client: str | None = None) -> tuple[CatalogEntry, str | None]:
        """Validate a model name and optional version and resolve them to a catalog entry and its tag.

        ``client`` (the caller's stable identity) keeps a sticky canary on one version per client."""
        if not isinstance(model, str) or not model:
            raise ValidationFailed("'model' must be a model name", field="model")
        if version is not None:
            if isinstance(version, str) and version.isascii() and version.isdigit():  # not "²": int() refuses it
                version = int(version)
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise ValidationFailed("'version' must be a positive integer", field="version")
        self.catalog.get(model)  # 404 for an unknown model before any routing decision
        resolved, tag = self.versions.resolve(model, version, request_id, client)
        return self.catalog.get(model, resolved), tag

    def resolve(self, body: dict[str, Any], kind: InputKind, request_id: str = "",
                client: str | None = None) -> tuple[CatalogEntry, str | None]:
        model = body.get("model")
        version = body.get("version")
        if model is None:
            model = self.default_models.get(kind.value)
            if model is None:
                raise ValidationFailed("no default model for this kind of input; name one in 'model'", field="model")
        return self.resolve_named(model, version, request_id, client)

    def schema(self, entry: CatalogEntry) -> TabularSchema:
        key = (entry.name, entry.version)
        schema = self._schemas.get(key)
        if schema is None:
            schema = self._schemas[key] = TabularSchema.from_metadata(entry.metadata)
        return schema

    async def infer(self, body: Any, request_id: str, deadline: Deadline, headers: dict[str, str] | None = None,
                    authorize: Callable[[CatalogEntry], None] | None = None,
                    patient_key: str | None = None, client: str | None = None) -> InferenceResult:
        """``authorize`` runs once the model is resolved, before any work on the input (403 stops here);
        ``client`` is the caller's stable identity, for sticky canaries."""
        if not isinstance(body, dict) or "input" not in body:
            raise ValidationFailed("body must be a JSON object with an 'input' field", field="input")
        kind = classify_input(body["input"])
        if kind is InputKind.UNKNOWN:
            raise ValidationFailed("'input' must be text, a base64 image/DICOM, a tabular record or a tensor",
                                   field="input")
        entry, tag = self.resolve(body, kind, request_id, client)
        if authorize is not None:
            authorize(entry)
        expected = entry.kind
        accepts = {expected, "tensor"} if expected == "tabular" else {expected}
        if kind.value not in accepts and not (expected == "image" and kind is InputKind.DICOM):
            raise ValidationFailed(f"model expects {expected} input", field="input", code="wrong-input-kind",
                                   extra={"expected_kind": expected})
        if kind in (InputKind.TABULAR, InputKind.TENSOR) and expected == "tabular":
            tensor = await self._tabular(entry, body, kind, deadline, headers)
            ood = self.gate_tabular(entry, tensor.data)
            try:
                with self.track(entry.name, entry.version):
                    outputs = await self.triton.infer(entry.name, entry.version, [tensor], deadline,
                                                      request_id=request_id, headers=headers)
            except BackendUnavailable as err:
                if err.code != "model-unavailable" or body.get("version") is not None:
                    raise
                # The routed version left Triton between routing and the call (a promotion or rollback
                # finished meanwhile): route once more on the current snapshot.
                await asyncio.sleep(REROUTE_DELAY_S)
                entry, tag = self.resolve(body, kind, request_id, client)
                tensor = await self._tabular(entry, body, kind, deadline, headers)
                with self.track(entry.name, entry.version):
                    outputs = await self.triton.infer(entry.name, entry.version, [tensor], deadline,
                                                      request_id=request_id, headers=headers)
            if self.shadow is not None:
                self.shadow.mirror_tensors(entry.name, entry.version, request_id, [tensor], outputs)
            return InferenceResult(entry.name, entry.version, outputs, kind, tag, ood)
        if kind is InputKind.TEXT:
            with self.track(entry.name, entry.version):
                text = await self.text.run(entry, body["input"], deadline, request_id, headers, patient_key,
                                           gate=self.media_ood.text_gate(entry))
            ood = self.media_ood.after_text(entry, text.outputs, text.ood)
            return InferenceResult(entry.name, entry.version, text.outputs, kind, tag, ood, text.phi_counts,
                                   text.spans)
        if kind in (InputKind.IMAGE, InputKind.DICOM):
            data = image_bytes(body["input"])
            with self.track(entry.name, entry.version):
                image = await self.image.run(entry, data, deadline, request_id, headers, frame=body.get("frame"),
                                             gate=self.media_ood.image_gate(entry))
            return InferenceResult(entry.name, entry.version, image.outputs, kind, tag, image.ood)
        raise ValidationFailed(f"{kind.value} input does not fit this model", field="input",
                               code="unsupported-input-kind")

    def monitors_tabular(self, entry: CatalogEntry) -> bool:
        """Whether ``gate_tabular`` applies: a tabular version with a drift monitor (cheap dict lookup)."""
        return (entry.kind == "tabular" and self.monitor is not None
                and self.monitor.get(entry.name, str(entry.version)) is not None)

    def gate_tabular(self, entry: CatalogEntry, features: np.ndarray) -> OodDecision | None:
        """OOD gate (raises ``OodRejected`` under a reject policy), then an O(1) append to the drift window.

        ``None`` when the version is not monitored. Rejected inputs are counted
        by the gate but kept out of the window; flagged ones stay in it, since
        they are part of what the model is being sent. ``/infer``, the v2 REST
        route and gRPC ``ModelInfer`` all call this on the FP32 feature matrix.
        """
        mon = self.monitor
        if mon is None:
            return None
        version = str(entry.version)
        if mon.get(entry.name, version) is None:
            return None
        x = np.asarray(features, dtype=np.float64)  # one conversion for the gate and the window
        decision = mon.check(entry.name, version, x)
        mon.record(entry.name, version, x)
        return decision

    async def _tabular(self, entry: CatalogEntry, body: dict, kind: InputKind, deadline: Deadline,
                       headers: dict[str, str] | None) -> V2Tensor:
        spec = entry.metadata["input"]
        payload = body["input"]
        if kind is InputKind.TENSOR:
            payload = self._tensor_rows(payload)
        if self.tabular_normalizer == "preprocessor":
            doc = await self.preprocessor.post_json(
                "/v1/tabular/normalize", {"model": entry.name, "version": entry.version, "input": payload}, deadline,
                headers, operation="tabular",
            )
            t = doc["tensor"]
            matrix = np.asarray(t["data"], dtype=np.float32).reshape(t["shape"])
        else:
            matrix = self.schema(entry).normalize(payload)
        return V2Tensor(spec["name"], "FP32", list(matrix.shape), matrix)

    @staticmethod
    def _tensor_rows(tensor: dict[str, Any]) -> list:
        """A v2-style tensor ``{"datatype": "FP32", "shape": [n, f], "data": [...]}`` -> rows of numbers."""
        shape, data = tensor.get("shape"), tensor.get("data")
        if tensor.get("datatype") not in ("FP32", "FP64") or not isinstance(shape, list) or not isinstance(data, list):
            raise ValidationFailed("tensor input must be FP32 with a shape and data", field="input")
        if len(shape) == 1:
            return data
        if len(shape) != 2 or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ValidationFailed("tensor input must have shape [features] or [batch, features]", field="input.shape")
        flat = [x for row in data for x in row] if data and isinstance(data[0], list) else data
        if len(flat) != shape[0] * shape[1]:
            raise ValidationFailed("tensor data does not match its shape", field="input.data")
        return [flat[i * shape[1] : (i + 1) * shape[1]] for i in range(shape[0])]
