"""Uploads stay in memory (no PHI in temporary files) and the admin upload is read only after the caller is
authorised: multipart parts above Starlette's 1 MiB spool limit never roll over to disk through our reader,
and an unauthenticated or unauthorised publish is refused before its body is parsed."""

from __future__ import annotations

import tempfile

import pytest
from starlette.formparsers import MultiPartParser

from medinfer.gateway.app import create_app as gateway_app
from medinfer.gateway.settings import GatewaySettings
from medinfer.preprocess.app import create_app as preprocessor_app
from medinfer.preprocess.settings import PreprocessSettings
from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token
from tests.support.asgi import request

BIG = b"\x00SMITH JOHN MRN 4471 " * (3 * 1024 * 1024 // 21)  # ~3 MiB, above the 1 MiB spool limit
BOUNDARY = "medinfer-upload-boundary"


def _multipart(parts: dict[str, tuple[str | None, bytes]]) -> tuple[bytes, str]:
    out = []
    for name, (filename, data) in parts.items():
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out.append(f"--{BOUNDARY}\r\nContent-Disposition: {disp}\r\n"
                   f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    out.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={BOUNDARY}"


@pytest.fixture
def disk_spills(monkeypatch):
    """Every temporary file a SpooledTemporaryFile rolls over to."""
    calls = []
    real = tempfile.TemporaryFile

    def spy(*a, **kw):
        calls.append(a)
        return real(*a, **kw)

    monkeypatch.setattr(tempfile, "TemporaryFile", spy)
    return calls


def test_starlettes_own_parser_would_spill(disk_spills):
    """The control: the stock form parser writes a 3 MiB part to a temporary file."""
    import asyncio

    from starlette.datastructures import Headers

    body, ctype = _multipart({"file": ("scan.dcm", BIG)})

    async def stream():
        yield body

    async def run():
        form = await MultiPartParser(Headers({"content-type": ctype}), stream()).parse()
        await form.close()

    asyncio.run(run())
    assert disk_spills


def test_preprocessor_upload_stays_in_memory(tmp_path, disk_spills):
    app = preprocessor_app(PreprocessSettings(home=tmp_path, deid_enabled=False))
    body, ctype = _multipart({"file": ("scan.dcm", BIG)})
    r = request(app, "POST", "/v1/image/preprocess", body=body, headers={"content-type": ctype})
    assert 400 <= r.status < 500 and r.status != 413  # not an image: refused, but read (in memory)
    assert disk_spills == []
    assert b"SMITH" not in r.body


@pytest.fixture
def admin(tmp_path, monkeypatch):
    parsed = []
    real = MultiPartParser.parse

    async def spy(self):
        parsed.append(self)
        return await real(self)

    monkeypatch.setattr(MultiPartParser, "parse", spy)
    app = gateway_app(GatewaySettings(home=tmp_path, grpc_port=0, drift_enabled=False, audit_enabled=False))
    return app, ensure_dev_keys(tmp_path), parsed


def test_admin_upload_is_refused_before_its_body_is_read(admin, disk_spills):
    app, keys, parsed = admin
    body, ctype = _multipart({"model": ("model.onnx", BIG)})
    r = request(app, "POST", "/admin/models/demo/versions", body=body, headers={"content-type": ctype})
    assert r.status == 401 and parsed == []
    reader = mint_dev_token(keys, "models:read")
    r = request(app, "POST", "/admin/models/demo/versions", body=body,
                headers={"content-type": ctype, "authorization": f"Bearer {reader}"})
    assert r.status == 403 and parsed == []
    writer = mint_dev_token(keys, "models:write")
    r = request(app, "POST", "/admin/models/demo/versions", body=body,
                headers={"content-type": ctype, "authorization": f"Bearer {writer}"})
    assert parsed and r.status == 422  # authorised: read (in memory), then refused as not ONNX
    assert disk_spills == [] and b"SMITH" not in r.body


@pytest.mark.parametrize(("fields", "field"), [
    ({"model": ("m.onnx", b"x"), "version": (None, b"0")}, "version"),
    ({"model": ("m.onnx", b"x"), "version": (None, "\u00b2".encode())}, "version"),
    ({"model": (None, b"not a file")}, "model"),
    ({"sample": ("s.json", b"{}")}, "model"),
    ({"model": ("m.onnx", b"x"), "breaking": (None, b"maybe")}, "breaking"),
])
def test_admin_upload_fields_are_validated(admin, fields, field):
    app, keys, _ = admin
    body, ctype = _multipart(fields)
    writer = mint_dev_token(keys, "models:write")
    r = request(app, "POST", "/admin/models/demo/versions", body=body,
                headers={"content-type": ctype, "authorization": f"Bearer {writer}"})
    assert r.status == 422 and r.json().get("field") == field, r.body
