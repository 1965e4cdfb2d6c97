"""Keyed pseudonyms: UIDs, patient ids and per-patient date offsets from HMAC-SHA256.

One secret gives stable results (the same original UID always maps to the same new
UID, so series and references inside a study stay linked across files and requests);
another secret gives unrelated results. Nothing is stored: the mapping is the key.

The date offset follows the text de-identifier's scheme: a whole number of days in
``[-max_days, -1]`` derived from HMAC-SHA256 of the patient key, so every date of a
patient moves by the same amount and intervals are preserved.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["KeyedMapper", "UID_ROOT"]

# ISO/ITU-T UUID-derived OID arc (PS3.5 B.2): "2.25." + a 128-bit integer, <= 44 chars.
UID_ROOT = "2.25."


class KeyedMapper:
    def __init__(self, secret: bytes | str, *, max_shift_days: int = 365) -> None:
        key = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(key) < 16:
            raise ValueError("the de-identification secret must be at least 16 bytes")
        if max_shift_days < 1:
            raise ValueError("max_shift_days must be >= 1")
        self._key = key
        self.max_shift_days = max_shift_days

    def _digest(self, domain: str, value: str) -> bytes:
        return hmac.new(self._key, f"{domain}\x00{value}".encode(), hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        return UID_ROOT + str(int.from_bytes(self._digest("uid", original.strip())[:16], "big"))

    def patient_pseudonym(self, patient_key: str) -> str:
        return "ANON-" + self._digest("patient", patient_key).hex()[:16].upper()

    def date_shift_days(self, patient_key: str) -> int:
        n = int.from_bytes(self._digest("date-shift", patient_key)[:8], "big")
        return -(1 + n % self.max_shift_days)
