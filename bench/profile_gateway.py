"""Where the gateway's CPU goes: perf_analyzer load through the gateway while py-spy samples it.

Starts the local stack (auth and audit on, TLS, as ``bench_protocols.py``),
drives ``breast_cancer`` through the gateway with ``perf_analyzer`` at one
concurrency and protocol, samples the gateway process with ``py-spy`` and
prints: throughput, the gateway's CPU per request (from /proc, so it holds
without py-spy too), Triton's and perf_analyzer's CPU, and the functions that
take the most samples (self and inclusive).

    .venv/bin/python bench/profile_gateway.py [--mode rest-json|rest-binary|grpc] [--concurrency 32]
        [--audit-sqlite-sync normal] [--no-auth --no-audit] [--env KEY=VALUE] [--top 30] [--raw out.txt]

``--no-spy`` measures CPU per request without the sampler's own overhead.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_protocols import MODES, bench_stack, input_file, perf_analyzer_env, perf_targets, run  # noqa: E402

from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token  # noqa: E402
from tests.support.stack import new_stack_ports  # noqa: E402

_SITE = re.compile(r".*/site-packages/|" + re.escape(str(ROOT)) + "/")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def triton_inferences(port: int) -> int:
    """Triton's own count of successful breast_cancer inferences (every request passes through it once)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/breast_cancer/stats", timeout=10) as r:
        stats = json.load(r)["model_stats"]
    return sum(int(m["inference_stats"]["success"]["count"]) for m in stats)


def summarize(raw: Path, top: int) -> None:
    """py-spy's raw format: one ``frame;frame;...;leaf count`` line per distinct stack."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, n = line.rsplit(" ", 1)
        frames = [_SITE.sub("", re.sub(r":\d+\)", ")", f)) for f in stack.split(";")]
        total += int(n)
        own[frames[-1]] += int(n)
        for f in set(frames):
            incl[f] += int(n)
    print(f"\n{total} samples; self time:")
    for f, n in own.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {f}")
    print("inclusive:")
    for f, n in incl.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=list(MODES), default="rest-json")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--interval-ms", type=int, default=4000)
    ap.add_argument("--audit-sqlite-sync", choices=["full", "normal"], default="normal")
    ap.add_argument("--no-auth", action="store_true")
    ap.add_argument("--no-audit", action="store_true")
    ap.add_argument("--no-spy", action="store_true")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra gateway setting, e.g. MEDINFER_GATEWAY_DRIFT_ENABLED=false")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--raw", type=Path, help="keep py-spy's raw samples here")
    args = ap.parse_args()
    bin_dir = Path(sys.executable).parent
    pa, spy = shutil.which("perf_analyzer", path=str(bin_dir)), shutil.which("py-spy", path=str(bin_dir))
    if pa is None or (spy is None and not args.no_spy):
        sys.exit("needs perf_analyzer (tritonclient) and py-spy in the venv")
    home, tmp = Path(tempfile.mkdtemp(prefix="medinfer-prof-")), Path(tempfile.mkdtemp(prefix="medinfer-pa-"))
    ports = new_stack_ports()
    stack = bench_stack(home, ports, args.audit_sqlite_sync, {
        "MEDINFER_GATEWAY_AUTH_ENABLED": str(not args.no_auth).lower(),
        "MEDINFER_GATEWAY_AUDIT_ENABLED": str(not args.no_audit).lower(),
        **dict(kv.split("=", 1) for kv in args.env)})
    stack.start()
    try:
        data = input_file(home, tmp)
        token = mint_dev_token(ensure_dev_keys(home), "infer models:read", ttl_s=3600)
        protocol, extra = MODES[args.mode]
        url, targs = perf_targets(ports, home, token)[protocol]["gateway"]
        gateway_pid = stack.children[-1].process.pid
        assert stack.triton is not None and stack.triton.process is not None
        triton_pid = stack.triton.process.pid
        raw = args.raw or tmp / "spy.txt"
        sampler = None
        if not args.no_spy:
            sampler = subprocess.Popen([spy, "record", "-p", str(gateway_pid), "-d", str(args.interval_ms * 3 // 1000),
                                        "-r", "200", "--format", "raw", "-o", str(raw), "--nonblocking"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        n0 = triton_inferences(ports.triton.http)
        g0, t0, c0, w0 = cpu_seconds(gateway_pid), cpu_seconds(triton_pid), os.times(), time.monotonic()
        res = run(pa, perf_analyzer_env(), url, protocol, extra + targs, args.concurrency, args.interval_ms, data, tmp)
        wall = time.monotonic() - w0
        g1, t1, c1 = cpu_seconds(gateway_pid), cpu_seconds(triton_pid), os.times()
        served = triton_inferences(ports.triton.http) - n0
        pa_cpu = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
        print(f"{args.mode} c={args.concurrency}: {res['rps']:.0f}/s p50 {res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms")
        print(f"CPU over {wall:.1f} s: gateway {(g1 - g0) / wall:.2f} cores, tritonserver {(t1 - t0) / wall:.2f}, "
              f"perf_analyzer {pa_cpu / wall:.2f}")
        print(f"gateway CPU per request: {(g1 - g0) / max(1, served) * 1e6:.0f} us over {served} requests "
              "(Triton's inference count)")
        if sampler is not None:
            sampler.wait(timeout=120)
            if raw.exists():
                summarize(raw, args.top)
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
