"""Model outputs -> a FHIR ``Bundle`` (type ``collection``) the EHR can store.

Tabular risk models (``task: binary-classification``) answer with a
``RiskAssessment``; other models with an ``Observation`` carrying one
component per output tensor. Either comes with the ``Device`` that stands for
the model version and a ``Provenance`` whose extensions record model name,
version, release tag and request id, so a result written back to the EHR says
which model produced it. Everything is validated with the R4B models before
it leaves.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from medinfer.fhir.resources import validate_output

__all__ = ["EXT", "MODEL_SYSTEM", "result_bundle"]

MODEL_SYSTEM = "https://medinfer.dev/fhir/CodeSystem/models"
OUTPUT_SYSTEM = "https://medinfer.dev/fhir/CodeSystem/model-outputs"
REQUEST_ID_SYSTEM = "https://medinfer.dev/fhir/request-id"
_EXT_BASE = "https://medinfer.dev/fhir/StructureDefinition/"
EXT = {k: _EXT_BASE + k for k in ("model-name", "model-version", "release-tag", "request-id")}


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _device(model: str, version: int, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "identifier": [{"system": MODEL_SYSTEM, "value": f"{model}/{version}"}],
        "status": "active",
        "deviceName": [{"name": model, "type": "model-name"}],
        "version": [{"value": str(version)}],
        "type": {"text": f"medinfer model ({metadata.get('task', metadata.get('kind', 'model'))})"},
    }


def _method(model: str, version: int, metadata: dict[str, Any]) -> dict[str, Any]:
    return {"coding": [{"system": MODEL_SYSTEM, "code": model, "version": str(version),
                        "display": metadata.get("description", model)[:200]}],
            "text": f"{model} version {version}"}


def _risk(model, version, metadata, subject, basis, outputs, device_ref, now) -> dict[str, Any]:
    out = metadata["outputs"][0]
    p = float(outputs[0].data.reshape(-1)[0])
    return {
        "resourceType": "RiskAssessment", "status": "final", "subject": subject, "occurrenceDateTime": now,
        "method": _method(model, version, metadata), "performer": {"reference": device_ref},
        "basis": basis, "prediction": [{"outcome": {"text": out.get("meaning", out["name"])},
                                        "probabilityDecimal": round(p, 9)}],
    }


def _component(tensor, spec: dict[str, Any]) -> dict[str, Any]:
    comp: dict[str, Any] = {"code": {"coding": [{"system": OUTPUT_SYSTEM, "code": tensor.name}]}}
    data = tensor.data.reshape(-1)
    classes = spec.get("classes")
    if tensor.datatype == "BYTES":
        v = data[0]
        comp["valueString"] = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    elif classes and tensor.datatype.startswith("INT") and data.size == 1:
        comp["valueCodeableConcept"] = {"coding": [{"system": OUTPUT_SYSTEM, "code": str(classes[int(data[0])])}],
                                        "text": str(classes[int(data[0])])}
    elif data.size == 1:
        comp["valueQuantity"] = {"value": float(data[0]), "unit": "1", "system": "http://unitsofmeasure.org",
                                 "code": "1"}
    else:
        comp["valueSampledData"] = {"origin": {"value": 0}, "period": 0, "dimensions": 1,
                                    "data": " ".join(f"{float(x):.7g}" for x in data)}
    return comp


def _observation(model, version, metadata, subject, sources, outputs, device_ref, now) -> dict[str, Any]:
    specs = {o["name"]: o for o in metadata.get("outputs", [])}
    obs: dict[str, Any] = {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": MODEL_SYSTEM, "code": model, "version": str(version)}],
                 "text": f"{model} version {version} output"},
        "subject": subject, "effectiveDateTime": now, "issued": now, "device": {"reference": device_ref},
        "method": _method(model, version, metadata),
        "component": [_component(t, specs.get(t.name, {})) for t in outputs],
    }
    derived = [s for s in sources if s.get("type") in ("DocumentReference", "ImagingStudy")]
    if derived:
        obs["derivedFrom"] = derived
    return obs


def result_bundle(*, model: str, version: int, tag: str | None, request_id: str, metadata: dict[str, Any],
                  subject: dict[str, Any], sources: list[dict[str, Any]], outputs: list, risk: bool) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    result_url, device_url, prov_url = _urn(), _urn(), _urn()
    build = _risk if risk else _observation
    result = build(model, version, metadata, subject, [s for s in sources if s] if risk else sources, outputs,
                   device_url, now)
    extensions = [{"url": EXT["model-name"], "valueString": model},
                  {"url": EXT["model-version"], "valueString": str(version)},
                  {"url": EXT["request-id"], "valueString": request_id}]
    if tag:
        extensions.append({"url": EXT["release-tag"], "valueString": tag})
    provenance = {
        "resourceType": "Provenance", "target": [{"reference": result_url}], "recorded": now,
        "extension": extensions,
        "activity": {"text": "medinfer inference"},
        "agent": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                        "code": "performer"}]},
                   "who": {"reference": device_url, "display": f"{model} version {version}"}}],
        "entity": [{"role": "source", "what": s} for s in sources if s],
    }
    bundle = {
        "resourceType": "Bundle", "type": "collection", "timestamp": now,
        "identifier": {"system": REQUEST_ID_SYSTEM, "value": request_id},
        "entry": [{"fullUrl": result_url, "resource": result},
                  {"fullUrl": device_url, "resource": _device(model, version, metadata)},
                  {"fullUrl": prov_url, "resource": provenance}],
    }
    return validate_output(bundle)
