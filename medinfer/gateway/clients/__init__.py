"""Upstream clients of the gateway (aiohttp, pooled keep-alive connections)."""
