"""A steady request stream for registry tests: resolve through the routing table,
count in flight and per-version metrics, and call Triton for the chosen version,
as the gateway does per request."""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from medinfer.registry.routing import RoutingTable, VersionMetrics

__all__ = ["Traffic", "Outcome"]


@dataclass
class Outcome:
    routed: int
    tag: str
    status: int
    served_by: str | None


@dataclass
class Traffic:
    port: int
    table: RoutingTable
    metrics: VersionMetrics
    model: str
    bad_every: int = 0  # every n-th request carries a first feature of 5.0 (breaks the flaky model)
    n_in: int = 4
    outcomes: list[Outcome] = field(default_factory=list)
    # Sees each request's input before it is sent, as the gateway's OOD gate and drift window do.
    on_input: Callable[[int, np.ndarray], None] | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _input(self, i: int) -> np.ndarray:
        x = np.random.default_rng(i).random((1, self.n_in)).astype(np.float32)
        if self.bad_every and i % self.bad_every == 0:
            x[0, 0] = 5.0
        return x

    def _body(self, x: np.ndarray) -> bytes:
        return json.dumps(
            {
                "inputs": [
                    {"name": "x", "datatype": "FP32", "shape": [1, self.n_in], "data": x.ravel().tolist()}
                ]
            }
        ).encode()

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        i = 0
        while not self._stop.is_set():
            i += 1
            version, tag = self.table.resolve(self.model, None, uuid.uuid4().hex)
            x = self._input(i)
            if self.on_input is not None:
                self.on_input(version, x)
            with self.metrics.track(self.model, version) as out:
                try:
                    conn.request(
                        "POST",
                        f"/v2/models/{self.model}/versions/{version}/infer",
                        self._body(x),
                        {"Content-Type": "application/json"},
                    )
                    resp = conn.getresponse()
                    raw = resp.read()
                    status = resp.status
                except OSError:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    status, raw = 0, b""
                if status != 200:
                    out.fail()
            served = json.loads(raw).get("model_version") if status == 200 else None
            self.outcomes.append(Outcome(version, tag, status, served))
        conn.close()

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.outcomes
