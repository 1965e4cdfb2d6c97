"""Model monitoring: reference profiles, online drift detection and the per-request OOD gate.

Logic only (no FastAPI): the gateway owns one :class:`DriftMonitor`, calls
``check``/``record`` on the inference path and ``start``/``stop`` in its
lifespan; ``medinfer.gateway.routes.drift`` exposes snapshots. Profiles are
built at model build/publish time with ``build_*_profile`` and stored as
``<version_dir>/reference_profile.json``. See docs/monitoring.md.
"""

from medinfer.monitoring.build import (
    IMAGE_SUMMARY_FEATURES,
    build_embedding_profile,
    build_image_profile,
    build_tabular_profile,
    image_summary,
)
from medinfer.monitoring.detect import DriftConfig, DriftSnapshot, FeatureDrift
from medinfer.monitoring.gate import (
    OOD_REASONS,
    EmbeddingGate,
    ImageGate,
    OodDecision,
    OodPolicy,
    OodRejected,
    TabularGate,
    enforce,
)
from medinfer.monitoring.metrics import DriftMetrics
from medinfer.monitoring.monitor import DriftMonitor, ModelMonitor, MonitorConfig
from medinfer.monitoring.profile import (
    PROFILE_FILENAME,
    EmbeddingProfile,
    ImageProfile,
    ReferenceProfile,
    TabularProfile,
    load_profile,
    profile_from_json,
    save_profile,
)
from medinfer.monitoring.text_gate import TextGate
from medinfer.monitoring.window import SlidingWindow

__all__ = [
    "IMAGE_SUMMARY_FEATURES",
    "OOD_REASONS",
    "PROFILE_FILENAME",
    "DriftConfig",
    "DriftMetrics",
    "DriftMonitor",
    "DriftSnapshot",
    "EmbeddingGate",
    "EmbeddingProfile",
    "FeatureDrift",
    "ImageGate",
    "ImageProfile",
    "ModelMonitor",
    "MonitorConfig",
    "OodDecision",
    "OodPolicy",
    "OodRejected",
    "ReferenceProfile",
    "SlidingWindow",
    "TabularGate",
    "TabularProfile",
    "TextGate",
    "build_embedding_profile",
    "build_image_profile",
    "build_tabular_profile",
    "enforce",
    "image_summary",
    "load_profile",
    "profile_from_json",
    "save_profile",
]
