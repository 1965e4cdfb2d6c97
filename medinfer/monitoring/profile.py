"""Reference profiles: what a model version's training inputs looked like.

A profile is built once, at build/publish time, from the training inputs and
stored as JSON beside the model version (``<version_dir>/reference_profile.json``).
The online monitor compares a sliding window of live inputs against it and the
per-request gate uses its calibrated thresholds.

What a profile keeps, and why it is safe to store next to the model:

- tabular: per-feature quantiles, decile bins with their proportions, moments,
  and a *marginal* reference sample per feature (each column subsampled and
  shuffled independently, so no training row can be reassembled) for the
  two-sample KS test; plus the gate's aggregates (mean, standardised precision
  matrix, padded support, calibrated thresholds).
- embedding: mean, per-dimension variance, a capped reference sample of
  embedding vectors (never the notes) and the RBF bandwidth for MMD.
- image: modality shares and a tabular profile of per-image summaries
  (dimensions, intensity statistics), never pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "PROFILE_FILENAME",
    "SCHEMA_VERSION",
    "QUANTILE_LEVELS",
    "FeatureProfile",
    "TabularGateParams",
    "TabularProfile",
    "EmbeddingGateParams",
    "EmbeddingProfile",
    "ImageGateParams",
    "ImageProfile",
    "ReferenceProfile",
    "save_profile",
    "load_profile",
    "profile_from_json",
]

PROFILE_FILENAME = "reference_profile.json"
SCHEMA_VERSION = 1
#: quantile levels stored per feature: 0, 1 %, ..., 99 %, 100 %
QUANTILE_LEVELS: tuple[float, ...] = tuple(i / 100 for i in range(101))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureProfile(_Model):
    name: str
    quantiles: list[float] = Field(description="values at QUANTILE_LEVELS")
    bin_edges: list[float] = Field(description="inner PSI bin edges (reference deciles, deduplicated)")
    bin_props: list[float] = Field(description="reference share per bin, len(bin_edges)+1")
    mean: float
    std: float
    min: float
    max: float
    sample: list[float] = Field(description="marginal reference sample for KS (column-shuffled)")


class TabularGateParams(_Model):
    """Per-request OOD gate for tabular inputs, calibrated out-of-fold on training inputs."""

    target_frr: float = Field(description="false-reject rate the thresholds were calibrated for")
    support_low: list[float]
    support_high: list[float]
    support_margin: float = Field(description="padding of the (transformed) training range, as a fraction")
    log_features: list[bool] = Field(description="features compared on a log scale (non-negative ones)")
    log_offset: list[float] = Field(description="offset added before the log, per feature")
    center: list[float] = Field(description="means of the transformed features")
    scale: list[float] = Field(description="standard deviations of the transformed features")
    precision: list[list[float]] = Field(description="Ledoit-Wolf precision of standardised features")
    mahalanobis_threshold: float = Field(description="squared Mahalanobis distance above which input is OOD")
    calibration_frr: float = Field(description="out-of-fold false-reject rate achieved at calibration")
    calibration_n: int


class TabularProfile(_Model):
    kind: Literal["tabular"] = "tabular"
    schema_version: int = SCHEMA_VERSION
    feature_names: list[str]
    n_reference: int
    features: list[FeatureProfile]
    gate: TabularGateParams | None = None
    source: str = ""

    def feature(self, name: str) -> FeatureProfile:
        return self.features[self.feature_names.index(name)]


class EmbeddingGateParams(_Model):
    target_frr: float
    distance_threshold: float = Field(description="diagonal-Mahalanobis distance² to the mean, OOD above")
    calibration_frr: float
    calibration_n: int


class EmbeddingProfile(_Model):
    kind: Literal["embedding"] = "embedding"
    schema_version: int = SCHEMA_VERSION
    dim: int
    n_reference: int
    mean: list[float]
    var: list[float]
    sample: list[list[float]] = Field(description="reference embeddings for MMD (vectors, never text)")
    rbf_gamma: float
    gate: EmbeddingGateParams | None = None
    source: str = ""


class ImageGateParams(_Model):
    allowed_modalities: list[str]
    min_rows: int
    max_rows: int
    min_cols: int
    max_cols: int
    intensity_low: float = Field(description="lowest plausible per-image 1st percentile")
    intensity_high: float = Field(description="highest plausible per-image 99th percentile")
    min_contrast: float = Field(0.0, description="lowest plausible p99 - p1 (calibrated); below: a flat frame")
    accept_no_modality: bool = Field(False, description="PNG/JPEG (no DICOM modality) pass the modality check")
    target_frr: float | None = Field(None, description="false-reject rate min_contrast was calibrated for")
    calibration_frr: float | None = Field(None, description="rate of held-out clean images the gate flags")
    calibration_n: int = 0


class ImageProfile(_Model):
    kind: Literal["image"] = "image"
    schema_version: int = SCHEMA_VERSION
    n_reference: int
    modalities: dict[str, float] = Field(description="share of each DICOM modality in training")
    summary: TabularProfile = Field(description="profile of per-image summaries (IMAGE_SUMMARY_FEATURES)")
    gate: ImageGateParams
    source: str = ""


ReferenceProfile = Annotated[
    Union[TabularProfile, EmbeddingProfile, ImageProfile], Field(discriminator="kind")
]
_ADAPTER: TypeAdapter[ReferenceProfile] = TypeAdapter(ReferenceProfile)


def profile_from_json(data: str | bytes) -> TabularProfile | EmbeddingProfile | ImageProfile:
    """Parse and validate a profile of any kind (dispatch on ``kind``)."""
    return _ADAPTER.validate_json(data)


def save_profile(profile: TabularProfile | EmbeddingProfile | ImageProfile, path: Path) -> Path:
    """Write ``profile`` to ``path`` (a file, or a version directory) atomically."""
    path = Path(path)
    if path.is_dir():
        path = path / PROFILE_FILENAME
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(profile.model_dump_json(), encoding="utf-8")
    tmp.replace(path)
    return path


def load_profile(path: Path) -> TabularProfile | EmbeddingProfile | ImageProfile:
    """Read a profile from a file, or from ``<version_dir>/reference_profile.json``."""
    path = Path(path)
    if path.is_dir():
        path = path / PROFILE_FILENAME
    return profile_from_json(path.read_bytes())
