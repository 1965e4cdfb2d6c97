"""Gateway vs direct Triton over the Open Inference Protocol: REST JSON, REST binary tensors and gRPC.

Starts the local stack (auth and audit ON, TLS on the gateway), then drives the
same single-record ``breast_cancer`` inference with Triton's own ``perf_analyzer``
(shipped in the ``tritonclient`` wheel) at concurrency 1, 8 and 32, first
straight at Triton and then through the gateway, in the same run. Prints
throughput, p50/p99 latency, the throughput ratio gateway/direct and the
latency the gateway adds at p50.

    .venv/bin/python bench/bench_protocols.py [--interval-ms 3000] [--concurrency 1 8 32] [--rounds 3]

perf_analyzer needs Debian's ``libb64-0d`` and a ``libcudart.so.12``; the pytriton
wheel's copy is linked into a temporary folder here. The load generator shares
the two cores with the servers, so only ratios measured in one run mean much.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token  # noqa: E402
from medinfer.stack import Stack  # noqa: E402
from tests.support.stack import new_stack_ports  # noqa: E402

MODES = {  # name -> (perf_analyzer protocol, extra args)
    "rest-json": ("http", ["--input-tensor-format", "json", "--output-tensor-format", "json"]),
    "rest-binary": ("http", ["--input-tensor-format", "binary", "--output-tensor-format", "binary"]),
    "grpc": ("grpc", []),
}


def perf_analyzer_env() -> dict[str, str]:
    import pytriton

    libs = Path(pytriton.__file__).parent.parent / "nvidia_pytriton.libs"
    link_dir = Path(tempfile.mkdtemp(prefix="pa-libs-"))
    cudart = next(libs.glob("libcudart-*.so.12*"))
    (link_dir / "libcudart.so.12").symlink_to(cudart)
    return {**os.environ, "LD_LIBRARY_PATH": f"{link_dir}:{libs}"}


def input_file(home: Path, tmp: Path) -> Path:
    example = json.loads((ROOT / "examples" / "infer_breast_cancer.json").read_text())["input"]
    meta = json.loads((home / "models" / "breast_cancer" / "1" / "medinfer.json").read_text())
    values = [example[f["name"]] for f in meta["features"]]
    path = tmp / "input.json"
    path.write_text(json.dumps({"data": [{"features": {"content": values, "shape": [30]}}]}))
    return path


def bench_stack(home: Path, ports, audit_sqlite_sync: str, extra_env: dict[str, str] | None = None) -> Stack:
    """The stack both benches drive. One load generator is one principal: its rate limit is lifted so the
    path is measured, not the limiter."""
    return Stack(home, ports, extra_env={"MEDINFER_GATEWAY_RATE_LIMIT_RPS": "1e9",
                                         "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "1000000000",
                                         "MEDINFER_GATEWAY_AUDIT_SQLITE_SYNC": audit_sqlite_sync,
                                         **(extra_env or {})})


def perf_targets(ports, home: Path, token: str) -> dict[str, dict[str, tuple[str, list[str]]]]:
    """protocol -> direct / gateway -> (perf_analyzer URL, its extra arguments: token and TLS for the gateway)."""
    ca = str(home / "tls" / "ca.pem")
    return {
        "http": {
            "direct": (f"127.0.0.1:{ports.triton.http}", []),
            "gateway": (f"https://127.0.0.1:{ports.gateway}", [
                "-H", f"Authorization: Bearer {token}", "--ssl-https-ca-certificates-file", ca,
                "--ssl-https-verify-peer", "1", "--ssl-https-verify-host", "0"]),
        },
        "grpc": {
            "direct": (f"127.0.0.1:{ports.triton.grpc}", []),
            "gateway": (f"127.0.0.1:{ports.gateway_grpc}", [
                "-H", f"authorization:Bearer {token}", "--ssl-grpc-use-ssl", "true",
                "--ssl-grpc-root-certifications-file", ca]),
        },
    }


def run(pa: str, env: dict, url: str, protocol: str, extra: list[str], concurrency: int, interval_ms: int,
        data: Path, tmp: Path) -> dict:
    out = tmp / f"pa-{os.getpid()}-{concurrency}-{protocol}.csv"
    cmd = [pa, "-m", "breast_cancer", "-u", url, "-i", protocol, "--concurrency-range", f"{concurrency}",
           "-p", str(interval_ms), "--stability-percentage", "1000", "--max-trials", "3", "--percentile", "99",
           "--input-data", str(data), "-f", str(out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"perf_analyzer failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    row = next(csv.DictReader(out.open()))
    return {"rps": float(row["Inferences/Second"]), "p50_ms": float(row["p50 latency"]) / 1000,
            "p99_ms": float(row["p99 latency"]) / 1000}


def _medians(pairs: list[tuple[dict, dict]]) -> tuple[dict, dict, float, float]:
    """Median direct and gateway figures, and the medians of the per-round ratio and added p50 (a round's two
    measurements are adjacent in time, so their ratio is steadier than a ratio of medians)."""
    med = statistics.median
    direct = {k: med(d[k] for d, _ in pairs) for k in pairs[0][0]}
    gateway = {k: med(g[k] for _, g in pairs) for k in pairs[0][1]}
    return (direct, gateway, med(g["rps"] / d["rps"] for d, g in pairs),
            med(g["p50_ms"] - d["p50_ms"] for d, g in pairs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--interval-ms", type=int, default=3000)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--rounds", type=int, default=1,
                    help="direct/gateway pairs per cell, in alternating order; the table shows the medians "
                         "(the ratio is the median of the per-round ratios)")
    ap.add_argument("--audit-sqlite-sync", choices=["full", "normal"], default="full",
                    help="SQLite ledger durability: full fsyncs every group commit (default), normal relies on "
                         "the WAL (survives a process crash, not a power loss)")
    args = ap.parse_args()
    pa = shutil.which("perf_analyzer", path=str(Path(sys.executable).parent))
    if pa is None:
        sys.exit("perf_analyzer not found in the venv (tritonclient==2.51.0 ships it)")
    env = perf_analyzer_env()
    home = Path(tempfile.mkdtemp(prefix="medinfer-bench-"))
    tmp = Path(tempfile.mkdtemp(prefix="medinfer-pa-"))
    ports = new_stack_ports()
    stack = bench_stack(home, ports, args.audit_sqlite_sync)
    stack.start()
    try:
        data = input_file(home, tmp)
        token = mint_dev_token(ensure_dev_keys(home), "infer models:read", ttl_s=3600)
        targets = perf_targets(ports, home, token)
        rows = []
        for mode in args.modes:
            protocol, extra = MODES[mode]
            for c in args.concurrency:
                pairs = []
                for i in range(args.rounds):
                    res = {}
                    for target in ("direct", "gateway") if i % 2 == 0 else ("gateway", "direct"):
                        url, targs = targets[protocol][target]
                        res[target] = run(pa, env, url, protocol, extra + targs, c, args.interval_ms, data, tmp)
                    d, g = res["direct"], res["gateway"]
                    pairs.append((d, g))
                    print(f"{mode:11s} c={c:<3d} direct {d['rps']:7.0f}/s p50 {d['p50_ms']:6.2f} p99 {d['p99_ms']:6.2f} | "
                          f"gateway {g['rps']:7.0f}/s p50 {g['p50_ms']:6.2f} p99 {g['p99_ms']:6.2f} | "
                          f"ratio {g['rps'] / d['rps']:.2f} added p50 {g['p50_ms'] - d['p50_ms']:+.2f} ms", flush=True)
                rows.append((mode, c, *_medians(pairs)))
        print(f"\nbreast_cancer, 1 record/request, auth + audit ON (SQLite sync {args.audit_sqlite_sync}), "
              "gateway over TLS; perf_analyzer")
        print(f"{'mode':11s} {'conc':>4} | {'direct/s':>8} {'p50':>6} {'p99':>6} | {'gateway/s':>9} {'p50':>6} "
              f"{'p99':>6} | {'ratio':>5} {'+p50 ms':>7}")
        for mode, c, d, g, ratio, added in rows:
            print(f"{mode:11s} {c:>4} | {d['rps']:>8.0f} {d['p50_ms']:>6.2f} {d['p99_ms']:>6.2f} | {g['rps']:>9.0f} "
                  f"{g['p50_ms']:>6.2f} {g['p99_ms']:>6.2f} | {ratio:>5.2f} {added:>+7.2f}")
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
