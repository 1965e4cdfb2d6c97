"""The language gate end to end: a note the de-identifier cannot handle is refused at the
gateway (422 unsupported-language), never reaches Triton, and the refusal is audited."""

from __future__ import annotations

import base64
import json
import runpy
import sqlite3
from pathlib import Path

import pytest
import requests

from medinfer.stack import Stack
from tests.support.stack import GatewayClient

ROOT = Path(__file__).resolve().parents[2]
TEXT_MODELS = ("note_embedding", "ner")
NOTES = {
    "es": "Paciente Zebulon Quixley, de 67 años, refiere dolor torácico desde ayer y no tiene fiebre. "
          "Se recomienda control en consulta externa en dos semanas.",
    "fr": "Le patient Zebulon Quixley se plaint de douleurs thoraciques depuis hier soir, sans fièvre. "
          "Un contrôle est prévu dans deux semaines.",
}
ENGLISH_WITH_SPANISH_NAMES = "Pt María Guadalupe Hernández from Guadalajara seen today for chest pain, no fever."


def _inferences(stack: Stack) -> dict[str, int]:
    out = {}
    for model in TEXT_MODELS:
        stats = requests.get(f"{stack.triton_url}/v2/models/{model}/stats", timeout=5).json()
        out[model] = sum(int(m["inference_count"]) for m in stats["model_stats"])
    return out


def _audit(stack: Stack, request_id: str) -> list[tuple]:
    con = sqlite3.connect(stack.home / "medinfer.db")
    try:
        return con.execute("SELECT route, status FROM audit_ledger WHERE request_id = ?", (request_id,)).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("language", sorted(NOTES))
@pytest.mark.parametrize("model", TEXT_MODELS)
def test_a_note_in_another_language_is_refused_and_never_forwarded(stack: Stack, gateway: GatewayClient,
                                                                   language: str, model: str) -> None:
    before = _inferences(stack)
    r = gateway.post("/infer", json={"input": NOTES[language], "model": model})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "unsupported-language" and problem["language"] == language
    assert "Quixley" not in r.text and "semaines" not in r.text and "semanas" not in r.text
    assert _inferences(stack) == before
    assert _audit(stack, r.headers["x-request-id"]) == [("/infer", 422)]


def test_fhir_document_reference_and_binary_in_another_language_are_refused(stack: Stack,
                                                                             gateway: GatewayClient) -> None:
    ex = runpy.run_path(str(ROOT / "examples" / "fhir" / "build_examples.py"))
    doc = ex["note_document"](NOTES["es"])
    binary = {"resourceType": "Binary", "contentType": "text/plain", "securityContext": {"reference": "Patient/example-1"},
              "data": base64.b64encode(NOTES["es"].encode()).decode()}
    before = _inferences(stack)
    for resource in (doc, binary):
        r = gateway.post("/fhir/r4/$infer", data=json.dumps(resource), headers={"content-type": "application/fhir+json"},
                         params={"model": "note_embedding"})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/fhir+json" and "unsupported-language" in r.text
        assert "Quixley" not in r.text and "torácico" not in r.text
        assert len(_audit(stack, r.headers["x-request-id"])) == 1
    assert _inferences(stack) == before


def test_english_with_foreign_names_goes_through(stack: Stack, gateway: GatewayClient) -> None:
    before = _inferences(stack)
    r = gateway.post("/infer", json={"input": ENGLISH_WITH_SPANISH_NAMES, "model": "note_embedding"})
    assert r.status_code == 200, r.text
    assert _inferences(stack)["note_embedding"] == before["note_embedding"] + 1
