"""Run a service's ASGI app under uvicorn with its settings (TLS, mTLS, inherited socket)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from pathlib import Path

import uvicorn

from medinfer.common.jsonlog import configure_logging
from medinfer.common.settings import ServiceSettings

__all__ = ["serve"]


class _OpsServer(uvicorn.Server):
    """The operations listener: the API server owns the signals and the shutdown."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


async def _serve_both(api: uvicorn.Server, sockets, ops: uvicorn.Server | None) -> None:
    task = asyncio.create_task(api.serve(sockets=sockets))
    ops_task = None
    if ops is not None:
        while not api.started and not task.done():  # readiness needs the API app's lifespan to have run
            await asyncio.sleep(0.05)
        if not task.done():
            ops_task = asyncio.create_task(ops.serve())
    try:
        await task
    finally:
        if ops_task is not None:
            ops.should_exit = True
            await ops_task


def serve(
    app,
    settings: ServiceSettings,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    client_ca: Path | None = None,
) -> None:
    """Serve ``app`` on host:port (or the inherited socket); when the app has an ``ops_app`` and the settings a
    ``metrics_port``, that app too on metrics_port (plain HTTP, :mod:`medinfer.common.ops`)."""
    configure_logging(settings.log_level)
    kwargs: dict = {}
    if tls_cert and tls_key:
        kwargs.update(ssl_certfile=str(tls_cert), ssl_keyfile=str(tls_key))
        if client_ca:
            kwargs.update(ssl_ca_certs=str(client_ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    fd = getattr(settings, "listen_fd", None)
    # An inherited socket is wrapped here, not passed as ``fd``: uvicorn would open it as AF_UNIX and the
    # event loop would then skip TCP_NODELAY, so small responses waited for delayed ACKs (~40 ms).
    sockets = [socket.socket(fileno=fd)] if fd is not None else None
    config = uvicorn.Config(
        app,
        host=getattr(settings, "host", "127.0.0.1"),
        port=getattr(settings, "port", 0),
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        timeout_graceful_shutdown=10,
        server_header=False,
        proxy_headers=False,  # nothing here reads the client address; forwarded headers are not trusted
        **kwargs,
    )
    ops = None
    ops_app = getattr(getattr(app, "state", None), "ops_app", None)
    metrics_port = getattr(settings, "metrics_port", 0)
    if ops_app is not None and metrics_port:
        ops = _OpsServer(uvicorn.Config(
            ops_app, host=getattr(settings, "host", "127.0.0.1"), port=metrics_port, log_config=None,
            access_log=False, http="httptools", lifespan="off", server_header=False,
            proxy_headers=False))
    logging.getLogger("medinfer").info("starting", extra={"port": getattr(settings, "port", None),
                                                          "metrics_port": metrics_port or None})
    server = uvicorn.Server(config)
    if ops is None:
        server.run(sockets=sockets)
        return
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_serve_both(server, sockets, ops))
