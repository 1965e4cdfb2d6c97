"""Drive an ASGI app in-process (no server, no HTTP client library) for route unit tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson


@dataclass
class AsgiResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return orjson.loads(self.body)


async def _call(app, method: str, path: str, body: bytes, headers: dict[str, str]) -> AsgiResponse:
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    path, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": raw_headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }
    sent = False
    out: dict = {"status": 0, "headers": {}, "body": bytearray()}

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return AsgiResponse(out["status"], out["headers"], bytes(out["body"]))


def request(app, method: str, path: str, *, body: bytes = b"", json=None, headers: dict[str, str] | None = None
            ) -> AsgiResponse:
    headers = dict(headers or {})
    if json is not None:
        body = orjson.dumps(json)
        headers.setdefault("content-type", "application/json")
    return asyncio.run(_call(app, method, path, body, headers))


def multipart(fields: dict[str, str], file_bytes: bytes, filename: str = "upload.bin") -> tuple[bytes, str]:
    boundary = "medinfer-test-boundary-7f3a"
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode() + file_bytes + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
