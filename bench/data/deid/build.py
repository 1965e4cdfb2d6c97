"""Regenerate ``dev.jsonl`` and ``heldout.jsonl`` (deterministic: fixed seeds).

    .venv/bin/python bench/data/deid/build.py
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fakes  # noqa: E402
import gen_dev  # noqa: E402
import gen_heldout  # noqa: E402

SPLITS = {"dev": (gen_dev, 11, 150), "heldout": (gen_heldout, 29, 150)}


def build(name: str) -> Path:
    module, seed, count = SPLITS[name]
    rng = random.Random(seed)
    slots = fakes.Slots(seed)
    out = HERE / f"{name}.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        for i in range(count):
            slots.new_note()
            text, spans = fakes.render(module.make_template(rng), slots)
            fh.write(json.dumps({"id": f"{name}-{i:04d}", "text": text, "spans": spans}) + "\n")
    return out


if __name__ == "__main__":
    for split in SPLITS:
        print(build(split))
