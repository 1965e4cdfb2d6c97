"""Structured JSON logging.

Log records carry identifiers (request id, principal, route, model, status,
latency) and never request or response content: callers pass only those
fields through ``extra``. Uvicorn's access log is replaced by the services'
own request log so that query strings (which may hold identifiers) are not
written.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson

__all__ = ["configure_logging", "SAFE_FIELDS"]

SAFE_FIELDS = (
    "request_id", "principal", "client_id", "route", "method", "model", "version",
    "status", "latency_ms", "backend", "code", "event", "attempt", "port", "pid", "endpoint",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in SAFE_FIELDS:
            value = record.__dict__.get(key)
            if value is not None:
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages and tracebacks can quote input.
            out["exc_type"] = record.exc_info[0].__name__
        return orjson.dumps(out).decode()


def configure_logging(level: str = "INFO", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
