"""One de-identification engine per test session (loading spaCy takes seconds)."""

from __future__ import annotations

from functools import cache

__all__ = ["TEST_SECRET", "deid_engine"]

TEST_SECRET = b"test-secret-0123456789abcdef0123456789"


@cache
def deid_engine(secret: bytes = TEST_SECRET):
    from medinfer.preprocess.deid import DeidEngine

    return DeidEngine(secret, max_chars=5000, max_batch_items=8)
