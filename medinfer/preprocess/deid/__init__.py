"""PHI de-identification of clinical text (Safe Harbor categories), built on Presidio.

Entry points: ``DeidEngine`` (build once, share), ``DeidResult``/``Entity``, ``OPERATORS``.
"""

from medinfer.preprocess.deid.engine import OPERATORS, DeidEngine, DeidResult, Entity
from medinfer.preprocess.deid.labels import LABELS

__all__ = ["LABELS", "OPERATORS", "DeidEngine", "DeidResult", "Entity"]
