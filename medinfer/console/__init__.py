"""The web console (``/console``): models, rollouts, monitoring, health and the audit ledger for the people
who run and answer for the platform. Server-rendered (Jinja2), strict CSP, no third-party code.

:func:`mount_console` is called once in the gateway's ``create_app``; docs/console.md explains each page.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["mount_console"]

STATIC = Path(__file__).resolve().parent / "static"


def mount_console(app, settings, security, metrics_registry) -> None:
    # Imported here: the gateway's settings import medinfer.console.settings, which must stay light.
    from starlette.staticfiles import StaticFiles

    from medinfer.console.auth import ConsoleAuth
    from medinfer.console.data import DriftHistory, TrafficSampler
    from medinfer.console.routes import create_router

    auth = ConsoleAuth(settings, security)
    app.state.console_auth = auth
    app.state.console_sampler = TrafficSampler(metrics_registry)
    app.state.console_drift_history = DriftHistory()
    app.include_router(create_router(auth))
    app.mount("/console/static", StaticFiles(directory=str(STATIC)), name="console-static")
