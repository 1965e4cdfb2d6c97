"""Ports for test servers: chosen by the OS, or sockets bound before the server starts."""

from __future__ import annotations

import socket

__all__ = ["free_port", "free_ports", "bound_socket"]


def free_port() -> int:
    """A port the OS reports free now (for servers that take a port number, not a socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: all sockets stay bound until every port is chosen, so the OS cannot
    hand out the same port twice (successive ``free_port()`` calls can)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def bound_socket() -> socket.socket:
    """A listening-ready socket on an OS-assigned port, to hand to uvicorn (no race)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.set_inheritable(True)
    return s
