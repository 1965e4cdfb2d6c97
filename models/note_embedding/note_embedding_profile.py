"""Reference profile of ``note_embedding``: embedding statistics of de-identified clinical text.

Corpus: the 300 synthetic clinical notes of ``bench/data/deid`` (``dev`` and
``heldout`` splits; see their README), cut into excerpts of 1-6 consecutive
sentences, because the gateway is sent anything from one line to a whole
note. Each excerpt is de-identified the way the gateway's text route does it
by default: the model embeds it with every gold PHI span replaced by a
surrogate (a fixed build key makes them deterministic), the text gate reads it
with ``[LABEL]`` placeholders. Excerpts the text gate refuses (PHI only, too
short, no clinical vocabulary...) are left out: the embedding gate describes
what passes the text gate.

Notes with ``index % 3 == 2`` in each split are **held out**: the profile never
sees them; ``bench/drift_eval.py`` measures the false-reject rate on their
excerpts. The other 200 notes give ``EXCERPTS_PER_NOTE`` excerpts each; the
distance threshold is calibrated out-of-fold on them to ``OOD_TARGET_FRR``
(``build_embedding_profile``). Embedding runs the built ONNX graph and
tokenizer in-process, as the Triton runner does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from medinfer.monitoring import EmbeddingProfile, TextGate, build_embedding_profile

__all__ = ["CORPUS", "OOD_TARGET_FRR", "corpus_excerpts", "embed", "reference_profile"]

CORPUS = Path(__file__).resolve().parents[2] / "bench" / "data" / "deid"
OOD_TARGET_FRR = 0.01
EXCERPTS_PER_NOTE = 3
SEED = 20261128
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_BUILD_KEY = b"medinfer-note-embedding-reference-profile"
_MARKER = re.compile("\x00(\\d+)\x00")


def _marked(note: dict) -> tuple[str, list[tuple[str, str]]]:
    """The note with each gold PHI span replaced by a marker ``\x00i\x00``, and the (label, value) per marker."""
    text, spans = note["text"], sorted(note["spans"], key=lambda s: s["start"])
    out, values, pos = [], [], 0
    for span in spans:
        if span["start"] < pos:
            continue
        out.append(text[pos: span["start"]])
        out.append(f"\x00{len(values)}\x00")
        values.append((span["label"], text[span["start"]: span["end"]]))
        pos = span["end"]
    out.append(text[pos:])
    return "".join(out), values


def corpus_excerpts(part: str, per_note: int = EXCERPTS_PER_NOTE, seed: int = SEED) -> list[str]:
    """De-identified excerpts of the ``reference`` (2/3) or ``heldout`` (1/3) notes that pass the text gate.

    Each excerpt is rendered twice, as the gateway does: with surrogates (what
    the model embeds, returned here) and with ``[LABEL]`` placeholders (what
    the text gate reads), so a PHI-only excerpt is left out as ``empty``.
    """
    from medinfer.preprocess.deid.surrogate import SurrogateKeys

    if part not in ("reference", "heldout"):
        raise ValueError("part is 'reference' or 'heldout'")
    keys = SurrogateKeys(_BUILD_KEY)
    gate = TextGate()
    rng = np.random.default_rng(seed if part == "reference" else seed + 1)
    out: list[str] = []
    for split in ("dev", "heldout"):
        with open(CORPUS / f"{split}.jsonl", encoding="utf-8") as fh:
            notes = [json.loads(line) for line in fh]
        for i, note in enumerate(notes):
            if (i % 3 == 2) != (part == "heldout"):
                continue
            marked, values = _marked(note)
            surrogates = keys.note(note["id"])
            sentences = [s.strip() for s in _SENTENCE.split(marked) if s.strip()]
            for _ in range(per_note):
                k = int(rng.integers(1, 7))
                start = int(rng.integers(0, max(1, len(sentences) - k + 1)))
                excerpt = " ".join(sentences[start: start + k])
                tagged = _MARKER.sub(lambda m: f"[{values[int(m.group(1))][0]}]", excerpt)
                if not gate.check(tagged).ood:
                    out.append(_MARKER.sub(lambda m: surrogates.replace(*values[int(m.group(1))]), excerpt))
    return out


def embed(model_dir: Path, texts: list[str], batch: int = 16) -> np.ndarray:
    """Embeddings of ``texts`` with the version folder's ``model.onnx`` and ``tokenizer.json`` (as served)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    tok.enable_truncation(max_length=256)
    tok.no_padding()
    pad = tok.token_to_id("[PAD]")
    session = ort.InferenceSession(str(Path(model_dir) / "model.onnx"), providers=["CPUExecutionProvider"])
    enc = tok.encode_batch(texts)
    lengths = np.array([len(e.ids) for e in enc])
    out = np.empty((len(texts), 384), dtype=np.float32)
    order = np.argsort(lengths, kind="stable")  # similar lengths together: little padding
    for i in range(0, len(texts), batch):
        rows = order[i: i + batch]
        width = int(lengths[rows].max())
        ids = np.full((len(rows), width), pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for j, r in enumerate(rows):
            ids[j, : lengths[r]] = enc[r].ids
            mask[j, : lengths[r]] = 1
        out[rows] = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    return out


def reference_profile(model_dir: Path) -> EmbeddingProfile:
    texts = corpus_excerpts("reference")
    return build_embedding_profile(
        embed(model_dir, texts), target_frr=OOD_TARGET_FRR, seed=0,
        source=f"{len(texts)} de-identified excerpts of 200 synthetic notes (bench/data/deid, index % 3 != 2)",
    )
