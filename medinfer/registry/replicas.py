"""Gateway replicas acknowledge what they route on, so a release drains across all of them.

Every gateway replica rewrites its row in ``registry_replicas`` on each refresh tick
(``ReplicaReporter.report``): the routing generation it has swapped in, its in-flight
requests per model version and the Triton endpoints it currently routes to. The
promoting process (any replica, or the CLI) waits with ``FleetDrain`` before it unloads
a retired version: every *live* replica (heartbeat within ``stale_s``) must route on the
change's generation or later and report nothing in flight on that version. A replica
that stopped heart-beating routes nothing, so it does not block a release; a replica
that stops normally deletes its row; rows of replicas that died are deleted by the next
replica to start once they are a day old.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from medinfer.common.errors import MedinferError
from medinfer.registry.db import ReplicaRow, utcnow
from medinfer.registry.routing import InflightTracker
from medinfer.registry.store import Store

__all__ = ["ReplicaReporter", "FleetDrain", "replica_id", "live_replicas"]

log = logging.getLogger("medinfer.registry")


def replica_id() -> str:
    """Pod name (HOSTNAME in Kubernetes) plus pid and a random suffix: unique per process."""
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"[:128]


def live_replicas(store: Store, stale_s: float) -> list[dict[str, Any]]:
    since = utcnow() - dt.timedelta(seconds=stale_s)
    with store.session() as s:
        rows = s.scalars(sa.select(ReplicaRow).where(ReplicaRow.heartbeat_at >= since))
        return [
            {"replica": r.replica_id, "generation": int(r.generation), "inflight": dict(r.inflight or {}),
             "endpoints": dict(r.endpoints or {})}
            for r in rows
        ]


class ReplicaReporter:
    def __init__(self, store: Store, tracker: InflightTracker, generation: Callable[[], int],
                 endpoints: Callable[[], dict[str, Any]] | None = None, rid: str | None = None) -> None:
        self.store, self.tracker, self.generation = store, tracker, generation
        self.endpoints = endpoints or dict
        self.id = rid or replica_id()
        self.started_at = utcnow()

    def report(self) -> None:
        """Upsert this replica's row (generation first read, then in-flight: a request
        routed on an older table is already counted when the new generation is written)."""
        gen = self.generation()
        inflight = {f"{m}/{v}": n for (m, v), n in self.tracker.snapshot().items() if n > 0}
        values = {"generation": gen, "inflight": inflight, "endpoints": self.endpoints(), "heartbeat_at": utcnow()}
        with self.store.session() as s:
            res = s.execute(sa.update(ReplicaRow).where(ReplicaRow.replica_id == self.id).values(**values))
            if res.rowcount == 0:
                s.add(ReplicaRow(replica_id=self.id, started_at=self.started_at, **values))

    def tick(self) -> None:
        try:
            self.report()
        except MedinferError:
            log.warning("replica acknowledgement failed", extra={"code": "registry-unavailable"})

    def start(self, interval_s: float) -> None:
        """Heart-beat from a thread of its own: a snapshot swap that waits on a Triton load must not
        make this replica look gone (it still routes, on the older generation it reports)."""
        try:
            with self.store.session() as s:
                s.execute(sa.delete(ReplicaRow).where(ReplicaRow.heartbeat_at < utcnow() - dt.timedelta(days=1)))
        except MedinferError:
            pass
        self.tick()
        self._stop = threading.Event()

        def run() -> None:
            while not self._stop.wait(interval_s):
                self.tick()

        self._thread = threading.Thread(target=run, name="replica-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()
            self._thread.join(timeout=5)
        self.remove()

    def remove(self) -> None:
        try:
            with self.store.session() as s:
                s.execute(sa.delete(ReplicaRow).where(ReplicaRow.replica_id == self.id))
        except MedinferError:
            pass


class FleetDrain:
    """``DrainWaiter`` over every live gateway replica (see the module docstring).

    Without any live replica row (no gateway runs this code), falls back to waiting
    ``grace_s``, the old behaviour for a registry outside the gateway."""

    def __init__(self, store: Store, *, stale_s: float = 5.0, grace_s: float = 2.0,
                 before_wait: Callable[[], None] | None = None) -> None:
        self.store, self.stale_s, self.grace_s = store, stale_s, grace_s
        self.before_wait = before_wait  # the in-process replica acknowledges at once
        self.last_blocking: list[str] = []

    def wait_drained(self, model: str, version: int, timeout: float) -> bool:
        target = self.store.generation()  # the change being drained is committed: its generation or later
        if self.before_wait is not None:
            self.before_wait()
        key = f"{model}/{version}"
        deadline = time.monotonic() + timeout
        while True:
            replicas = live_replicas(self.store, self.stale_s)
            if not replicas:
                time.sleep(min(self.grace_s, max(0.0, deadline - time.monotonic())))
                return True
            blocking = [r["replica"] for r in replicas
                        if r["generation"] < target or int(r["inflight"].get(key, 0)) > 0]
            self.last_blocking = blocking
            if not blocking:
                return True
            if time.monotonic() >= deadline:
                log.warning("replicas did not drain", extra={"model": model, "version": version,
                                                             "replicas": blocking})
                return False
            time.sleep(0.05)
