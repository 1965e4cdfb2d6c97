"""Per-note time budgets for de-identification, checked cooperatively.

Every regex in the recognizers is linear in the note's length (tests/unit/test_deid_redos.py
keeps it so), but a long note through spaCy and twenty recognizers still takes time, and a
pool of pipelines can be busy. ``DeidEngine`` opens a ``Budget`` per note (per batch: per note
times the items) and the work checks it between regex matches, recognizers and spaCy chunks;
once it has run out ``DeidTimeout`` ends the analysis. The route answers 503 and nothing of
the note is returned or forwarded (fail-closed).

The budget lives in a context variable, so each thread's analysis sees only its own.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

from medinfer.common.errors import INPUT_FAILURE_HEADER, BackendUnavailable

__all__ = ["Budget", "DeidTimeout", "checkpoint", "finditer", "note_budget"]

_CURRENT: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("deid_budget", default=None)
#: matches between two clock reads in ``finditer``
_EVERY = 32


class DeidTimeout(BackendUnavailable):
    """The note was not de-identified within its budget; nothing of it is returned."""

    code, title = "deidentification-timeout", "De-identification timed out"

    def __init__(self, detail: str | None = None, *, about_input: bool = True, **kw) -> None:
        super().__init__(detail, **kw)
        if about_input:  # the note itself is too slow: the gateway must not retry it or count it as an outage
            self.headers[INPUT_FAILURE_HEADER] = "input"


class Budget:
    __slots__ = ("deadline", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise DeidTimeout(f"de-identification exceeded its budget of {self.seconds:g} s; "
                              "the text was not processed", retry_after=1)


@contextmanager
def note_budget(seconds: float | None) -> Iterator[Budget | None]:
    """Run the block under a budget of ``seconds`` (``None``: no budget)."""
    budget = Budget(seconds) if seconds is not None else None
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def current() -> Budget | None:
    return _CURRENT.get()


def checkpoint() -> None:
    """Raise ``DeidTimeout`` when the running note's budget is spent (no-op without one)."""
    budget = _CURRENT.get()
    if budget is not None:
        budget.check()


def finditer(regex: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """``regex.finditer(text)`` with a budget check every few matches."""
    budget = _CURRENT.get()
    if budget is None:
        yield from regex.finditer(text)
        return
    budget.check()
    for i, m in enumerate(regex.finditer(text)):
        if i % _EVERY == _EVERY - 1:
            budget.check()
        yield m
