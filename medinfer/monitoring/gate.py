"""Per-request out-of-distribution / adversarial-input gate.

Each model declares a policy: ``off`` (no gate), ``flag`` (answer, marking the
response and audit record ``"ood": true`` with a reason code) or ``reject``
(422 problem+json, code ``ood-rejected``, with the reason code). Reason codes
form a closed set (:data:`OOD_REASONS`) so they are safe metric labels and
never echo input values.

Tabular checks, in order: non-finite values; a value outside the padded
training support (catches unit swaps, imputed zeros, sensor faults); a
squared Mahalanobis distance above the calibrated threshold (catches inputs
whose features are each plausible but whose combination is not, which is
what small adversarial perturbations of correlated features produce).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from medinfer.common.errors import ValidationFailed
from medinfer.monitoring.build import mahalanobis_sq, transform
from medinfer.monitoring.profile import EmbeddingProfile, ImageProfile, TabularProfile
from medinfer.common.image_summary import IMAGE_SUMMARY_FEATURES

__all__ = [
    "OOD_REASONS",
    "OodPolicy",
    "OodDecision",
    "OodRejected",
    "TabularGate",
    "EmbeddingGate",
    "ImageGate",
    "enforce",
]

OOD_REASONS: tuple[str, ...] = (
    "non-finite",
    "wrong-shape",
    "out-of-support",
    "mahalanobis",
    "embedding-distance",
    "empty",
    "too-short",
    "prompt-injection",
    "non-clinical",
    "wrong-modality",
    "implausible-dimensions",
    "implausible-intensity",
)

OodPolicy = Literal["off", "flag", "reject"]


@dataclass(frozen=True)
class OodDecision:
    """Outcome of the gate for one request.

    ``rows`` are all flagged batch indices; ``reason`` is the most basic failure
    among them (non-finite, then out-of-support, then the distance checks).
    """

    ood: bool
    reason: str | None = None
    rows: tuple[int, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {"ood": self.ood, "reason": self.reason}


IN_DISTRIBUTION = OodDecision(False)


class OodRejected(ValidationFailed):
    """422 for an input the model's policy refuses; carries the reason code, never values."""

    code, title = "ood-rejected", "Input outside the model's validated domain"

    def __init__(self, reason: str) -> None:
        super().__init__(
            "The input is outside the distribution this model was validated on.",
            extra={"reason": reason},
        )


def enforce(decision: OodDecision, policy: OodPolicy) -> OodDecision:
    """Apply the model's policy: raise :class:`OodRejected` on ``reject``, else pass through."""
    if decision.ood and policy == "reject":
        raise OodRejected(decision.reason or "unknown")
    return decision if policy != "off" else IN_DISTRIBUTION


def _first(flags: np.ndarray, reason: str) -> OodDecision | None:
    idx = np.flatnonzero(flags)
    return OodDecision(True, reason, tuple(int(i) for i in idx)) if idx.size else None


