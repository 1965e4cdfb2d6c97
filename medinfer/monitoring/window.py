"""Bounded sliding window of numeric input summaries for one model version.

A preallocated ``capacity × dim`` float array used as a ring buffer: an append
is one slice assignment under an uncontended lock (O(dim), no allocation), and
memory is fixed at start-up. Only numbers go in (tabular features, embedding
vectors, image summaries); anything older than the last ``capacity`` records
is overwritten, so nothing is retained beyond the window.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["SlidingWindow"]


class SlidingWindow:
    def __init__(self, capacity: int, dim: int) -> None:
        if capacity < 1 or dim < 1:
            raise ValueError("capacity and dim must be positive")
        self.capacity = capacity
        self.dim = dim
        self._buf = np.zeros((capacity, dim), dtype=np.float64)
        self._next = 0
        self._size = 0
        self._lock = threading.Lock()
        #: records ever appended (monotonic; for "M new records" scheduling)
        self.total = 0

    def __len__(self) -> int:
        return self._size

    def append(self, rows: np.ndarray) -> None:
        """Append one row (``dim``) or a batch (``k × dim``); keeps the most recent ``capacity``."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim == 1:
            if rows.shape[0] != self.dim:
                raise ValueError("row width does not match the window")
            with self._lock:  # the common single-row case: one slice assignment
                self._buf[self._next] = rows
                self._next = (self._next + 1) % self.capacity
                self._size = min(self.capacity, self._size + 1)
                self.total += 1
            return
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError("row width does not match the window")
        k = rows.shape[0]
        with self._lock:
            self.total += k
            if k >= self.capacity:
                self._buf[:] = rows[-self.capacity:]
                self._next, self._size = 0, self.capacity
                return
            end = self._next + k
            if end <= self.capacity:
                self._buf[self._next:end] = rows
            else:
                split = self.capacity - self._next
                self._buf[self._next:] = rows[:split]
                self._buf[: k - split] = rows[split:]
            self._next = end % self.capacity
            self._size = min(self.capacity, self._size + k)

    def snapshot(self) -> np.ndarray:
        """A copy of the window in arrival order (oldest first)."""
        with self._lock:
            if self._size < self.capacity:
                return self._buf[: self._size].copy()
            return np.concatenate([self._buf[self._next:], self._buf[: self._next]])

    def clear(self) -> None:
        with self._lock:
            self._buf.fill(0.0)
            self._next = self._size = 0
