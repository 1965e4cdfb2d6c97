"""Checking the chain: which records were edited, deleted, inserted or reordered, and where.

Walks the ledger in ``seq`` order and reports, per problem, the ``seq`` and a kind:

- ``edited``       the record's MAC does not match its content (changed after writing)
- ``gap``          sequence numbers jump: records were deleted before this one
- ``broken-link``  ``prev_hash`` is not the previous record's hash (deleted, inserted or reordered records)
- ``unknown-key``  written under a key the verifier was not given
- ``head``         the head row disagrees with the last record (records cut off the end) or its MAC is bad

With checkpoint files (:mod:`medinfer.audit.checkpoint`, the anchor outside the
database) also ``truncated``, ``checkpoint-mismatch``, ``checkpoint-signature``
and ``checkpoint-chain``: without them a truncated ledger whose old head row was
written back verifies, since the head row lives in the same database.

``ood_reason`` is covered by the MAC like every other field (only when set:
records older than the field verify unchanged); the result counts the records
that carry one, by reason code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from medinfer.audit.checkpoint import Checkpoint, read_checkpoints
from medinfer.audit.record import GENESIS_HASH, AuditKey
from medinfer.audit.store import AuditStore

__all__ = ["Problem", "VerifyResult", "verify_ledger"]


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str
    message: str


@dataclass
class VerifyResult:
    checked: int = 0
    last_seq: int = 0
    problems: list[Problem] = field(default_factory=list)
    ood_reasons: dict[str, int] = field(default_factory=dict)  # records carrying an OOD reason code
    checkpoints: int = 0  # valid checkpoints checked against the ledger
    anchored_seq: int = 0  # the newest checkpointed record (records after it are not anchored yet)
    anchored_ts: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _trusted_checkpoints(files: list[Path], public_keys: dict[str, Ed25519PublicKey], report) -> list[Checkpoint]:
    """Checkpoints whose signature verifies, each file's lines checked as a chain."""
    out: list[Checkpoint] = []
    for path in files:
        cps, unreadable = read_checkpoints(path)
        for n in unreadable:
            report(0, "checkpoint-signature", f"{path.name} line {n} is not a checkpoint (edited or corrupt)")
        prev = GENESIS_HASH
        for cp in cps:
            if not cp.signed_by(public_keys):
                report(cp.seq, "checkpoint-signature",
                       f"{path.name} line {cp.line} is not signed by a trusted checkpoint key (forged or edited)")
                continue
            # by digest only: workers sharing a file may checkpoint out of seq order
            if cp.prev != prev:
                report(cp.seq, "checkpoint-chain", f"{path.name} line {cp.line} does not follow the line before "
                                                   "it (checkpoints removed, inserted or reordered)")
            prev = cp.digest()
            out.append(cp)
    return out


def verify_ledger(store: AuditStore, keys: list[AuditKey], *, max_problems: int = 100,
                  checkpoint_files: list[Path] | None = None,
                  checkpoint_keys: dict[str, Ed25519PublicKey] | None = None) -> VerifyResult:
    """Check the chain; with ``checkpoint_files`` (and the public keys that signed them) also check it
    against those external anchors."""
    keyring = {k.key_id: k for k in keys}
    res = VerifyResult()
    prev_hash, prev_seq = GENESIS_HASH, 0

    def report(seq: int, kind: str, message: str) -> None:
        if len(res.problems) < max_problems:
            res.problems.append(Problem(seq, kind, message))

    anchors: dict[int, set[str]] = {}
    checkpoints = _trusted_checkpoints(checkpoint_files or [], checkpoint_keys or {}, report)
    for cp in checkpoints:
        anchors.setdefault(cp.seq, set()).add(cp.hash)
    res.checkpoints = len(checkpoints)

    for rec in store.iter_records():
        res.checked += 1
        if rec.ood_reason is not None:
            res.ood_reasons[rec.ood_reason] = res.ood_reasons.get(rec.ood_reason, 0) + 1
        if rec.seq != prev_seq + 1:
            report(rec.seq, "gap", f"records {prev_seq + 1}..{rec.seq - 1} are missing (deleted)"
                   if rec.seq > prev_seq + 1 else f"sequence goes backwards after {prev_seq}")
        key = keyring.get(rec.key_id)
        if key is None:
            report(rec.seq, "unknown-key", f"record {rec.seq} was written with key id {rec.key_id}, not provided")
        elif key.chain_hash(rec.prev_hash, rec.body()) != rec.hash:
            report(rec.seq, "edited", f"record {rec.seq} does not match its MAC (edited or forged)")
        if rec.prev_hash != prev_hash:
            report(rec.seq, "broken-link",
                   f"record {rec.seq} does not follow record {prev_seq} (a record was deleted, inserted or moved)")
        expected = anchors.get(rec.seq)
        if expected is not None and expected != {rec.hash}:
            report(rec.seq, "checkpoint-mismatch", f"record {rec.seq} is not the record a signed checkpoint "
                                                   "vouches for (the chain was rewritten)")
        prev_hash, prev_seq = rec.hash, rec.seq
    res.last_seq = prev_seq
    if checkpoints:
        newest = max(checkpoints, key=lambda c: c.seq)
        res.anchored_seq, res.anchored_ts = newest.seq, newest.ts
        if newest.seq > prev_seq:
            report(prev_seq, "truncated", f"a checkpoint signed at {newest.ts} vouches for record {newest.seq}; "
                                          f"the ledger ends at record {prev_seq} (records cut off the end)")

    head = store.head()
    if head is None:
        if res.checked:
            report(prev_seq, "head", "the chain head is missing")
        return res
    h_seq, h_hash, h_key_id, h_mac = head
    key = keyring.get(h_key_id)
    if key is None:
        report(h_seq, "unknown-key", f"the chain head was written with key id {h_key_id}, not provided")
    elif key.head_mac(h_seq, h_hash) != h_mac:
        report(h_seq, "head", "the chain head's MAC is invalid (head edited)")
    if (h_seq, h_hash) != (prev_seq, prev_hash):
        report(prev_seq, "head", f"the chain head says the ledger ends at record {h_seq}, "
                                 f"the last record is {prev_seq} (records cut off the end or appended outside the ledger)")
    return res
