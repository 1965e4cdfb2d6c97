"""``python -m medinfer.gateway``: run the gateway with its settings (HTTPS unless insecure_http)."""

import logging

from medinfer.common.jsonlog import configure_logging
from medinfer.common.serve import serve
from medinfer.common.settings import load_settings
from medinfer.gateway.app import create_app
from medinfer.gateway.settings import GatewaySettings

if __name__ == "__main__":
    settings = load_settings(GatewaySettings)
    configure_logging(settings.log_level)  # before create_app: its start-up steps (migrations) log too
    if settings.insecure_http:
        logging.getLogger("medinfer.gateway").warning("serving plain HTTP: development only")
        serve(create_app(settings), settings)
    else:
        cert, key = settings.tls_paths()
        serve(create_app(settings), settings, tls_cert=cert, tls_key=key)
