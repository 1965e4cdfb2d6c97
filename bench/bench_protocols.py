"""Gateway vs direct Triton over the Open Inference Protocol: REST JSON, REST binary tensors and gRPC.

Starts the local stack (auth and audit ON, TLS on the gateway), then drives the
same single-record ``breast_cancer`` inference with Triton's own ``perf_analyzer``
(shipped in the ``tritonclient`` wheel) at concurrency 1, 8 and 32, straight at
Triton and through the gateway, in the same run. Prints throughput, p50/p99
latency, the throughput ratio gateway/direct and the latency the gateway adds
at p50. Over REST it also measures the floor any Python hop pays here: a bare
relay (``relay_baseline.py``: uvicorn, aiohttp, the same TLS, no framework, no
auth, no audit), so the cost of the gateway's features shows apart from the
cost of the hop itself.

    .venv/bin/python bench/bench_protocols.py [--interval-ms 3000] [--concurrency 1 8 32] [--rounds 3]

perf_analyzer needs Debian's ``libb64-0d`` and a ``libcudart.so.12``; the pytriton
wheel's copy is linked into a temporary folder here. The load generator shares
the two cores with the servers, so only ratios measured in one run mean much.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token  # noqa: E402
from medinfer.stack import Stack  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
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


@contextlib.contextmanager
def relay_baseline(stack: Stack) -> Iterator[int]:
    """Run ``relay_baseline.py`` beside the stack, over TLS with its certificate; yields the relay's port."""
    port, tls = free_port(), stack.home / "tls"
    cmd = [sys.executable, "-m", "uvicorn", "relay_baseline:app", "--app-dir", str(ROOT / "bench"),
           "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
           "--no-access-log", "--log-level", "warning", "--no-server-header",
           "--ssl-certfile", str(tls / "server.pem"), "--ssl-keyfile", str(tls / "server-key.pem")]
    with stack.beside("relay-baseline", cmd, f"https://127.0.0.1:{port}/v2/health/ready"):
        yield port


def perf_targets(ports, home: Path, token: str, relay_port: int | None = None) -> dict[str, dict[str, tuple[str, list[str]]]]:
    """protocol -> direct / relay / gateway -> (perf_analyzer URL, its extra arguments: token and TLS)."""
    ca = str(home / "tls" / "ca.pem")
    https = ["--ssl-https-ca-certificates-file", ca, "--ssl-https-verify-peer", "1", "--ssl-https-verify-host", "0"]
    http = {
        "direct": (f"127.0.0.1:{ports.triton.http}", []),
        "gateway": (f"https://127.0.0.1:{ports.gateway}", ["-H", f"Authorization: Bearer {token}", *https]),
    }
    if relay_port is not None:
        http["relay"] = (f"https://127.0.0.1:{relay_port}", https)
    return {
        "http": http,
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


def _cell(rounds: list[dict[str, dict]], target: str) -> tuple[dict, float, float]:
    """Median figures of ``target`` and the medians of its per-round ratio and added p50 against direct (a
    round's measurements are adjacent in time, so their ratio is steadier than a ratio of medians)."""
    med = statistics.median
    runs = [r[target] for r in rounds]
    return ({k: med(x[k] for x in runs) for k in runs[0]},
            med(r[target]["rps"] / r["direct"]["rps"] for r in rounds),
            med(r[target]["p50_ms"] - r["direct"]["p50_ms"] for r in rounds))


def _fmt(name: str, res: dict, direct: dict | None = None) -> str:
    out = f"{name} {res['rps']:6.0f}/s p50 {res['p50_ms']:6.2f} p99 {res['p99_ms']:6.2f}"
    if direct is not None:
        out += f" ({res['rps'] / direct['rps']:.2f}, {res['p50_ms'] - direct['p50_ms']:+.2f} ms)"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--interval-ms", type=int, default=3000)
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--rounds", type=int, default=1,
                    help="measurements of each target per cell, in alternating order; the table shows the "
                         "medians (a ratio is the median of the per-round ratios)")
    ap.add_argument("--no-relay", action="store_true", help="skip the bare-relay baseline")
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
        with contextlib.ExitStack() as extras:
            relay = None if args.no_relay else extras.enter_context(relay_baseline(stack))
            data = input_file(home, tmp)
            token = mint_dev_token(ensure_dev_keys(home), "infer models:read", ttl_s=3600)
            targets = perf_targets(ports, home, token, relay)
            rows = []
            for mode in args.modes:
                protocol, extra = MODES[mode]
                order = [t for t in ("direct", "relay", "gateway") if t in targets[protocol]]
                for c in args.concurrency:
                    rounds = []
                    for i in range(args.rounds):
                        res = {}
                        for target in order if i % 2 == 0 else order[::-1]:
                            url, targs = targets[protocol][target]
                            res[target] = run(pa, env, url, protocol, extra + targs, c, args.interval_ms, data, tmp)
                        rounds.append(res)
                        line = " | ".join(_fmt(t, res[t], None if t == "direct" else res["direct"]) for t in order)
                        print(f"{mode:11s} c={c:<3d} {line}", flush=True)
                    rows.append((mode, c, {t: _cell(rounds, t) for t in order}))
        print(f"\nbreast_cancer, 1 record/request, perf_analyzer. gateway: auth + audit ON (SQLite sync "
              f"{args.audit_sqlite_sync}), TLS. relay: bare uvicorn + aiohttp hop, TLS, no auth, no audit "
              "(REST only). ratio = throughput / direct; +p50 = p50 added to direct")
        print(f"{'mode':11s} {'conc':>4} | {'direct/s':>8} {'p50':>6} | {'relay/s':>7} {'ratio':>5} {'+p50':>6} | "
              f"{'gateway/s':>9} {'p50':>6} {'p99':>6} {'ratio':>5} {'+p50':>6} | {'gw/relay':>8}")
        for mode, c, cells in rows:
            d = cells["direct"][0]
            g, g_ratio, g_added = cells["gateway"]
            if "relay" in cells:
                r, r_ratio, r_added = cells["relay"]
                relay_cols = f"{r['rps']:>7.0f} {r_ratio:>5.2f} {r_added:>+6.2f}"
                vs_relay = f"{g_ratio / r_ratio:>8.2f}"
            else:
                relay_cols, vs_relay = f"{'-':>7} {'-':>5} {'-':>6}", f"{'-':>8}"
            print(f"{mode:11s} {c:>4} | {d['rps']:>8.0f} {d['p50_ms']:>6.2f} | {relay_cols} | {g['rps']:>9.0f} "
                  f"{g['p50_ms']:>6.2f} {g['p99_ms']:>6.2f} {g_ratio:>5.2f} {g_added:>+6.2f} | {vs_relay}")
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
