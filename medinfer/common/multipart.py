"""Multipart forms read into memory, never into temporary files.

Starlette spools each file part over 1 MiB to a temporary file on disk, which
for a DICOM upload or a scanned note would put PHI at rest. :func:`read_form`
parses with a spool limit above the largest body the service accepts (the edge
middleware refuses larger bodies with 413 before they are read), so a part
stays in memory, bounded by ``max_bytes``. Parse errors become a 400 that does
not quote the body.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from medinfer.common.errors import BadRequest, PayloadTooLarge

__all__ = ["read_form"]


async def read_form(request: Request, *, max_bytes: int, max_files: int = 1, max_fields: int = 16,
                    max_field_bytes: int = 64 * 1024) -> FormData:
    """The request's ``multipart/form-data`` body, every part in memory (at most ``max_bytes`` in all)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body exceeds the limit of {max_bytes} bytes")
    parser = MultiPartParser(request.headers, _bounded(request, max_bytes), max_files=max_files,
                             max_fields=max_fields, max_part_size=max_field_bytes)
    parser.spool_max_size = max_bytes + 1  # a SpooledTemporaryFile rolls over to disk only above this
    try:
        return await parser.parse()
    except PayloadTooLarge:
        raise
    except (MultiPartException, KeyError, ValueError):  # the parser's message may quote the body
        raise BadRequest("multipart body could not be parsed", code="malformed-multipart") from None


async def _bounded(request: Request, max_bytes: int):
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > max_bytes:
            raise PayloadTooLarge(f"request body exceeds the limit of {max_bytes} bytes")
        yield chunk
