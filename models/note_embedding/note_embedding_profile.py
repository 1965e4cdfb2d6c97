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
with the folds split by note, and the MMD reference sample takes one excerpt
per note (``build_embedding_profile(groups=...)``). Embedding runs the built ONNX graph and
tokenizer in-process, as the Triton runner does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from medinfer.monitoring import EmbeddingProfile, TextGate, build_embedding_profile

__all__ = ["CORPUS", "OOD_TARGET_FRR", "corpus_notes", "render_excerpts", "excerpt_pairs", "corpus_excerpts", "embed",
           "reference_profile"]

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


def render_excerpts(notes: list[dict], rng: np.random.Generator, per_note: int = EXCERPTS_PER_NOTE,
                    sentences: tuple[int, int] = (1, 6)) -> list[tuple[str, str]]:
    """(surrogate, placeholder) renderings of excerpts of annotated ``notes`` (``{"id", "text", "spans"}``).

    The gateway renders a note twice: with surrogates (what the model embeds)
    and with ``[LABEL]`` placeholders (what the text gate reads).
    ``sentences`` bounds the excerpt length; ``(0, 0)`` takes whole notes.
    """
    from medinfer.preprocess.deid.surrogate import SurrogateKeys

    keys = SurrogateKeys(_BUILD_KEY)
    out: list[tuple[str, str]] = []
    for note in notes:
        marked, values = _marked(note)
        surrogates = keys.note(note["id"])
        parts = [s.strip() for s in _SENTENCE.split(marked) if s.strip()]
        for _ in range(per_note if sentences != (0, 0) else 1):
            if sentences == (0, 0):
                excerpt = marked
            else:
                k = int(rng.integers(sentences[0], sentences[1] + 1))
                start = int(rng.integers(0, max(1, len(parts) - k + 1)))
                excerpt = " ".join(parts[start: start + k])
            tagged = _MARKER.sub(lambda m: f"[{values[int(m.group(1))][0]}]", excerpt)
            out.append((_MARKER.sub(lambda m: surrogates.replace(*values[int(m.group(1))]), excerpt), tagged))
    return out


def corpus_notes(part: str) -> list[dict]:
    """The ``reference`` (index % 3 != 2) or ``heldout`` (index % 3 == 2) notes of both corpus splits."""
    if part not in ("reference", "heldout"):
        raise ValueError("part is 'reference' or 'heldout'")
    notes = []
    for split in ("dev", "heldout"):
        with open(CORPUS / f"{split}.jsonl", encoding="utf-8") as fh:
            notes += [json.loads(line) for i, line in enumerate(fh) if (i % 3 == 2) == (part == "heldout")]
    return notes


def excerpt_pairs(part: str, per_note: int = EXCERPTS_PER_NOTE, seed: int = SEED,
                  sentences: tuple[int, int] = (1, 6)) -> list[tuple[str, str]]:
    """:func:`render_excerpts` of the ``reference`` or ``heldout`` notes (deterministic)."""
    rng = np.random.default_rng(seed if part == "reference" else seed + 1)
    return render_excerpts(corpus_notes(part), rng, per_note, sentences)


def corpus_excerpts(part: str, per_note: int = EXCERPTS_PER_NOTE, seed: int = SEED) -> list[str]:
    """Surrogate renderings of the excerpts whose placeholder rendering passes the text gate."""
    gate = TextGate()
    return [text for text, tagged in excerpt_pairs(part, per_note, seed) if not gate.check(tagged).ood]


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
    gate, rng = TextGate(), np.random.default_rng(SEED)
    texts, groups = [], []
    for i, note in enumerate(corpus_notes("reference")):
        for text, tagged in render_excerpts([note], rng):
            if not gate.check(tagged).ood:
                texts.append(text)
                groups.append(i)
    return build_embedding_profile(
        embed(model_dir, texts), groups=np.asarray(groups), target_frr=OOD_TARGET_FRR, seed=0,
        source=f"{len(texts)} de-identified excerpts of {len(set(groups))} synthetic notes "
               "(bench/data/deid, index % 3 != 2); MMD sample one excerpt per note",
    )
