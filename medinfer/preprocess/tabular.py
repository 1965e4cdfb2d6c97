"""Tabular record validation and normalization against a model's feature schema.

The schema comes from the model version's ``medinfer.json`` (``features``: name
plus the plausible range derived from the training data). A record is either
an object of named features or a list of numbers in schema order; a batch is a
list of such records. The result is a float32 matrix [batch, n_features].

Errors name the schema field and the rule, never the submitted value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from medinfer.common.errors import ValidationFailed

__all__ = ["FeatureSpec", "TabularSchema", "MAX_BATCH"]

MAX_BATCH = 256
_F32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    min: float
    max: float


class TabularSchema:
    def __init__(self, features: list[FeatureSpec]) -> None:
        self.features = features
        self.names = [f.name for f in features]
        self._index = {n: i for i, n in enumerate(self.names)}
        self._lo = np.array([f.min for f in features], dtype=np.float64)
        self._hi = np.array([f.max for f in features], dtype=np.float64)

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> TabularSchema:
        return cls([FeatureSpec(f["name"], float(f["min"]), float(f["max"])) for f in meta["features"]])

    def __len__(self) -> int:
        return len(self.features)

    def normalize(self, payload: Any) -> np.ndarray:
        """One record or a batch of records -> float32 [batch, n]."""
        if isinstance(payload, dict):
            rows = [self._from_mapping(payload, None)]
        elif isinstance(payload, list) and payload and isinstance(payload[0], (list, dict)):
            if len(payload) > MAX_BATCH:
                raise ValidationFailed(f"batch holds more than {MAX_BATCH} records", field="input")
            rows = [self._row(item, i) for i, item in enumerate(payload)]
        elif isinstance(payload, list):
            rows = [self._from_list(payload, None)]
        else:
            raise ValidationFailed(
                f"input must be an object of {len(self)} named features or a list of {len(self)} numbers",
                field="input",
            )
        matrix = np.asarray(rows, dtype=np.float64)
        self._check_ranges(matrix)
        return matrix.astype(np.float32)

    def _row(self, item: Any, index: int) -> list[float]:
        if isinstance(item, dict):
            return self._from_mapping(item, index)
        if isinstance(item, list):
            return self._from_list(item, index)
        raise ValidationFailed("each batch item must be an object or a list of numbers", field=f"input[{index}]")

    def _from_list(self, values: list, index: int | None) -> list[float]:
        where = "input" if index is None else f"input[{index}]"
        if len(values) != len(self):
            raise ValidationFailed(
                f"expected {len(self)} feature values, got {len(values)}", field=where, code="wrong-feature-count"
            )
        return [self._number(v, self.names[i], index) for i, v in enumerate(values)]

    def _from_mapping(self, record: dict, index: int | None) -> list[float]:
        unknown = sum(1 for k in record if k not in self._index)
        if unknown:
            raise ValidationFailed(
                f"{unknown} field(s) are not features of this model; expected names: see the model's metadata",
                field="input" if index is None else f"input[{index}]", code="unknown-feature",
            )
        out = []
        for name in self.names:
            if name not in record:
                raise ValidationFailed(f"required feature '{name}' is missing", field=self._field(name, index),
                                       code="missing-feature")
            out.append(self._number(record[name], name, index))
        return out

    def _field(self, name: str, index: int | None) -> str:
        return name if index is None else f"input[{index}].{name}"

    def _number(self, value: Any, name: str, index: int | None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationFailed(f"feature '{name}' must be a number", field=self._field(name, index),
                                   code="not-a-number")
        f = float(value)
        if not math.isfinite(f) or abs(f) > _F32_MAX:
            raise ValidationFailed(f"feature '{name}' must be a finite float32 number", field=self._field(name, index),
                                   code="not-finite")
        return f

    def _check_ranges(self, matrix: np.ndarray) -> None:
        bad = (matrix < self._lo) | (matrix > self._hi)
        if bad.any():
            row, col = (int(x) for x in np.argwhere(bad)[0])
            f = self.features[col]
            index = row if matrix.shape[0] > 1 else None
            raise ValidationFailed(
                f"feature '{f.name}' is outside its plausible range [{f.min:g}, {f.max:g}]",
                field=self._field(f.name, index), code="out-of-range",
            )
