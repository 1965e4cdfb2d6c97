"""The frozen de-identification evaluation set cannot change silently and its gold is well formed.

bench/data/deid/eval/ holds data nobody tunes on; these checks recompute its checksums,
validate every gold span and rebuild it from its generator byte for byte.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EVAL = Path(__file__).resolve().parents[2] / "bench" / "data" / "deid" / "eval"
REQUIRED = {"id", "source", "text", "spans"}


def _markup():
    spec = importlib.util.spec_from_file_location("eval_markup", EVAL / "markup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _frozen() -> dict[str, str]:
    sums = {}
    for line in (EVAL / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    return sums


def test_checksums_cover_every_data_file_and_match() -> None:
    sums = _frozen()
    assert set(sums) == {p.name for p in EVAL.glob("*.jsonl")}
    for name, digest in sums.items():
        assert hashlib.sha256((EVAL / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("name", sorted(_frozen()))
def test_every_gold_span_is_valid(name: str) -> None:
    markup = _markup()
    ids = set()
    notes = [json.loads(line) for line in (EVAL / name).read_text(encoding="utf-8").splitlines()]
    assert notes
    for note in notes:
        assert REQUIRED <= set(note), note.get("id")
        assert note["id"] not in ids
        ids.add(note["id"])
        assert note["source"] == name.removesuffix(".jsonl")
        markup.validate(note["text"], note["spans"])  # in range, trimmed, disjoint, known labels
        assert all(set(s) == {"start", "end", "label"} for s in note["spans"])


def test_markup_parser_rejects_bad_gold() -> None:
    markup = _markup()
    text, spans = markup.parse("Seen by [[N:Dr. Okafor]]'s team on [[D:3/14]].")
    assert [text[s["start"]:s["end"]] for s in spans] == ["Dr. Okafor", "3/14"]
    for bad in ("[[NAME: Okafor]] here", "[[PERSON:Okafor]]", "Dr[[N:Okafor]]", "[[N:Okafor"):
        with pytest.raises(markup.MarkupError):
            markup.parse(bad)
    with pytest.raises(markup.MarkupError):
        markup.validate("Maria Torres", [{"start": 0, "end": 5, "label": "NAME"},
                                         {"start": 3, "end": 12, "label": "NAME"}])


def test_generator_reproduces_the_frozen_files_byte_for_byte(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    subprocess.run([sys.executable, str(EVAL / "build_eval.py"), "--out", str(tmp_path)],
                   check=True, env=env, timeout=240)
    for name in [*_frozen(), "SHA256SUMS"]:
        assert (tmp_path / name).read_bytes() == (EVAL / name).read_bytes(), name
