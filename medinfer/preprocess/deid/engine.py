"""The de-identification engine: Presidio analyzer (our registry + NER-only spaCy) -> span
resolution -> Presidio anonymizer with our operators.

Pure logic, no HTTP: the preprocessor route, the CLI and the benchmark call the
same ``DeidEngine``. Build it once (loading spaCy takes seconds) and share it;
``deidentify`` is safe to call from several threads, and analyses run side by side: the
only state an analysis mutates is a spaCy pipeline, of which the engine keeps a pool
(``pipelines``; see ``nlp``). Before any analysis the language gate refuses text in a
language the recognizers do not cover (``language``), and every note runs under a time
budget (``note_budget_s``; see ``budget``) that ends it with 503 rather than let it stall.

Span resolution, after Presidio's own de-duplication:
1. results under ``min_score`` are dropped;
2. name propagation: every other occurrence of a word from a confident NAME
   span (Title Case or UPPER) is also a NAME, so 'Reed' is caught in prose
   after 'REED, AMY' in the header -- the biggest single recall gain;
3. NAME spans take in a title before them and an initial after them (``name_spans``);
4. overlapping spans are merged into their union (a partial mask leaks), the
   label taken from the highest (score, specificity) member.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from presidio_analyzer import AnalyzerEngine, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig
from presidio_anonymizer.entities import RecognizerResult as AnonymizerSpan

from medinfer.common.errors import PayloadTooLarge, ValidationFailed
from medinfer.preprocess.deid.budget import checkpoint, note_budget
from medinfer.preprocess.deid.labels import LABELS, priority
from medinfer.preprocess.deid.language import LanguageGate
from medinfer.preprocess.deid.name_spans import extend_names
from medinfer.preprocess.deid.nlp import ClinicalSpacyNlpEngine
from medinfer.preprocess.deid.registry import DeidConfig, DeidRegistryProvider
from medinfer.preprocess.deid.surrogate import NoteSurrogates, SurrogateKeys
from medinfer.preprocess.deid.vocab import is_not_name

__all__ = ["OPERATORS", "DeidEngine", "DeidResult", "Entity"]

OPERATORS = ("redact", "mask", "tag", "surrogate")
_PROPAGATE_MIN_SCORE = 0.75
_NAME_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]+")
_CAP_WORD = re.compile(r"(?<![\w'’-])[A-Z][A-Za-z'’]+(?:-[A-Z][A-Za-z'’]+)*(?![\w-])")


@dataclass(frozen=True, slots=True)
class Entity:
    """A PHI span: offsets into the original text, a Safe Harbor label and a confidence."""

    start: int
    end: int
    label: str
    score: float

    def to_dict(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "label": self.label, "score": round(self.score, 3)}


@dataclass(frozen=True, slots=True)
class DeidResult:
    text: str
    entities: tuple[Entity, ...]

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "entities": [e.to_dict() for e in self.entities]}


class _NoContextEnhancer(ContextAwareEnhancer):
    """Our recognizers put context words in their regexes; the lemma enhancer would need the
    lemmatizer pipe (which we exclude for speed) and only ever raises scores we already set."""

    def __init__(self) -> None:
        super().__init__(context_similarity_factor=0, min_score_with_context_similarity=0,
                         context_prefix_count=0, context_suffix_count=0)

    def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
        return raw_results


class DeidEngine:
    """``deidentify(text, operator, patient_key) -> DeidResult``; see the module docstring."""

    def __init__(self, secret: bytes | str, *, config: DeidConfig | None = None, max_chars: int = 100_000,
                 min_score: float = 0.4, max_shift_days: int = 365, batch_size: int = 16,
                 max_batch_items: int = 256, note_budget_s: float | None = 8.0, pipelines: int = 2,
                 languages: Sequence[str] | None = ("en",)) -> None:
        """``note_budget_s``: seconds per note (``None``: unbounded, for offline runs);
        ``pipelines``: spaCy copies, the number of analyses that run NER at once;
        ``languages``: ISO 639-1 codes accepted (``None``: no language gate)."""
        self.config = config or DeidConfig.load()
        # Presidio logs result objects and operator configs at debug/info level; keep them quiet
        # so a verbose log level can never start writing details of what was found.
        for name in ("presidio-analyzer", "presidio-anonymizer"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.max_chars = max_chars
        self.min_score = min_score
        self.batch_size = batch_size
        # Span rules after the recognizers (name_spans.py): NAME spans take in titles and initials.
        self.extend_names = True
        self.max_batch_items = max_batch_items
        self.note_budget_s = note_budget_s
        self.language_gate = LanguageGate(languages) if languages is not None else None
        self.nlp_engine = ClinicalSpacyNlpEngine(self.config.nlp, pipelines=pipelines)
        self.nlp_engine.load()
        registry = DeidRegistryProvider(self.config).create_recognizer_registry()
        self.analyzer = AnalyzerEngine(registry=registry, nlp_engine=self.nlp_engine,
                                       supported_languages=self.config.supported_languages,
                                       context_aware_enhancer=_NoContextEnhancer())
        self.anonymizer = AnonymizerEngine()
        self._keys = SurrogateKeys(secret.encode("utf-8") if isinstance(secret, str) else secret, max_shift_days)
        self._static_ops = {
            "tag": {label: OperatorConfig("replace", {"new_value": f"[{label}]"}) for label in LABELS},
            "redact": {label: OperatorConfig("replace", {"new_value": "[REDACTED]"}) for label in LABELS},
            "mask": {label: OperatorConfig("mask", {"masking_char": "*", "chars_to_mask": 1 << 30,
                                                    "from_end": False}) for label in LABELS},
        }

    # ------------------------------------------------------------------ validation
    def check_text(self, text: object, field: str = "text") -> str:
        """Return the text as ``str`` or raise a 4xx error that names the field, never the content."""
        if isinstance(text, (bytes, bytearray)):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError:
                raise ValidationFailed(f"'{field}' is not valid UTF-8", field=field, code="invalid-encoding") from None
        if not isinstance(text, str):
            raise ValidationFailed(f"'{field}' must be a string", field=field)
        if not text.strip():
            raise ValidationFailed(f"'{field}' is empty", field=field, code="empty-text")
        if len(text) > self.max_chars:
            raise PayloadTooLarge(f"'{field}' exceeds the limit of {self.max_chars} characters",
                                  extra={"field": field, "limit": self.max_chars})
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationFailed(f"'{field}' is not valid UTF-8", field=field, code="invalid-encoding") from None
        return text

    @staticmethod
    def check_operator(operator: object, field: str = "operator") -> str:
        if operator not in OPERATORS:
            raise ValidationFailed(f"'{field}' must be one of: {', '.join(OPERATORS)}", field=field,
                                   code="unknown-operator")
        return operator  # type: ignore[return-value]

    @staticmethod
    def check_patient_key(key: object, field: str = "patient_key") -> str | None:
        if key is None:
            return None
        if not isinstance(key, str) or not 1 <= len(key) <= 256:
            raise ValidationFailed(f"'{field}' must be a string of 1 to 256 characters", field=field)
        return key

    # ------------------------------------------------------------------ analysis
    def _resolve(self, text: str, results: Iterable[RecognizerResult]) -> list[Entity]:
        spans = [(r.start, r.end, r.entity_type, r.score) for r in results
                 if r.score >= self.min_score and r.end > r.start and r.entity_type in LABELS]
        spans.extend(self._propagate_names(text, spans))
        if self.extend_names:
            spans = extend_names(text, spans)
        spans.sort(key=lambda s: (s[0], -s[1]))
        merged: list[list] = []
        for start, end, label, score in spans:
            if merged and start < merged[-1][1]:
                cur = merged[-1]
                cur[1] = max(cur[1], end)
                if (score, priority(label)) > (cur[3], priority(cur[2])):
                    cur[2], cur[3] = label, score
            else:
                merged.append([start, end, label, score])
        return [Entity(s, e, label, score) for s, e, label, score in merged]

    @staticmethod
    def _propagate_names(text: str, spans: list[tuple[int, int, str, float]]) -> list[tuple[int, int, str, float]]:
        words: set[str] = set()
        for start, end, label, score in spans:
            if label == "NAME" and score >= _PROPAGATE_MIN_SCORE:
                for w in _NAME_WORD.findall(text[start:end]):
                    if len(w) > 2 and not is_not_name(w):
                        words.add(w.capitalize())
                        words.add(w.upper())
        if not words:
            return []
        # One precompiled scan for capitalised words + a set look-up: no per-note regex compile.
        return [(m.start(), m.end(), "NAME", 0.7) for m in _CAP_WORD.finditer(text) if m.group() in words]

    def check_language(self, text: str, field: str = "text") -> None:
        """422 ``unsupported-language`` when the gate judges ``text`` to be in an unsupported language."""
        if self.language_gate is not None:
            self.language_gate.check(text, field)

    def _budget(self, notes: int = 1):
        return note_budget(None if self.note_budget_s is None else self.note_budget_s * notes)

    def analyze(self, text: str) -> list[Entity]:
        text = self.check_text(text)
        self.check_language(text)
        with self._budget():
            return self._analyze_one(text)

    def _analyze_one(self, text: str) -> list[Entity]:
        results = self.analyzer.analyze(text=text, language="en")
        checkpoint()
        return self._resolve(text, results)

    def _analyze_many(self, texts: Sequence[str]) -> list[list[Entity]]:
        out = []
        for text, artifacts in self.nlp_engine.process_batch(list(texts), "en", batch_size=self.batch_size):
            results = self.analyzer.analyze(text=text, language="en", nlp_artifacts=artifacts)
            checkpoint()
            out.append(self._resolve(text, results))
        return out

    # ------------------------------------------------------------------ anonymization
    def _operators(self, operator: str, note: NoteSurrogates | None) -> dict[str, OperatorConfig]:
        if operator != "surrogate":
            return self._static_ops[operator]
        assert note is not None
        return {label: OperatorConfig("custom", {"lambda": (lambda value, _l=label: note.replace(_l, value))})
                for label in LABELS}

    def apply(self, text: str, entities: Sequence[Entity], operator: str, patient_key: str | None = None) -> str:
        """Apply an operator to already-found entities (used by the batch path)."""
        if not entities:
            return text
        note = self._keys.note(patient_key) if operator == "surrogate" else None
        spans = [AnonymizerSpan(e.label, e.start, e.end, e.score) for e in entities]
        return self.anonymizer.anonymize(text=text, analyzer_results=spans,
                                         operators=self._operators(operator, note)).text

    def deidentify(self, text: object, operator: object = "tag", patient_key: object = None) -> DeidResult:
        text = self.check_text(text)
        operator = self.check_operator(operator)
        patient_key = self.check_patient_key(patient_key)
        self.check_language(text)
        with self._budget():
            entities = self._analyze_one(text)
            return DeidResult(self.apply(text, entities, operator, patient_key), tuple(entities))

    def deidentify_batch(self, items: object, default_operator: object = "tag") -> list[DeidResult]:
        """Many notes at once: validates every item first (nothing runs on a bad batch), then runs
        spaCy over them with ``nlp.pipe``. Items are ``{"text", "operator"?, "patient_key"?}``."""
        if not isinstance(items, (list, tuple)) or not items:
            raise ValidationFailed("'items' must be a non-empty list", field="items")
        if len(items) > self.max_batch_items:
            raise PayloadTooLarge(f"'items' exceeds the limit of {self.max_batch_items} notes",
                                  extra={"field": "items", "limit": self.max_batch_items})
        checked = []
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise ValidationFailed(f"'items[{i}]' must be an object", field=f"items[{i}]")
            checked.append((self.check_text(item.get("text"), f"items[{i}].text"),
                            self.check_operator(item.get("operator", default_operator), f"items[{i}].operator"),
                            self.check_patient_key(item.get("patient_key"), f"items[{i}].patient_key")))
            self.check_language(checked[-1][0], f"items[{i}].text")
        with self._budget(len(checked)):
            found = self._analyze_many([c[0] for c in checked])
            return [DeidResult(self.apply(text, ents, op, key), tuple(ents))
                    for (text, op, key), ents in zip(checked, found)]
