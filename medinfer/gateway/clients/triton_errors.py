"""Triton's error answers mapped to ours: one table for REST and gRPC, from status codes and structure only.

Triton's messages quote the request ``id`` and tensor names, which the caller
chooses (an ``id`` of ``"not found"`` or ``"unavailable-1"`` is a valid id), so
nothing here reads a message. Both Triton frontends encode the error class
Triton raised (``TRITONSERVER_Error_Code``) in their status: REST through
``HttpCodeFromError``, gRPC through the status code. Ours follows from that
class, and so does whether the answer says anything about Triton's health
(see :mod:`medinfer.gateway.resilience` for what moves the circuit breaker):

================================  ===========  =====================  ==============================  ==========
Triton's class                    REST         gRPC                   we answer                       breaker
================================  ===========  =====================  ==============================  ==========
INVALID_ARG, UNKNOWN,             400          INVALID_ARGUMENT,      400 ``triton-rejected``         answered
ALREADY_EXISTS (REST: also                     ALREADY_EXISTS,
CANCELLED)                                     UNKNOWN
UNSUPPORTED                       501          UNIMPLEMENTED          400 ``triton-rejected``         answered
INTERNAL raised while parsing     500, JSON    (not sent: protobuf    400 ``triton-rejected``         answered
the request body                  body type    needs no parsing)
INTERNAL raised by the model      500, other   INTERNAL               502 ``model-failed``            answered
NOT_FOUND (version not loaded)    404          NOT_FOUND              503 ``model-unavailable``       answered
UNAVAILABLE                       503          UNAVAILABLE            retried, then 503               failure
CANCELLED                         (400)        CANCELLED              503 ``backend-unavailable``     answered
(a proxy's) 502/504; transport    502/504      UNAVAILABLE            retried, then 503               failure
timeout                           --           DEADLINE_EXCEEDED      504 (resilience decides)        hop budget
anything else                     other        other                  502 ``bad-gateway``             answered
================================  ===========  =====================  ==============================  ==========

The parse/model split of a REST 500 is structural: Triton's HTTP frontend sets
``Content-Type: application/json`` on the reply before it parses the body, so
every error it raises while reading the request (``Unable to parse 'data'``,
which its JSON reader files as INTERNAL; strings in FP32 data) goes out with
that type; an error returned by the model arrives on the response path, which
replies with evhtp's default ``text/plain``. Measured on Triton 2.51
(``tests/integration/test_triton_errors.py`` pins it). Neither kind of 500
counts against the breaker: both are about one request or one model, and
letting them count would let one client (or one broken model) cut every model
off. A model failing for everyone shows in ``medinfer_gateway_requests_total``
with status 502.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc

from medinfer.common.errors import BackendUnavailable, BadGateway, BadRequest, MedinferError, PayloadTooLarge
from medinfer.gateway.resilience import RetryableUpstreamError, UpstreamTimeout

__all__ = ["triton_error", "grpc_failure", "rejected", "model_failed", "model_unavailable"]


def rejected() -> MedinferError:
    return BadRequest("Triton rejected the inputs for this model", code="triton-rejected")


def model_failed() -> MedinferError:
    return BadGateway("the model failed to process this request", code="model-failed")


def model_unavailable() -> MedinferError:
    return BackendUnavailable("the model is not loaded in Triton", retry_after=2, code="model-unavailable")


def _content_type(headers: Mapping[str, str]) -> str:
    for k, v in headers.items():
        if k.lower() == "content-type":
            return v.split(";", 1)[0].strip().lower()
    return ""


def triton_error(status: int, *, headers: Mapping[str, str]) -> MedinferError:
    """A non-200 REST answer from Triton (502/503/504 never get here: the upstream retries them)."""
    if status in (400, 501):
        return rejected()
    if status == 404:
        return model_unavailable()
    if status == 500:
        return rejected() if _content_type(headers) == "application/json" else model_failed()
    return BadGateway(f"Triton answered {status}")



def grpc_failure(code: grpc.StatusCode, backend: str = "triton") -> Exception:
    """What a failed gRPC call to Triton raises inside the resilient attempt (see the table above)."""
    if code == grpc.StatusCode.UNAVAILABLE:
        return RetryableUpstreamError(backend, code.name)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return UpstreamTimeout(backend)
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.UNKNOWN,
                grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.FAILED_PRECONDITION):
        return rejected()
    if code == grpc.StatusCode.NOT_FOUND:
        return model_unavailable()
    if code == grpc.StatusCode.INTERNAL:
        return model_failed()
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:  # a message over the channel's size limit
        return PayloadTooLarge("the message exceeds the gRPC size limit")
    if code == grpc.StatusCode.CANCELLED:
        return BackendUnavailable("Triton cancelled the request", retry_after=1)
    return BadGateway(f"Triton answered {code.name}")
