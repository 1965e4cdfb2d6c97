"""Run a service's ASGI app under uvicorn with its settings (TLS, mTLS, inherited socket)."""

from __future__ import annotations

import logging
import socket
import ssl
from pathlib import Path

import uvicorn

from medinfer.common.jsonlog import configure_logging
from medinfer.common.settings import ServiceSettings

__all__ = ["serve"]


def serve(
    app,
    settings: ServiceSettings,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    client_ca: Path | None = None,
) -> None:
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
    logging.getLogger("medinfer").info("starting", extra={"port": getattr(settings, "port", None)})
    uvicorn.Server(config).run(sockets=sockets)
