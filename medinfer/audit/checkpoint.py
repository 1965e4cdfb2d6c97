"""Signed checkpoints of the chain head, written outside the database (the ledger's external anchor).

The database's own head row is MAC'd with the ledger key, which the gateway
(and so anyone who can read its secrets, or who copies an old head row back)
holds: on its own it cannot show that records were cut off the end. A
checkpoint is ``{seq, hash}`` of the head after a group commit, with a time,
the previous checkpoint's digest and an Ed25519 signature by a key that is not
the ledger key and is not stored in the database. Checkpoints are appended,
one JSON line each, to an append-only sink (a local file opened ``O_APPEND``
and fsynced per line; in production a volume or bucket with retention, see
docs/security.md). ``medinfer audit verify`` reads them with the public key
only and reports:

- ``truncated``            a checkpoint vouches for a record the ledger no longer has
- ``checkpoint-mismatch``  the ledger's record at a checkpointed seq has another hash (chain rewritten)
- ``checkpoint-signature`` a line is not signed by a trusted checkpoint key (forged or edited line)
- ``checkpoint-chain``     lines were removed, reordered or inserted in a checkpoint file

Records written after the newest checkpoint are not anchored yet: at most
``checkpoint_interval_s`` of records (plus the commit in flight) can be cut
off the end without detection.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from medinfer.audit.record import GENESIS_HASH, canonical_json, utc_now

__all__ = [
    "Checkpoint", "CheckpointSigner", "CheckpointWriter", "read_checkpoints", "load_public_keys",
    "ensure_checkpoint_key", "public_key_id",
]

log = logging.getLogger("medinfer.audit")

_FORMAT = 1


def public_key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(b"medinfer-audit/checkpoint-key" + raw).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    """One line of a checkpoint file, as read back (``line`` = its number in the file, from 1)."""

    seq: int
    hash: str
    ts: str
    prev: str
    signer: str
    signature: bytes
    body: bytes  # the signed bytes
    source: str
    line: int

    def digest(self) -> str:
        return hashlib.sha256(self.body + b"|" + self.signature).hexdigest()

    def signed_by(self, keys: dict[str, Ed25519PublicKey]) -> bool:
        key = keys.get(self.signer)
        if key is None:
            return False
        try:
            key.verify(self.signature, self.body)
        except InvalidSignature:
            return False
        return True


class CheckpointSigner:
    """The Ed25519 key that signs checkpoints (PEM, PKCS#8); its public half verifies them."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key()
        self.key_id = public_key_id(self.public_key)

    @classmethod
    def from_file(cls, path: Path) -> CheckpointSigner:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the audit checkpoint key must be an Ed25519 private key (PEM)")
        return cls(key)

    def sign(self, body: bytes) -> bytes:
        return self._key.sign(body)

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def ensure_checkpoint_key(path: Path) -> Path:
    """Create (once, mode 0600) an Ed25519 checkpoint key at ``path`` (development)."""
    path = Path(path)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.replace(path.with_suffix(".tmp"), path)
    return path


def load_public_keys(paths: list[Path]) -> dict[str, Ed25519PublicKey]:
    """Public keys (or private keys, whose public half is taken) from PEM files, by key id."""
    out: dict[str, Ed25519PublicKey] = {}
    for p in paths:
        data = Path(p).read_bytes()
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{p}: not an Ed25519 key")
            pub = key.public_key()
        else:
            loaded = serialization.load_pem_public_key(data)
            if not isinstance(loaded, Ed25519PublicKey):
                raise ValueError(f"{p}: not an Ed25519 public key")
            pub = loaded
        out[public_key_id(pub)] = pub
    return out


def _parse(raw: bytes, source: str, line: int) -> Checkpoint | None:
    try:
        doc = json.loads(raw)
        sig = base64.b64decode(doc.pop("sig"), validate=True)
        body = canonical_json(doc)
        return Checkpoint(seq=int(doc["seq"]), hash=str(doc["hash"]), ts=str(doc["ts"]), prev=str(doc["prev"]),
                          signer=str(doc["signer"]), signature=sig, body=body, source=source, line=line)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def read_checkpoints(path: Path) -> tuple[list[Checkpoint], list[int]]:
    """The checkpoints of one file and the numbers of the lines that could not be parsed."""
    good: list[Checkpoint] = []
    bad: list[int] = []
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            raw = raw.strip()
            if not raw:
                continue
            cp = _parse(raw, str(path), n)
            if cp is None:
                bad.append(n)
            else:
                good.append(cp)
    return good, bad


class CheckpointWriter:
    """Appends a signed checkpoint of the head to a local append-only file, at most every ``interval_s``.

    Called by the ledger's writer thread after each group commit; a checkpoint is
    also written on close. The file is opened with ``O_APPEND`` (never rewritten),
    mode 0600, and each line is fsynced before the call returns. Several gateway
    processes may share one file (workers on one host): each append takes an
    exclusive ``flock`` and chains onto the line actually last in the file.
    """

    def __init__(self, path: Path, signer: CheckpointSigner, *, interval_s: float = 1.0,
                 clock=time.monotonic) -> None:
        self.path = Path(path)
        self.signer = signer
        self.interval_s = max(0.0, interval_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._last_at = float("-inf")
        self._pending: tuple[int, str] | None = None
        self._written: tuple[int, str] | None = None
        self.failures = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _last_digest(fd: int) -> str:
        """The digest of the file's last line (read from its tail), GENESIS for an empty file."""
        size = os.fstat(fd).st_size
        if size == 0:
            return GENESIS_HASH
        chunk = min(size, 64 * 1024)
        tail = os.pread(fd, chunk, size - chunk)
        lines = [ln for ln in tail.split(b"\n") if ln.strip()]
        cp = _parse(lines[-1].strip(), "", 0) if lines else None
        return cp.digest() if cp is not None else GENESIS_HASH

    def after_commit(self, seq: int, last_hash: str) -> None:
        """Note the new head; write a checkpoint when the interval has passed."""
        with self._lock:
            self._pending = (seq, last_hash)
            if self._clock() - self._last_at >= self.interval_s:
                self._flush()

    def flush(self) -> None:
        """Write a checkpoint of the newest head now (if it is not checkpointed yet)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if self._pending is None or self._pending == self._written:
            return
        seq, last_hash = self._pending
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                doc = {"v": _FORMAT, "seq": seq, "hash": last_hash, "ts": utc_now(), "prev": self._last_digest(fd),
                       "signer": self.signer.key_id}
                body = canonical_json(doc)
                sig = self.signer.sign(body)
                line = json.dumps({**doc, "sig": base64.b64encode(sig).decode()}, sort_keys=True,
                                  separators=(",", ":")).encode() + b"\n"
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)  # releases the lock
        except OSError as exc:
            self.failures += 1
            log.error("audit checkpoint write failed", extra={"event": "audit-checkpoint-failed",
                                                               "code": type(exc).__name__})
            return  # retried with the next commit
        self._written = (seq, last_hash)
        self._last_at = self._clock()
