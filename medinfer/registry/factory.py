"""Build a ``Registry`` from settings (used by the CLI, the gateway and the tests)."""

from __future__ import annotations

import sqlalchemy as sa

from medinfer.common.errors import BackendUnavailable
from medinfer.registry.audit import AuditSink
from medinfer.registry.db import make_engine, migrate
from medinfer.registry.outbox import AuditOutbox
from medinfer.registry.fleet import TritonFleet
from medinfer.registry.replicas import FleetDrain
from medinfer.registry.routing import DrainWaiter
from medinfer.registry.service import Registry
from medinfer.registry.settings import RegistrySettings
from medinfer.registry.store import Store
from medinfer.registry.triton_control import TritonControl
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

    ``drain`` defaults to ``FleetDrain``: wait until every live gateway replica
    acknowledged the change and drained the retired version (a grace period when no
    replica reports). ``triton`` defaults to ``TritonFleet`` over ``settings.endpoints()``.
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
    endpoints = settings.endpoints()
    if triton is None and endpoints is not None:
        triton = TritonFleet(endpoints, timeout=settings.load_timeout_s)  # every server, not one behind a Service
    store = Store(engine)
    return Registry(
        store,
        ModelRepository(settings.resolved_repository()),
        triton=triton,
        audit=audit,
        drain=drain or FleetDrain(store, stale_s=settings.replica_stale_s, grace_s=settings.drain_grace_s),
        backend=settings.backend,
        load_timeout_s=settings.load_timeout_s,
        drain_timeout_s=settings.drain_timeout_s,
        outbox=AuditOutbox(lease_s=settings.audit_outbox_lease_s),
    )
