"""Audit events, the keyed digests they carry, and how records are chained.

A record never holds request or response content, only keyed HMAC-SHA256
digests of it (keyed, so small inputs such as a feature vector cannot be
recovered by brute force) and, for accounting of disclosures, a keyed digest
of the patient key. Each record's ``hash`` is
``HMAC(chain_key, prev_hash | canonical_json(record))``: editing, deleting,
inserting or reordering records breaks the chain, and without the key nobody
can re-chain a forged ledger. One secret (``<home>/keys/audit-hmac.key`` in
development, the operator's secret in production) derives the three keys.

Record format versions: fields added after the first release (``ood_reason``,
migration ``audit_0002``; ``repeat``, ``audit_0003``) enter the canonical form only when they are set. A
record written before the field existed (the column reads NULL) therefore has
exactly the canonical form it was sealed with and still verifies, while
setting, changing or clearing the field on any record changes its canonical
form and breaks its MAC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "GENESIS_HASH", "AuditEvent", "AuditRecord", "AuditKey", "canonical_json", "utc_now", "seal",
    "head_mac", "RECORD_FIELDS", "OPTIONAL_FIELDS", "reason_code",
]

GENESIS_HASH = "0" * 64

RECORD_FIELDS = (
    "seq", "ts", "request_id", "sub", "client_id", "action", "route", "model", "version", "status",
    "latency_us", "input_digest", "output_digest", "phi_counts", "patient_digest", "key_id", "prev_hash",
)
# Added later: part of the canonical form only when not None (older records keep verifying).
OPTIONAL_FIELDS = ("ood_reason", "repeat")

_REASON_CODE = re.compile(r"[a-z][a-z0-9-]{0,31}")


def reason_code(value: object) -> str | None:
    """A reason code as recorded: a short lower-case token, or ``"unknown"`` for anything else.

    The OOD gate's codes come from a closed set; this keeps a record from ever
    holding free text (which could carry an input value) whatever a caller puts in.
    """
    if value is None:
        return None
    return value if isinstance(value, str) and _REASON_CODE.fullmatch(value) else "unknown"


def utc_now() -> str:
    """Fixed-width ISO-8601 UTC with microseconds: sorts as text, identical in every database."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass
class AuditEvent:
    """What happened; the ledger adds ``seq``, ``key_id`` and the chain."""

    action: str
    route: str = ""
    status: int = 0
    request_id: str = ""
    sub: str | None = None
    client_id: str | None = None
    model: str | None = None
    version: str | None = None
    latency_us: int = 0
    input_digest: str | None = None
    output_digest: str | None = None
    phi_counts: dict[str, int] = field(default_factory=dict)
    patient_digest: str | None = None
    ts: str = field(default_factory=utc_now)
    ood_reason: str | None = None  # the OOD gate's reason code when it flagged or rejected the input
    repeat: int | None = None  # an aggregate record: how many requests it stands for (failed authentication)

    def __post_init__(self) -> None:
        self.ood_reason = reason_code(self.ood_reason)


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    ts: str
    request_id: str
    sub: str | None
    client_id: str | None
    action: str
    route: str
    model: str | None
    version: str | None
    status: int
    latency_us: int
    input_digest: str | None
    output_digest: str | None
    phi_counts: dict[str, int]
    patient_digest: str | None
    key_id: str
    prev_hash: str
    hash: str
    ood_reason: str | None = None
    repeat: int | None = None

    def body(self) -> dict[str, Any]:
        """The canonical content the MAC covers (optional fields only when set)."""
        d = asdict(self)
        d.pop("hash")
        for name in OPTIONAL_FIELDS:
            if d[name] is None:
                del d[name]
        return d

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class AuditKey:
    """The ledger secret and the sub-keys derived from it (domain-separated)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("audit key must be at least 16 bytes")
        self._content = hmac.new(secret, b"medinfer-audit/content", hashlib.sha256).digest()
        self._patient = hmac.new(secret, b"medinfer-audit/patient", hashlib.sha256).digest()
        self._chain = hmac.new(secret, b"medinfer-audit/chain", hashlib.sha256).digest()
        self.key_id = hashlib.sha256(b"medinfer-audit/key-id" + secret).hexdigest()[:16]

    @classmethod
    def from_file(cls, path: Path) -> AuditKey:
        raw = Path(path).read_bytes().strip()
        try:
            return cls(bytes.fromhex(raw.decode("ascii")))
        except (UnicodeDecodeError, ValueError):
            return cls(raw)

    def content_hasher(self) -> hmac.HMAC:
        """Incremental digest for streamed bodies (``update`` per chunk, ``hexdigest`` at the end)."""
        return hmac.new(self._content, digestmod=hashlib.sha256)

    def content_digest(self, data: bytes) -> str:
        return hmac.new(self._content, data, hashlib.sha256).hexdigest()

    def patient_digest(self, patient_key: str) -> str:
        return hmac.new(self._patient, patient_key.strip().encode(), hashlib.sha256).hexdigest()

    def chain_hash(self, prev_hash: str, body: dict[str, Any]) -> str:
        return hmac.new(self._chain, prev_hash.encode() + b"|" + canonical_json(body), hashlib.sha256).hexdigest()

    def head_mac(self, seq: int, last_hash: str) -> str:
        return hmac.new(self._chain, f"head|{seq}|{last_hash}".encode(), hashlib.sha256).hexdigest()


def head_mac(key: AuditKey, seq: int, last_hash: str) -> str:
    return key.head_mac(seq, last_hash)


def seal(events: list[AuditEvent], head_seq: int, head_hash: str, key: AuditKey) -> list[AuditRecord]:
    """Number and chain ``events`` after the current head."""
    out: list[AuditRecord] = []
    prev = head_hash
    for i, ev in enumerate(events, start=head_seq + 1):
        body = {
            "seq": i, "ts": ev.ts, "request_id": ev.request_id, "sub": ev.sub, "client_id": ev.client_id,
            "action": ev.action, "route": ev.route, "model": ev.model, "version": ev.version,
            "status": int(ev.status), "latency_us": int(ev.latency_us), "input_digest": ev.input_digest,
            "output_digest": ev.output_digest, "phi_counts": {str(k): int(v) for k, v in ev.phi_counts.items()},
            "patient_digest": ev.patient_digest, "key_id": key.key_id, "prev_hash": prev,
        }
        if ev.ood_reason is not None:
            body["ood_reason"] = ev.ood_reason
        if ev.repeat is not None:
            body["repeat"] = int(ev.repeat)
        h = key.chain_hash(prev, body)
        out.append(AuditRecord(**body, hash=h))
        prev = h
    return out
