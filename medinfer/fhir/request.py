"""What a ``$infer`` request carries: the model, the subject, and the input by kind.

Accepted bodies (each validated with the R4B models first):

- ``Bundle`` of ``Observation`` s (or one ``Observation``) -> tabular features
- ``DocumentReference`` or ``Binary`` (``text/plain``) with a clinical note -> text
- ``Bundle`` with an ``ImagingStudy`` and a ``Binary`` (``application/dicom``)
  whose SOP Instance UID is one of the study's instances, or a ``Binary`` DICOM -> image
- ``Parameters`` with ``resource`` (any of the above), and optional ``model``,
  ``version`` and ``subject`` (a Binary has no subject of its own)

Every input needs a subject (a Patient or Group reference); the subject is
copied into the result and never written to logs, errors or audit records.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass, field
from typing import Any

from medinfer.common.errors import ValidationFailed
from medinfer.fhir.resources import validate_resource

__all__ = ["ACTIVE_STATUSES", "DeclaredInput", "FhirInput", "declared_input", "parse_request", "reference_of"]

ACTIVE_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
_DICOM = "application/dicom"


@dataclass
class FhirInput:
    kind: str  # "tabular" | "text" | "image"
    subject: dict[str, Any]
    sources: list[dict[str, Any]] = field(default_factory=list)  # References to the input resources
    observations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (where, Observation)
    text: str | None = None
    image_b64: str | None = None
    model: str | None = None
    version: Any = None
    resource_types: frozenset[str] = frozenset()


def reference_of(resource: dict[str, Any], full_url: str | None) -> dict[str, Any] | None:
    if full_url:
        return {"reference": full_url, "type": resource["resourceType"]}
    if resource.get("id"):
        return {"reference": f"{resource['resourceType']}/{resource['id']}", "type": resource["resourceType"]}
    return None


def _subject(ref: Any, where: str) -> dict[str, Any]:
    if not isinstance(ref, dict) or not (ref.get("reference") or ref.get("identifier")):
        raise ValidationFailed("the input needs a subject (a Patient or Group reference)", field=where,
                               code="missing-subject")
    return ref


def _b64(data: Any, where: str) -> bytes:
    try:
        return base64.b64decode(data or "", validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("attachment data is not valid base64", field=where, code="invalid-fhir") from None


def _note_text(content_type: str | None, data: Any, where: str) -> str:
    if data is None:
        raise ValidationFailed("the note must be inline base64 'data' (medinfer does not fetch URLs)", field=where,
                               code="attachment-not-inline")
    raw = _b64(data, where)
    charset = "utf-8"
    for part in (content_type or "").split(";")[1:]:
        k, _, v = part.strip().partition("=")
        if k.lower() == "charset" and v:
            charset = v.strip('"').lower()
    try:
        text = raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        raise ValidationFailed("note text does not decode with its charset", field=where, code="invalid-fhir") from None
    if not text.strip():
        raise ValidationFailed("the note is empty", field=where, code="invalid-fhir")
    return text


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _sop_instance_uid(raw: bytes) -> str | None:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
    except (InvalidDicomError, EOFError, ValueError, TypeError, AttributeError, OSError):
        raise ValidationFailed("the Binary is not a readable DICOM Part 10 file", field="Binary.data",
                               code="invalid-dicom") from None
    uid = getattr(ds, "SOPInstanceUID", None)
    return str(uid) if uid else None


def _from_binary(doc: dict[str, Any], where: str, subject: dict[str, Any] | None, full_url: str | None) -> FhirInput:
    media = _media(doc.get("contentType"))
    if subject is None and isinstance(doc.get("securityContext"), dict):
        subject = doc["securityContext"]
    subj = _subject(subject, f"{where}.securityContext")
    src = [r for r in [reference_of(doc, full_url)] if r]
    if media == "text/plain":
        return FhirInput("text", subj, src, text=_note_text(doc.get("contentType"), doc.get("data"), f"{where}.data"))
    if media == _DICOM:
        _sop_instance_uid(_b64(doc.get("data"), f"{where}.data"))  # readable DICOM, or 422 here
        return FhirInput("image", subj, src, image_b64=doc["data"])
    raise ValidationFailed("Binary contentType must be text/plain or application/dicom", field=f"{where}.contentType",
                           code="unsupported-content-type")


def _from_document(doc: dict[str, Any], where: str, full_url: str | None) -> FhirInput:
    subj = _subject(doc.get("subject"), f"{where}.subject")
    for i, content in enumerate(doc.get("content") or []):
        att = content.get("attachment") or {}
        if _media(att.get("contentType")) in ("text/plain", ""):
            text = _note_text(att.get("contentType"), att.get("data"), f"{where}.content[{i}].attachment")
            return FhirInput("text", subj, [r for r in [reference_of(doc, full_url)] if r], text=text)
    raise ValidationFailed("DocumentReference needs a text/plain attachment", field=f"{where}.content",
                           code="unsupported-content-type")


def _from_bundle(doc: dict[str, Any], subject: dict[str, Any] | None) -> FhirInput:
    entries = [(i, e.get("resource") or {}, e.get("fullUrl")) for i, e in enumerate(doc.get("entry") or [])]
    types = frozenset(r.get("resourceType") for _, r, _ in entries)
    studies = [(i, r, u) for i, r, u in entries if r.get("resourceType") == "ImagingStudy"]
    if studies:
        return _from_imaging_bundle(studies, entries, types)
    docs = [(i, r, u) for i, r, u in entries if r.get("resourceType") == "DocumentReference"]
    if docs:
        i, r, u = docs[0]
        out = _from_document(r, f"Bundle.entry[{i}].resource", u)
        out.resource_types = types
        return out
    obs = [(i, r, u) for i, r, u in entries if r.get("resourceType") == "Observation"]
    if not obs:
        raise ValidationFailed("Bundle must hold Observations, a DocumentReference, or an ImagingStudy with a Binary",
                               field="Bundle.entry", code="wrong-resource-type")
    return _tabular([(f"Bundle.entry[{i}].resource", r, u) for i, r, u in obs], types)


def _tabular(obs: list[tuple[str, dict[str, Any], str | None]], types: frozenset[str]) -> FhirInput:
    subject = None
    for where, r, _ in obs:
        s = _subject(r.get("subject"), f"{where}.subject")
        if subject is None:
            subject = s
        elif s != subject:
            raise ValidationFailed("all Observations must have the same subject", field=f"{where}.subject",
                                   code="mixed-subjects")
        if r.get("status") not in ACTIVE_STATUSES:
            raise ValidationFailed("Observation status must be final, amended, corrected or preliminary",
                                   field=f"{where}.status", code="observation-status")
    out = FhirInput("tabular", subject or {}, resource_types=types)
    out.observations = [(where, r) for where, r, _ in obs]
    out.sources = [reference_of(r, u) or {} for _, r, u in obs]
    return out


def _from_imaging_bundle(studies, entries, types) -> FhirInput:
    (i, study, url), *rest = studies
    if rest:
        raise ValidationFailed("a Bundle may hold one ImagingStudy", field="Bundle.entry", code="invalid-fhir")
    where = f"Bundle.entry[{i}].resource"
    subj = _subject(study.get("subject"), f"{where}.subject")
    uids = {inst.get("uid") for s in study.get("series") or [] for inst in s.get("instance") or []}
    for j, r, u in entries:
        if r.get("resourceType") == "Binary" and _media(r.get("contentType")) == _DICOM:
            uid = _sop_instance_uid(_b64(r.get("data"), f"Bundle.entry[{j}].resource.data"))
            if uid not in uids:
                raise ValidationFailed("the DICOM's SOP Instance UID is not an instance of the ImagingStudy",
                                       field=f"Bundle.entry[{j}].resource", code="instance-mismatch")
            sources = [x for x in (reference_of(study, url), reference_of(r, u)) if x]
            return FhirInput("image", subj, sources, image_b64=r["data"], resource_types=types)
    raise ValidationFailed("the ImagingStudy needs a Binary (application/dicom) entry with the instance",
                           field="Bundle.entry", code="missing-instance")


def _parameters(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    named: dict[str, Any] = {}
    for p in doc.get("parameter") or []:
        name = p.get("name")
        if name == "resource":
            named["resource"] = p.get("resource")
        elif name in ("model", "version"):
            named[name] = p.get("valueString", p.get("valueCode", p.get("valueInteger", p.get("valuePositiveInt"))))
        elif name == "subject":
            named["subject"] = p.get("valueReference")
        else:
            raise ValidationFailed("Parameters may hold resource, model, version and subject",
                                   field="Parameters.parameter.name", code="invalid-fhir")
    if not isinstance(named.get("resource"), dict):
        raise ValidationFailed("Parameters needs a 'resource' parameter", field="Parameters.parameter",
                               code="invalid-fhir")
    return named["resource"], named


def parse_request(doc: Any) -> FhirInput:
    validate_resource(doc)
    params: dict[str, Any] = {}
    if doc["resourceType"] == "Parameters":
        doc, params = _parameters(doc)
        if doc.get("resourceType") == "Parameters":
            raise ValidationFailed("Parameters may not nest", field="Parameters.parameter.resource",
                                   code="wrong-resource-type")
        validate_resource(doc, "Parameters.parameter.resource")
    rtype = doc["resourceType"]
    subject = params.get("subject")
    if rtype == "Bundle":
        out = _from_bundle(doc, subject)
    elif rtype == "Observation":
        out = _tabular([(rtype, doc, None)], frozenset({rtype}))
    elif rtype == "DocumentReference":
        out = _from_document(doc, rtype, None)
    elif rtype == "Binary":
        out = _from_binary(doc, rtype, subject, None)
    else:  # a bare ImagingStudy carries no pixels
        raise ValidationFailed("an ImagingStudy must come in a Bundle with its DICOM instance as a Binary",
                               field="resourceType", code="missing-instance")
    out.model, out.version = params.get("model"), params.get("version")
    if not out.resource_types:
        out.resource_types = frozenset({rtype})
    return out


@dataclass(frozen=True)
class DeclaredInput:
    """What a request says about itself, read without validating or decoding anything (for the scope check
    that must come before any attachment, such as a DICOM instance, is parsed)."""

    resource_types: frozenset[str]
    kind: str | None  # the input kind the resources imply, when unambiguous
    model: str | None  # the model a Parameters resource names


def _rtype(resource: Any) -> str | None:
    rt = resource.get("resourceType") if isinstance(resource, dict) else None
    return rt if isinstance(rt, str) else None


def declared_input(doc: Any) -> DeclaredInput:
    model = None
    if _rtype(doc) == "Parameters":
        inner = None
        params = doc.get("parameter")
        for p in params if isinstance(params, list) else []:
            if not isinstance(p, dict):
                continue
            if p.get("name") == "resource":
                inner = p.get("resource")
            elif p.get("name") == "model":
                value = p.get("valueString", p.get("valueCode"))
                model = value if isinstance(value, str) else None
        doc = inner
    types: set[str] = set()
    top = _rtype(doc)
    if top:
        types.add(top)
    if top == "Bundle":
        for e in (doc.get("entry") or []) if isinstance(doc.get("entry"), list) else []:
            rt = _rtype(e.get("resource")) if isinstance(e, dict) else None
            if rt:
                types.add(rt)
    kind = None
    if "ImagingStudy" in types:
        kind = "image"
    elif "DocumentReference" in types:
        kind = "text"
    elif "Observation" in types:
        kind = "tabular"
    elif top == "Binary":
        media = _media(doc.get("contentType") if isinstance(doc.get("contentType"), str) else None)
        kind = "image" if media == _DICOM else "text" if media == "text/plain" else None
    return DeclaredInput(frozenset(types), kind, model)
