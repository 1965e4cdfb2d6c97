"""Write the FHIR examples in this folder (deterministic; run from the repository root).

    .venv/bin/python examples/fhir/build_examples.py

- ``breast_cancer_bundle.json``: a Bundle of 30 Observations (WDBC test case 0),
  coded in medinfer's WDBC code system; mean smoothness is sent in ``%`` to show unit conversion.
- ``note_documentreference.json``: a DocumentReference with a synthetic clinical note.
- ``dicom_binary.json``: a Binary (application/dicom) made from pydicom's test file CT_small.dcm.
- ``imaging_bundle.json``: an ImagingStudy plus that Binary, the instance matched by SOP Instance UID.

All patients and names are synthetic.
"""

from __future__ import annotations

import base64
import json
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SUBJECT = {"reference": "Patient/example-1"}


def _train() -> dict:
    return runpy.run_path(str(ROOT / "models" / "breast_cancer" / "train.py"))


def observation_bundle(values: dict[str, float], codes: dict[str, dict], subject: dict | None = None,
                       percent: tuple[str, ...] = ("mean_smoothness",)) -> dict:
    entries = []
    for i, (name, value) in enumerate(values.items()):
        c = codes[name]
        qty = {"value": float(value), "unit": c["unit"], "system": "http://unitsofmeasure.org", "code": c["unit"]}
        if name in percent and c["unit"] == "1":
            qty.update(value=round(float(value) * 100.0, 10), unit="%", code="%")
        entries.append({"fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}", "resource": {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": c["system"], "code": c["code"], "display": c["display"]}]},
            "subject": subject or SUBJECT, "valueQuantity": qty,
        }})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def breast_cancer_example() -> dict:
    train = _train()
    names = train["feature_names"]()
    row = train["load_split"]()[1][0]
    return observation_bundle({n: float(v) for n, v in zip(names, row.tolist())}, train["fhir_codes"]())


def note_document(text: str, subject: dict | None = None) -> dict:
    return {
        "resourceType": "DocumentReference", "id": "note-1", "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]},
        "subject": subject or SUBJECT,
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                    "data": base64.b64encode(text.encode()).decode()}}],
    }


def dicom_bytes() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm")).read_bytes()


def dicom_binary(subject: dict | None = None) -> dict:
    return {"resourceType": "Binary", "id": "ct-small", "contentType": "application/dicom",
            "securityContext": subject or SUBJECT, "data": base64.b64encode(dicom_bytes()).decode()}


def imaging_bundle(subject: dict | None = None) -> dict:
    import io

    import pydicom

    ds = pydicom.dcmread(io.BytesIO(dicom_bytes()), stop_before_pixels=True)
    study = {
        "resourceType": "ImagingStudy", "id": "study-1", "status": "available", "subject": subject or SUBJECT,
        "series": [{"uid": str(ds.SeriesInstanceUID), "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM",
                                                                  "code": str(ds.Modality)},
                    "instance": [{"uid": str(ds.SOPInstanceUID),
                                  "sopClass": {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{ds.SOPClassUID}"}}]}],
    }
    binary = dicom_binary(subject)
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:10000000-0000-4000-8000-000000000001", "resource": study},
        {"fullUrl": "urn:uuid:10000000-0000-4000-8000-000000000002", "resource": binary},
    ]}


NOTE = ("Synthetic note. 58 y/o woman seen in breast clinic for a palpable left breast mass found on self-exam. "
        "Ultrasound showed a 1.8 cm irregular hypoechoic lesion. Fine-needle aspirate sent to cytology. "
        "Plan: follow up in two weeks with results.")


def main(out: Path = HERE) -> None:
    docs = {"breast_cancer_bundle.json": breast_cancer_example(), "note_documentreference.json": note_document(NOTE),
            "dicom_binary.json": dicom_binary(), "imaging_bundle.json": imaging_bundle()}
    for name, doc in docs.items():
        (out / name).write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
