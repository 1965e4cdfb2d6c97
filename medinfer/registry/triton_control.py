"""How the registry drives a running tritonserver (explicit model control).

``load`` re-reads ``<repo>/<name>/config.pbtxt``: versions newly listed in its
``version_policy`` become READY before Triton drops versions no longer listed,
so moving traffic never waits on a cold version. ``TritonFleet`` (``fleet.py``) drives
every server of an endpoint set over HTTP; ``TritonServer`` from ``medinfer.triton.server``
satisfies the same protocol for a server we started.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["TritonControl", "wait_version_ready"]


class TritonControl(Protocol):
    def load(self, name: str) -> None: ...

    def model_ready(self, name: str, version: int | None = None) -> bool: ...


def wait_version_ready(triton: TritonControl, name: str, version: int, timeout: float) -> bool:
    """READY within ``timeout``; a control over several servers (``TritonFleet``) waits on all."""
    everywhere = getattr(triton, "wait_ready_everywhere", None)
    if everywhere is not None:
        return everywhere(name, version, timeout)
    deadline = time.monotonic() + timeout
    while True:
        if triton.model_ready(name, version):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
