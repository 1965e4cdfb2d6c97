"""Build a ``Registry`` from settings (used by the CLI, the gateway and the tests)."""

from __future__ import annotations

import sqlalchemy as sa

from medinfer.common.errors import BackendUnavailable
from medinfer.registry.audit import AuditSink
from medinfer.registry.db import make_engine, migrate
from medinfer.registry.outbox import AuditOutbox
from medinfer.registry.routing import DrainWaiter, GraceDrain
from medinfer.registry.service import Registry
from medinfer.registry.settings import RegistrySettings
from medinfer.registry.store import Store
from medinfer.registry.triton_control import TritonControl, TritonHTTPControl
from medinfer.triton.repository import ModelRepository

__all__ = ["build_registry"]


def build_registry(
    settings: RegistrySettings | None = None,
    *,
    triton: TritonControl | None = None,
    audit: AuditSink | None = None,
    drain: DrainWaiter | None = None,
    run_migrations: bool = True,
) -> Registry:
    """Engine, migrations, repository and Triton control wired once.

    ``drain`` defaults to a grace period: outside the gateway process the registry
    cannot see in-flight requests; the gateway passes its ``InflightTracker``.
    """
    settings = settings or RegistrySettings()
    engine = make_engine(settings.resolved_database_url())
    if run_migrations:
        try:
            migrate(engine)
        except (sa.exc.OperationalError, sa.exc.InterfaceError):
            engine.dispose()
            raise BackendUnavailable(
                "the registry database is unavailable", code="registry-unavailable", retry_after=5
            ) from None
    if triton is None and settings.triton_url:
        triton = TritonHTTPControl(settings.triton_url, timeout=settings.load_timeout_s)
    return Registry(
        Store(engine),
        ModelRepository(settings.resolved_repository()),
        triton=triton,
        audit=audit,
        drain=drain or GraceDrain(settings.drain_grace_s),
        backend=settings.backend,
        load_timeout_s=settings.load_timeout_s,
        drain_timeout_s=settings.drain_timeout_s,
        outbox=AuditOutbox(lease_s=settings.audit_outbox_lease_s),
    )
