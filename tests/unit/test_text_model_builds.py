"""Text-model builds without Triton: generated configs round-trip, the ONNX export matches the reference."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from medinfer.triton.model_config import ModelConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def embedding_build() -> dict:
    return runpy.run_path(str(ROOT / "models" / "note_embedding" / "build.py"), run_name="test_build")


@pytest.mark.parametrize("script", ["models/note_embedding/build.py", "models/ner/build.py"])
def test_configs_round_trip_through_pbtxt(script: str) -> None:
    cfg = runpy.run_path(str(ROOT / script), run_name="test_build")["model_config"]()
    assert ModelConfig.from_pbtxt(cfg.to_pbtxt()) == cfg
    assert cfg.backend == "python" and cfg.max_batch_size > 0 and cfg.dynamic_batching is not None
    assert [(t.name, t.datatype) for t in cfg.inputs] == [("TEXT", "BYTES")]
    assert "data_type: TYPE_STRING" in cfg.to_pbtxt()


def test_onnx_export_matches_the_reference_embeddings(embedding_build: dict, tmp_path: Path) -> None:
    src = embedding_build["weights_dir"]()
    onnx_path = runpy.run_path(str(ROOT / "models" / "note_embedding" / "export_onnx.py"))["export_onnx"](
        src, tmp_path / "model.onnx"
    )
    ref = json.loads((ROOT / "tests" / "data" / "note_embedding_reference.json").read_text())
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.enable_truncation(max_length=embedding_build["MAX_SEQ_LENGTH"])
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
    enc = tok.encode_batch(ref["samples"])
    feeds = {
        "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
    }
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ours = session.run(["sentence_embedding"], feeds)[0]
    expected = np.asarray(ref["embeddings"], dtype=np.float32)
    assert ours.shape == expected.shape == (len(ref["samples"]), 384)
    # Padding to the longest sample must not change any row: the mask reaches attention and pooling.
    np.testing.assert_allclose(ours, expected, atol=1e-4)
