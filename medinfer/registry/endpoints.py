"""Where the tritonservers are: a set of endpoints, not one URL.

Explicit model control (load, unload, READY) is per server, so the registry and the
gateway must address every tritonserver, not a load-balanced Service that picks one
pod per connection. Two sources of the set:

* ``StaticEndpoints``: a fixed list of base URLs (``MEDINFER_REGISTRY_TRITON_ENDPOINTS``,
  or the single ``triton_url`` as a one-element list). Local stacks and tests.
* ``DnsEndpoints``: the A/AAAA records of a Kubernetes *headless* Service
  (``clusterIP: None``), which resolve to one address per pod. With
  ``publishNotReadyAddresses: true`` a pod is listed from the moment it has an IP, so
  the gateway's reconcile loop can load the routed versions on it before any
  request is routed there (``deploy/base/k8s.yaml``: Service ``triton-pods``).

``urls()`` is called on every reconcile tick and before every promotion, so a pod that
appears or disappears is picked up within one tick (DNS answers are cached for
``ttl_s``). ``tls`` verifies https endpoints (each pod's TLS proxy in the cluster) for
every caller that drives them: the fleet's loads and the reconcile loop alike.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol
from urllib.parse import urlsplit

from medinfer.common.errors import ValidationFailed

__all__ = ["TritonEndpoints", "StaticEndpoints", "DnsEndpoints", "endpoints_from"]

Resolver = Callable[[str, int], Sequence[str]]


class TritonEndpoints(Protocol):
    tls: ssl.SSLContext | None  # verifies https endpoints; None: the system roots

    def urls(self) -> list[str]:
        """Base URLs (``http://host:port``) of every tritonserver, sorted, no duplicates."""
        ...


def _normalise(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("a Triton endpoint must be an http(s)://host:port URL", field="triton_endpoints")
    return f"{parts.scheme}://{parts.netloc}"


class StaticEndpoints:
    def __init__(self, urls: Sequence[str], *, tls: ssl.SSLContext | None = None) -> None:
        self._urls = sorted({_normalise(u) for u in urls if u.strip()})
        self.tls = tls

    def urls(self) -> list[str]:
        return list(self._urls)


def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class DnsEndpoints:
    """One endpoint per address the name resolves to (a headless Service: one per pod).

    ``dns:///host:port`` or ``host:port``; ``resolver(host, port)`` returns addresses
    (injectable for tests; the default is ``socket.getaddrinfo``). A failed lookup keeps
    the last answer: a DNS hiccup must not empty the routing set."""

    def __init__(self, target: str, *, scheme: str = "http", ttl_s: float = 1.0,
                 resolver: Resolver | None = None, tls: ssl.SSLContext | None = None) -> None:
        target = target.removeprefix("dns:///").removeprefix("dns://")
        host, sep, port = target.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValidationFailed("the Triton DNS name must be host:port", field="triton_endpoints_dns")
        self.host, self.port, self.scheme, self.ttl_s = host, int(port), scheme, ttl_s
        self._resolve = resolver or _getaddrinfo
        self.tls = tls
        self._lock = threading.Lock()
        self._urls: list[str] = []
        self._at = float("-inf")

    def _url(self, addr: str) -> str:
        host = f"[{addr}]" if ipaddress.ip_address(addr).version == 6 else addr
        return f"{self.scheme}://{host}:{self.port}"

    def urls(self) -> list[str]:
        with self._lock:
            if time.monotonic() - self._at < self.ttl_s:
                return list(self._urls)
            try:
                self._urls = sorted({self._url(a) for a in self._resolve(self.host, self.port)})
            except OSError:
                pass  # keep the last answer
            self._at = time.monotonic()
            return list(self._urls)


def endpoints_from(static: Sequence[str] | None, dns: str | None, single: str | None,
                   *, scheme: str = "http", ca_file=None) -> TritonEndpoints | None:
    """The configured source: a DNS name wins over a static list, which wins over one URL.
    ``ca_file``: the CA that https endpoints' certificates are verified against."""
    tls = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    if dns:
        for prefix in ("https://", "http://"):  # "https://pods.svc:8443": every pod behind its TLS proxy
            if dns.startswith(prefix):
                return DnsEndpoints(dns[len(prefix):].rstrip("/"), scheme=prefix[:-3], tls=tls)
        return DnsEndpoints(dns, scheme=scheme, tls=tls)
    if static:
        return StaticEndpoints(static, tls=tls)
    if single:
        return StaticEndpoints([single], tls=tls)
    return None
