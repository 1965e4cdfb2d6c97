"""Offsets a text model reports over the de-identified text, mapped back onto the caller's text.

The model sees the note with each PHI span replaced (a surrogate, a tag, a mask or
nothing), so its offsets point into text the caller never sent. The stretches
between PHI spans are copied unchanged by de-identification; a model span that
lies inside one of them maps back by a constant shift. Spans touching a
replacement are PHI-derived and do not map (the caller still has them, over
``deidentified_text``, in the raw outputs). Every mapped span is checked:
the caller's text at the mapped offsets equals what the model labelled.
"""

from __future__ import annotations

from typing import Any

__all__ = ["unchanged_stretches", "map_spans"]


def _phi_spans(original: str, entities: list[dict[str, Any]]) -> list[tuple[int, int]]:
    spans, pos = [], 0
    found = sorted((e["start"], e["end"]) for e in entities
                   if isinstance(e, dict) and isinstance(e.get("start"), int) and isinstance(e.get("end"), int))
    for start, end in found:
        if pos <= start < end <= len(original):
            spans.append((start, end))
            pos = end
    return spans


def unchanged_stretches(original: str, clean: str, entities: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """``(start in original, start in clean, length)`` of each stretch de-identification left as is,
    located left to right (each one where the rest still fits); stops at the first it cannot place."""
    spans = _phi_spans(original, entities)
    bounds = [0] + [x for s in spans for x in s] + [len(original)]
    stretches = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]
    rest = [0] * (len(stretches) + 1)
    for i in range(len(stretches) - 1, -1, -1):
        rest[i] = rest[i + 1] + stretches[i][1] - stretches[i][0]
    out, cursor = [], 0
    for i, (start, end) in enumerate(stretches):
        piece = original[start:end]
        if i == 0:
            pos = 0 if clean.startswith(piece) else -1
        elif i == len(stretches) - 1:
            pos = len(clean) - len(piece) if clean.endswith(piece) and len(clean) - len(piece) >= cursor else -1
        else:
            pos = clean.find(piece, cursor)
        if pos < 0 or pos + rest[i] > len(clean):
            break
        if piece:
            out.append((start, pos, len(piece)))
        cursor = pos + len(piece)
    return out


def map_spans(original: str, clean: str, phi: list[dict[str, Any]],
              spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model's ``spans`` (offsets into ``clean``) that map onto ``original``, with those offsets."""
    stretches = unchanged_stretches(original, clean, phi)
    mapped = []
    for span in spans:
        if not isinstance(span, dict):
            continue
        start, end = span.get("start"), span.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(clean)):
            continue
        for o_start, c_start, length in stretches:
            if c_start <= start and end <= c_start + length:
                shift = o_start - c_start
                if original[start + shift:end + shift] == clean[start:end]:
                    mapped.append({**span, "start": start + shift, "end": end + shift})
                break
    return mapped
