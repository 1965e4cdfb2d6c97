"""The floor the gateway is measured against: a bare HTTP relay to Triton, no framework, no auth, no audit.

A raw ASGI app under the gateway's own server settings (uvicorn, uvloop,
httptools, the same TLS certificate) that forwards every request to Triton
through one pooled aiohttp session and sends Triton's answer back: the least a
Python hop can do. ``bench_protocols.py`` measures it in the same run as
direct Triton and the gateway, so "what the gateway's features cost" and "what
any Python hop costs on this machine" are told apart.

    MEDINFER_GATEWAY_TRITON_URL=http://127.0.0.1:8000 python -m uvicorn relay_baseline:app --app-dir bench ...

It reads Triton's address from the gateway's own setting, which the stack sets for its children.
"""

from __future__ import annotations

import os

import aiohttp

_RELAYED = (b"content-type", b"inference-header-content-length")
_session: aiohttp.ClientSession | None = None


async def _lifespan(receive, send) -> None:
    global _session
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _session = aiohttp.ClientSession(os.environ["MEDINFER_GATEWAY_TRITON_URL"], cookie_jar=aiohttp.DummyCookieJar(),
                                             connector=aiohttp.TCPConnector(limit=64))
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _session is not None:
                await _session.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    assert _session is not None
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = {k.decode(): v.decode() for k, v in scope["headers"] if k in _RELAYED}
    async with _session.request(scope["method"], scope["path"], data=body or None, headers=headers) as resp:
        data = await resp.read()
        out = [(k.encode(), resp.headers[k].encode()) for k in ("content-type", "inference-header-content-length")
               if k in resp.headers]
        status = resp.status
    await send({"type": "http.response.start", "status": status,
                "headers": [*out, (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
