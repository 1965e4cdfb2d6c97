"""Feeding a drift monitor a stream of records, for the drift_eval benches (tabular, text, image)."""

from __future__ import annotations

import numpy as np

from medinfer.monitoring import DriftMonitor

__all__ = ["first_alarm", "false_alarms"]


def first_alarm(mon: DriftMonitor, key: tuple[str, str], stream: np.ndarray, step: int) -> int | None:
    """Feed ``stream`` in ``step``-sized chunks; return records fed when drift is first detected."""
    for start in range(0, stream.shape[0], step):
        mon.record(*key, stream[start:start + step])
        if mon.evaluate(*key).drift_detected:
            return start + step
    return None


def false_alarms(mon: DriftMonitor, key: tuple[str, str], stream: np.ndarray, step: int) -> tuple[int, int]:
    """Feed an unshifted ``stream`` in chunks: ``(alarms, evaluations that were ready)``."""
    evals = alarms = 0
    for start in range(0, stream.shape[0], step):
        mon.record(*key, stream[start:start + step])
        snap = mon.evaluate(*key)
        evals += snap.ready
        alarms += snap.drift_detected
    return alarms, evals
