"""Fault injection on loopback: a backend that stalls, a proxy that answers 503 some of the time, and a TCP
proxy whose behaviour is switched while a test runs (pass through, reset every connection, stall)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from aiohttp import web

__all__ = ["stalling_server", "flaky_proxy", "FlakyProxy", "switchable_proxy", "SwitchableProxy"]


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@contextmanager
def stalling_server() -> Iterator[tuple[str, list]]:
    """Accepts connections, reads requests, never answers. Yields (base URL, list of open connections)."""
    lt = _LoopThread()
    writers: list = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            while await reader.read(65536):
                pass
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writers.remove(writer)

    async def start():
        return await asyncio.start_server(handle, "127.0.0.1", 0)

    server = lt.run(start())
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", writers
    finally:
        async def stop():
            server.close()
            for w in list(writers):
                w.close()
        lt.run(stop())
        lt.close()


class FlakyProxy:
    """Forwards to ``target``; every inference request whose sequence number ``n % every == 0`` gets a 503."""

    def __init__(self, target: str, every: int) -> None:
        self.target = target.rstrip("/")
        self.every = every
        self.count = 0
        self.injected = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        # Inference requests only: the gateway's model-control calls (repository index, loads) pass untouched.
        infer = request.method == "POST" and request.path.endswith("/infer")
        self.count += infer
        if infer and self.count % self.every == 0:
            self.injected += 1
            return web.Response(status=503, text='{"error": "injected"}', content_type="application/json")
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "inference-header-content-length")}
        async with self.session.request(request.method, self.target + request.path_qs, data=body,
                                        headers=headers) as resp:
            raw = await resp.read()
            out = {k: v for k, v in resp.headers.items()
                   if k.lower() in ("content-type", "inference-header-content-length")}
            return web.Response(status=resp.status, body=raw, headers=out)


@contextmanager
def flaky_proxy(target: str, every: int = 2) -> Iterator[tuple[str, FlakyProxy]]:
    lt = _LoopThread()
    proxy = FlakyProxy(target, every)

    async def start():
        proxy.session = aiohttp.ClientSession(skip_auto_headers=("Accept-Encoding",))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", proxy.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]

    runner, port = lt.run(start())
    try:
        yield f"http://127.0.0.1:{port}", proxy
    finally:
        async def stop():
            await runner.cleanup()
            await proxy.session.close()
        lt.run(stop())
        lt.close()


class SwitchableProxy:
    """A TCP proxy to ``target`` (host, port) for any protocol (gRPC's HTTP/2 too), in one of four modes:
    ``pass`` forwards bytes, ``reset`` accepts and resets at once, ``stall`` accepts, reads and never answers,
    ``freeze`` keeps open connections open but forwards nothing more (a backend that hangs mid-session:
    a gRPC channel stays READY and its calls wait). Switching drops every open connection (except into
    ``freeze``), so a client's next call meets the new mode."""

    def __init__(self, lt: _LoopThread, target: tuple[str, int]) -> None:
        self.lt = lt
        self.target = target
        self.mode = "pass"
        self.writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0

    def set_mode(self, mode: str) -> None:
        assert mode in ("pass", "reset", "stall", "freeze")

        async def switch() -> None:
            self.mode = mode
            if mode == "freeze":
                return
            for w in list(self.writers):
                w.transport.abort()
            self.writers.clear()

        self.lt.run(switch())

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "reset":
            writer.transport.abort()
            return
        self.writers.add(writer)
        if self.mode in ("stall", "freeze"):
            try:
                while await reader.read(65536):
                    pass
            except (ConnectionError, asyncio.CancelledError):
                pass
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers.add(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while chunk := await src.read(65536):
                    if self.mode == "freeze":
                        continue  # read and dropped: nothing reaches the other side any more
                    dst.write(chunk)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@contextmanager
def switchable_proxy(target: tuple[str, int]) -> Iterator[tuple[str, SwitchableProxy]]:
    """Yields ("127.0.0.1:PORT", proxy)."""
    lt = _LoopThread()
    proxy = SwitchableProxy(lt, target)

    async def start():
        return await asyncio.start_server(proxy.handle, "127.0.0.1", 0)

    server = lt.run(start())
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}", proxy
    finally:
        async def stop():
            server.close()
            for w in list(proxy.writers):
                w.transport.abort()
        lt.run(stop())
        lt.close()
