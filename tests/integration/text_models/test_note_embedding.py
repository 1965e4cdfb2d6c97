"""``note_embedding`` on a real tritonserver: agreement with the reference, batching, bad input."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from medinfer.triton.model_config import ModelConfig
from tests.integration.text_models._infer import infer_texts, model_stats, stats_after

pytestmark = pytest.mark.integration

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "note_embedding_reference.json"


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(REFERENCE.read_text())


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_served_config_is_the_generated_one(triton_client, model_repo: Path) -> None:
    written = ModelConfig.from_pbtxt((model_repo / "note_embedding" / "config.pbtxt").read_text())
    served = triton_client.get_model_config("note_embedding")
    assert served["max_batch_size"] == written.max_batch_size == 64
    assert "dynamic_batching" in served
    assert [(i["name"], i["data_type"], i["dims"]) for i in served["input"]] == [("TEXT", "TYPE_STRING", [1])]
    assert [(o["name"], o["data_type"], o["dims"]) for o in served["output"]] == [
        ("EMBEDDING", "TYPE_FP32", [384])
    ]


def test_embeddings_agree_with_the_reference_implementation(triton_client, reference: dict) -> None:
    served = infer_texts(triton_client, "note_embedding", reference["samples"], "EMBEDDING")
    expected = np.asarray(reference["embeddings"], dtype=np.float32)
    assert served.dtype == np.float32
    assert served.shape == (len(reference["samples"]), 384)
    cos = _cosine(served, expected)
    assert cos.min() >= 0.999, cos
    np.testing.assert_allclose(np.linalg.norm(served, axis=1), 1.0, atol=1e-5)
    # Different texts stay apart: the check above is not satisfied by a constant vector.
    off_diagonal = served @ served.T - np.eye(len(served))
    assert off_diagonal.max() < 0.95


def test_related_notes_are_closer_than_unrelated_ones(triton_client) -> None:
    a, b, c = infer_texts(
        triton_client,
        "note_embedding",
        [
            "Patient reports crushing chest pain and shortness of breath.",
            "Complains of chest pressure with dyspnea on exertion.",
            "Right ankle sprain after a fall while playing football.",
        ],
        "EMBEDDING",
    )
    assert float(a @ b) > float(a @ c) + 0.1


def test_concurrent_single_requests_are_batched_and_match(
    text_triton, triton_client, reference: dict
) -> None:
    texts = reference["samples"] * 4
    expected = np.asarray(reference["embeddings"] * 4, dtype=np.float32)
    before = model_stats(triton_client, "note_embedding")

    def one(text: str) -> np.ndarray:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{text_triton.ports.http}")
        try:
            return infer_texts(client, "note_embedding", [text], "EMBEDDING")[0]
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=16) as pool:
        served = np.stack(list(pool.map(one, texts)))
    assert _cosine(served, expected).min() >= 0.999
    after = stats_after(triton_client, "note_embedding", before["inference_count"] + len(texts))
    inferences = after["inference_count"] - before["inference_count"]
    executions = after["execution_count"] - before["execution_count"]
    assert inferences == len(texts)
    assert executions < inferences  # the dynamic batcher merged requests


def test_text_never_reaches_the_server_log(text_triton, triton_client) -> None:
    canary = "Zebulon Quackenbush-MRN48213377 of Ravensworth Clinic"
    assert infer_texts(triton_client, "note_embedding", [canary], "EMBEDDING").shape == (1, 384)
    with pytest.raises(InferenceServerException):
        infer_texts(triton_client, "note_embedding", [canary.encode() + b"\xff"], "EMBEDDING")
    log = text_triton.log_path.read_text(errors="replace")
    assert "Quackenbush" not in log and "MRN48213377" not in log and "Ravensworth" not in log


def test_invalid_utf8_is_rejected_without_echoing_it(triton_client) -> None:
    canary = b"MRN-4411-\xff\xfe-CANARY"
    with pytest.raises(InferenceServerException) as err:
        infer_texts(triton_client, "note_embedding", [canary], "EMBEDDING")
    assert "UTF-8" in str(err.value)
    assert "CANARY" not in str(err.value) and "4411" not in str(err.value)
    # The model keeps serving afterwards.
    assert infer_texts(triton_client, "note_embedding", ["still fine"], "EMBEDDING").shape == (1, 384)
