"""Model registry: versions with checksums and validation, release tags, promotion,
rollback and canary routing over the Triton model repository."""

from medinfer.registry.audit import AuditSink, LogAuditSink
from medinfer.registry.factory import build_registry
from medinfer.registry.outbox import AuditOutbox
from medinfer.registry.routing import (
    GraceDrain,
    InflightTracker,
    RoutingTable,
    SnapshotRefresher,
    VersionMetrics,
)
from medinfer.registry.service import Registry
from medinfer.registry.settings import RegistrySettings

__all__ = [
    "AuditSink",
    "AuditOutbox",
    "LogAuditSink",
    "Registry",
    "RegistrySettings",
    "RoutingTable",
    "SnapshotRefresher",
    "InflightTracker",
    "VersionMetrics",
    "GraceDrain",
    "build_registry",
]
