"""Model offsets over the de-identified text map back onto the caller's text (non-PHI spans only)."""

from __future__ import annotations

import pytest

from medinfer.gateway.span_mapping import map_spans, unchanged_stretches


def _deid(original: str, phi: list[tuple[str, str]]) -> tuple[str, list[dict]]:
    """Replace each PHI substring by its surrogate, as the preprocessor does; entities over the original."""
    entities, out, pos = [], [], 0
    for value, surrogate in phi:
        start = original.index(value, pos)
        entities.append({"start": start, "end": start + len(value), "label": "NAME"})
        out += [original[pos:start], surrogate]
        pos = start + len(value)
    out.append(original[pos:])
    return "".join(out), entities


def _span(clean: str, word: str, label: str = "ORG") -> dict:
    start = clean.index(word)
    return {"start": start, "end": start + len(word), "label": label}


CASES = [
    # (original, [(phi, surrogate)], non-PHI words the model finds)
    ("Mr Zebulon Quixote was seen at the FDA clinic on Monday.", [("Zebulon Quixote", "Al Bo")], ["FDA", "Monday"]),
    ("Zebulon Quixote saw Ann Lee; aspirin given by the WHO team.",
     [("Zebulon Quixote", "Tom Hanks Jr"), ("Ann Lee", "Bea Kowalczyk-Smith")], ["WHO", "aspirin"]),
    ("Patient Zebulon", [("Zebulon", "")], ["Patient"]),  # redact: empty replacement
    ("Seen with the FDA team by Dr Quixote", [("Quixote", "[NAME]")], ["FDA"]),
    ("Seen by Quixote with the FDA team", [("Quixote", " with the FDA team ")], ["Seen"]),  # replacement repeats text
]


@pytest.mark.parametrize(("original", "phi", "words"), CASES)
def test_non_phi_entities_map_onto_the_callers_text(original: str, phi, words) -> None:
    clean, entities = _deid(original, phi)
    spans = [_span(clean, w) for w in words]
    mapped = map_spans(original, clean, entities, spans)
    assert [original[m["start"]:m["end"]] for m in mapped] == words
    assert all(m["label"] == "ORG" for m in mapped)


def test_spans_over_a_surrogate_do_not_map() -> None:
    original = "Zebulon Quixote visited the FDA."
    clean, entities = _deid(original, [("Zebulon Quixote", "Al Bo")])
    mapped = map_spans(original, clean, entities, [_span(clean, "Al Bo", "PERSON"), _span(clean, "Bo visited"),
                                                   _span(clean, "FDA")])
    assert [original[m["start"]:m["end"]] for m in mapped] == ["FDA"]


@pytest.mark.parametrize("spans", [[{"start": -1, "end": 3}], [{"start": 5, "end": 2}], [{"start": "0", "end": 2}],
                                   ["junk"], [{"start": 0, "end": 10_000}]])
def test_malformed_model_spans_are_dropped(spans) -> None:
    assert map_spans("abc def", "abc def", [], spans) == []


def test_no_phi_maps_everything_one_to_one() -> None:
    assert unchanged_stretches("abc def", "abc def", []) == [(0, 0, 7)]