class TabularGate:
    """Vectorised checks on a batch of rows (``rows × features``) for one model version."""

    def __init__(self, profile: TabularProfile) -> None:
        if profile.gate is None:
            raise ValueError("profile has no calibrated gate parameters")
        g = profile.gate
        self.n_features = len(profile.feature_names)
        self.low = np.asarray(g.support_low)
        self.high = np.asarray(g.support_high)
        self.log_mask = np.asarray(g.log_features, dtype=bool)
        self.log_offset = np.asarray(g.log_offset)
        self.center = np.asarray(g.center)
        self.scale = np.asarray(g.scale)
        self.precision = np.asarray(g.precision)
        self.threshold = g.mahalanobis_threshold
        self._inv_scale = 1.0 / self.scale
        self._mid, self._half = (self.low + self.high) / 2.0, (self.high - self.low) / 2.0
        self._all_log = bool(self.log_mask.all())

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances (for evaluation and calibration checks)."""
        t = transform(np.asarray(x, dtype=np.float64), self.log_mask, self.log_offset)
        return mahalanobis_sq(t, self.center, self.scale, self.precision)

    def row_flags(self, x: np.ndarray) -> np.ndarray:
        """Per-row OOD flags for a ``rows × features`` batch (for evaluation)."""
        x = np.asarray(x, dtype=np.float64)
        finite = np.isfinite(x).all(axis=1)
        x = np.where(np.isfinite(x), x, self._mid)
        inside = (np.abs(x - self._mid) <= self._half).all(axis=1)
        return ~(finite & inside & (self.scores(x) <= self.threshold))

    def _single_row_ok(self, r: np.ndarray) -> bool:
        """The common case, one in-distribution row, in about a dozen vector operations."""
        if not math.isfinite(r.sum()):
            return False
        t = np.log(np.maximum(r, 0.0) + self.log_offset)
        if not self._all_log:
            t = np.where(self.log_mask, t, r)
        z = (t - self.center) * self._inv_scale
        return bool(z @ self.precision @ z <= self.threshold) and bool((np.abs(r - self._mid) <= self._half).all())

    def check(self, x: np.ndarray) -> OodDecision:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.n_features:
            return OodDecision(True, "wrong-shape")
        if x.shape[0] == 1 and self._single_row_ok(x[0]):
            return IN_DISTRIBUTION
        finite = np.isfinite(x).all(axis=1)
        if not finite.all():
            x = np.where(np.isfinite(x), x, self._mid)  # score the rest of the batch without NaN arithmetic
        z = (np.where(self.log_mask, np.log(np.maximum(x, 0.0) + self.log_offset), x) - self.center) * self._inv_scale
        d2 = ((z @ self.precision) * z).sum(axis=1)
        inside = (np.abs(x - self._mid) <= self._half).all(axis=1)
        ok = finite & inside & (d2 <= self.threshold)
        if ok.all():
            return IN_DISTRIBUTION
        rows = tuple(int(i) for i in np.flatnonzero(~ok))
        if not finite.all():
            return OodDecision(True, "non-finite", rows)
        return OodDecision(True, "out-of-support" if not inside.all() else "mahalanobis", rows)


class EmbeddingGate:
    """Diagonal-Mahalanobis distance of a note embedding to the training embeddings' mean."""

    def __init__(self, profile: EmbeddingProfile) -> None:
        if profile.gate is None:
            raise ValueError("profile has no calibrated gate parameters")
        self.dim = profile.dim
        self.mean = np.asarray(profile.mean)
        self.var = np.asarray(profile.var)
        self.threshold = profile.gate.distance_threshold

    def check(self, emb: np.ndarray) -> OodDecision:
        e = np.atleast_2d(np.asarray(emb, dtype=np.float64))
        if e.ndim != 2 or e.shape[1] != self.dim:
            return OodDecision(True, "wrong-shape")
        if (d := _first(~np.isfinite(e).all(axis=1), "non-finite")) is not None:
            return d
        dist = np.sum((e - self.mean) ** 2 / self.var, axis=1)
        return _first(dist > self.threshold, "embedding-distance") or IN_DISTRIBUTION


class ImageGate:
    """Rule checks on DICOM modality and per-image summaries (see ``image_summary``)."""

    def __init__(self, profile: ImageProfile) -> None:
        self.g = profile.gate
        self._allowed = frozenset(m.upper() for m in self.g.allowed_modalities)
        self._p01 = IMAGE_SUMMARY_FEATURES.index("intensity_p01")
        self._p99 = IMAGE_SUMMARY_FEATURES.index("intensity_p99")

    def check(self, modality: str | None, summary: np.ndarray) -> OodDecision:
        """``modality`` is the DICOM Modality, ``None`` for PNG/JPEG (allowed only if the profile says so)."""
        if modality is None and self.g.accept_no_modality:
            pass
        elif (modality or "").upper() not in self._allowed:
            return OodDecision(True, "wrong-modality")
        s = np.asarray(summary, dtype=np.float64)
        if s.shape != (len(IMAGE_SUMMARY_FEATURES),) or not np.all(np.isfinite(s)):
            return OodDecision(True, "wrong-shape")
        g = self.g
        if not (g.min_rows <= s[0] <= g.max_rows and g.min_cols <= s[1] <= g.max_cols):
            return OodDecision(True, "implausible-dimensions")
        contrast = s[self._p99] - s[self._p01]
        if s[self._p01] < g.intensity_low or s[self._p99] > g.intensity_high or contrast <= 0 \
                or contrast < g.min_contrast:
            # a constant or near-flat frame carries no image content
            return OodDecision(True, "implausible-intensity")
        return IN_DISTRIBUTION
