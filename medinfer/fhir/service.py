"""``$infer`` logic: FHIR in, the gateway's :class:`InferenceService`, FHIR out (no HTTP here).

The FHIR input becomes the same body ``POST /infer`` takes (``{"input", "model",
"version"}``), so every rule of that path applies unchanged: release-tag
routing, scopes (through ``authorize``), de-identification of notes, the OOD
gate, Triton. Tabular Bundles are mapped to a feature record here, once the
model (and so its FHIR code map) is resolved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from medinfer.common.errors import ValidationFailed
from medinfer.fhir.request import FhirInput, parse_request
from medinfer.fhir.results import result_bundle
from medinfer.fhir.tabular import FeatureMap

__all__ = ["FhirAnswer", "FhirInferenceService"]


@dataclass
class FhirAnswer:
    bundle: dict[str, Any]
    model: str
    version: int
    tag: str | None
    subject: dict[str, Any]
    result: Any


class FhirInferenceService:
    def __init__(self, inference: Any) -> None:
        self.inference = inference
        self._maps: dict[tuple[str, int], FeatureMap] = {}

    def parse(self, doc: Any) -> FhirInput:
        return parse_request(doc)

    def feature_map(self, entry: Any) -> FeatureMap:
        key = (entry.name, entry.version)
        fmap = self._maps.get(key)
        if fmap is None:
            fmap = self._maps[key] = FeatureMap.from_metadata(entry.metadata)
        return fmap

    async def run(self, parsed: FhirInput, *, model: str | None, version: Any, request_id: str, deadline: Any,
                  headers: dict[str, str] | None = None,
                  authorize: Callable[[Any], None] | None = None, patient_key: str | None = None,
                  client: str | None = None) -> FhirAnswer:
        """``patient_key`` keys the text route's surrogates (same patient, same surrogates), as on /infer;
        ``client`` keeps a sticky canary on one version per caller."""
        model = model or parsed.model
        version = version if version is not None else parsed.version
        body: dict[str, Any] = {}
        if model is not None:
            body["model"] = model
        if version is not None:
            body["version"] = version
        sources = parsed.sources
        tag = None
        if parsed.kind == "tabular":
            if model is None:
                model = self.inference.default_models.get("tabular")
                body["model"] = model
            entry, tag = self.inference.resolve_named(model, version, request_id, client)
            if authorize is not None:  # scopes before any work on the input
                authorize(entry)
            if entry.kind != "tabular":
                raise ValidationFailed("model does not take Observations (tabular input)", field="model",
                                       code="wrong-input-kind", extra={"expected_kind": entry.kind})
            fmap = self.feature_map(entry)
            record, used = fmap.record(parsed.observations)
            body["input"] = record  # version left as asked: routing is deterministic per request id, and
            # an unpinned request may be rerouted by InferenceService if a promotion races it
            sources = [parsed.sources[i] or {"display": self._display(fmap, parsed.observations[i][1])}
                       for i in used]
        elif parsed.kind == "text":
            body["input"] = parsed.text
        else:
            body["input"] = parsed.image_b64
        result = await self.inference.infer(body, request_id, deadline, headers, authorize=authorize,
                                            patient_key=patient_key, client=client)
        if result.tag is None:
            result.tag = tag
        entry = self.inference.catalog.get(result.model, result.version)
        risk = parsed.kind == "tabular" and entry.metadata.get("task") == "binary-classification"
        bundle = result_bundle(model=result.model, version=result.version, tag=result.tag, request_id=request_id,
                               metadata=entry.metadata, subject=parsed.subject, sources=sources,
                               outputs=result.outputs, risk=risk)
        return FhirAnswer(bundle, result.model, result.version, result.tag, parsed.subject, result)

    @staticmethod
    def _display(fmap: FeatureMap, obs: dict[str, Any]) -> str:
        for c in (obs.get("code") or {}).get("coding") or []:
            fc = fmap.by_code.get((c.get("system"), c.get("code")))
            if fc is not None:
                return f"Observation {fc.system}|{fc.code}"
        return "Observation"
