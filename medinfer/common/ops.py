"""The operations port: ``/metrics``, ``/healthz`` and ``/readyz`` on a listener of their own.

Metrics name models and versions that ``/v2`` hides from callers without model
rights, so they are not served on the API port (which the Ingress routes) at
all: :func:`ops_app` builds a second ASGI app over the service's own state,
which :func:`medinfer.common.serve.serve` runs on ``metrics_port`` (plain HTTP
inside the pod network, like Triton's 8002; the NetworkPolicy lets only
Prometheus and the kubelet reach it). Health checks are served there too, so
probes keep working when the API port requires client certificates (the
preprocessor's mTLS).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, FastAPI

from medinfer.common.http import install_problem_handlers

__all__ = ["ops_app"]


def ops_app(main: FastAPI, routers: Iterable[APIRouter], *, title: str) -> FastAPI:
    """An app serving ``routers`` with ``main``'s state (its catalog, metrics registry, backends)."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state = main.state  # one object graph: readiness and metrics read what the API app built
    install_problem_handlers(app)
    for r in routers:
        app.include_router(r)
    return app
