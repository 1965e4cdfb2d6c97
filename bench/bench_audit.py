"""Audit ledger append throughput: group commit (batched) vs one transaction per record (unbatched).

    .venv/bin/python bench/bench_audit.py [--records 3000] [--concurrency 1 16 64] [--postgres-url URL]

Each cell appends ``--records`` events from ``concurrency`` concurrent tasks
through ``AuditLedger.append`` (the call a request awaits before its response)
into a fresh SQLite file (WAL, synchronous=FULL) and, with ``--postgres-url``,
into PostgreSQL. Prints records/s, mean commit wait per append, records per
transaction, and the batched/unbatched ratio; then the cost of the signed
checkpoints (the anchor outside the database) at the default interval (1 s) and
after every group commit (interval 0), against batched appends without them in
the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medinfer.audit import AuditEvent, AuditKey, AuditLedger, AuditStore, sqlite_url, verify_ledger  # noqa: E402

KEY = AuditKey(b"bench-audit-key-0123456789abcdef")


def event(i: int) -> AuditEvent:
    return AuditEvent(action="POST /infer", route="/infer", status=200, request_id=f"{i:024x}", sub="bench",
                      client_id="bench", model="breast_cancer", version="1", latency_us=900,
                      input_digest=KEY.content_digest(b"%d" % i), output_digest=KEY.content_digest(b"o"),
                      phi_counts={"PERSON": 1})


async def drive(ledger: AuditLedger, records: int, concurrency: int) -> tuple[float, float]:
    waits: list[float] = []
    counter = iter(range(records))

    async def worker() -> None:
        for i in counter:
            t = time.perf_counter()
            await ledger.append(event(i))
            waits.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    await ledger.aclose()
    return records / elapsed, 1000 * sum(waits) / len(waits)


def cell(url: str, records: int, concurrency: int, max_batch: int, sync: str,
         checkpoint_interval_s: float | None = None, folder: Path | None = None) -> dict:
    store = AuditStore(url, sqlite_synchronous=sync)
    writer = None
    if checkpoint_interval_s is not None:
        from medinfer.audit.checkpoint import CheckpointSigner, CheckpointWriter, ensure_checkpoint_key

        folder = Path(tempfile.mkdtemp(prefix="cp-", dir=folder))
        writer = CheckpointWriter(folder / "cps.jsonl", CheckpointSigner.from_file(ensure_checkpoint_key(
            folder / "cp.pem")), interval_s=checkpoint_interval_s)
    ledger = AuditLedger(store, KEY, max_batch=max_batch, checkpoints=writer)
    rps, wait_ms = asyncio.run(drive(ledger, records, concurrency))
    check = AuditStore(url, migrate=False)
    ok = verify_ledger(check, [KEY]).ok
    check.dispose()
    return {"rps": rps, "wait_ms": wait_ms, "per_tx": ledger.records / max(1, ledger.batches), "ok": ok}


def fresh_pg(base_url: str) -> str:
    import uuid

    from sqlalchemy import create_engine, text

    name = "bench_" + uuid.uuid4().hex[:10]
    eng = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return base_url.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--sqlite-sync", choices=["FULL", "NORMAL"], default="FULL")
    ap.add_argument("--postgres-url", default=None, help="postgresql+psycopg://... (a database to create others from)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="medinfer-bench-audit-"))
    backends = [("sqlite", lambda n: sqlite_url(tmp / f"{n}.db"))]
    if args.postgres_url:
        backends.append(("postgres", lambda n: fresh_pg(args.postgres_url)))
    try:
        print(f"\naudit ledger appends, {args.records} records per cell, SQLite synchronous={args.sqlite_sync} "
              "(records/s; mean wait per append)")
        print(f"{'store':>8} {'conc':>4} | {'batched rps':>11} {'wait ms':>8} {'rec/tx':>6} | "
              f"{'unbatched rps':>13} {'wait ms':>8} | {'ratio':>6} | chain")
        n = 0
        for name, make_url in backends:
            for c in args.concurrency:
                n += 1
                b = cell(make_url(f"b{n}"), args.records, c, 512, args.sqlite_sync)
                u = cell(make_url(f"u{n}"), args.records, c, 1, args.sqlite_sync)
                print(f"{name:>8} {c:>4} | {b['rps']:>11.0f} {b['wait_ms']:>8.2f} {b['per_tx']:>6.1f} | "
                      f"{u['rps']:>13.0f} {u['wait_ms']:>8.2f} | {b['rps'] / u['rps']:>6.2f} | "
                      f"{'ok' if b['ok'] and u['ok'] else 'BROKEN'}")
        print("\nsigned checkpoints (batched appends, SQLite): records/s and ratio to no checkpoints")
        print(f"{'conc':>4} | {'none':>8} | {'every 1 s':>9} {'ratio':>6} | {'every commit':>12} {'ratio':>6}")
        for c in args.concurrency:
            n += 1
            base = cell(sqlite_url(tmp / f"c{n}.db"), args.records, c, 512, args.sqlite_sync)
            one = cell(sqlite_url(tmp / f"c{n}s.db"), args.records, c, 512, args.sqlite_sync, 1.0, tmp)
            every = cell(sqlite_url(tmp / f"c{n}e.db"), args.records, c, 512, args.sqlite_sync, 0.0, tmp)
            print(f"{c:>4} | {base['rps']:>8.0f} | {one['rps']:>9.0f} {one['rps'] / base['rps']:>6.2f} | "
                  f"{every['rps']:>12.0f} {every['rps'] / base['rps']:>6.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
