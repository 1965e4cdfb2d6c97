"""A steady client load through the gateway: a few threads posting back to back,
recording each answer's status and the version that served it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

__all__ = ["ClientLoad", "Answer"]


@dataclass(frozen=True)
class Answer:
    status: int
    version: str | None
    detail: str = ""


@dataclass
class ClientLoad:
    url: str
    body: bytes
    token: str
    ca_file: Path | None
    threads: int = 2
    per_thread_rps: float | None = None  # paced (a steady load under the rate limit) or back to back
    headers: dict[str, str] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]

    def _run(self) -> None:
        with requests.Session() as session:
            session.trust_env = False
            session.verify = str(self.ca_file) if self.ca_file else True
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}",
                       **self.headers}
            gap = 1.0 / self.per_thread_rps if self.per_thread_rps else 0.0
            next_at = time.monotonic()
            while not self._stop.is_set():
                if gap:
                    next_at += gap
                    self._stop.wait(max(0.0, next_at - time.monotonic()))
                try:
                    r = session.post(self.url, data=self.body, headers=headers, timeout=30)
                    version = r.json().get("version") if r.status_code == 200 else None
                    self.answers.append(Answer(r.status_code, None if version is None else str(version),
                                               "" if r.status_code == 200 else r.text[:300]))
                except requests.RequestException as exc:
                    self.answers.append(Answer(0, None, type(exc).__name__))

    def start(self) -> ClientLoad:
        for w in self._workers:
            w.start()
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for w in self._workers:
            w.join(30)
        return self.answers

    def failed(self) -> list[Answer]:
        return [a for a in self.answers if a.status != 200]

    def served(self) -> set[str | None]:
        return {a.version for a in self.answers if a.status == 200}
