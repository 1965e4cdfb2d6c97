"""The throughput cost of authentication and the audit ledger in the gateway, as ratios.

Starts the local stack (tritonserver, preprocessor, gateway: the same ``Stack`` as
``medinfer up``) in a temporary MEDINFER_HOME, then two more gateway processes on
the same backends: one with auth on and audit off, one with both off. Drives
each with ``wrk`` (one thread; the load tool shares the two cores, so only the
ratios measured in one run mean anything).

    .venv/bin/python bench/bench_security.py [--duration 8] [--concurrency 1 32]

Prints req/s and p50/p99 per variant and concurrency, and each variant's
throughput relative to the gateway with both off.
"""

from __future__ import annotations

import argparse
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_infer import payloads, run_wrk  # noqa: E402
from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token  # noqa: E402
from medinfer.stack import Stack  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.stack import new_stack_ports  # noqa: E402


UNLIMITED = {"MEDINFER_GATEWAY_RATE_LIMIT_RPS": "1e9", "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "1000000000"}


@contextmanager
def gateway(env: dict[str, str], log: Path, ca: str):
    """A gateway of its own on a free port, started with ``env``."""
    port = free_port()
    with open(log, "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "medinfer.gateway"], stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, "MEDINFER_ENVIRONMENT": "development", **env,
                                     "MEDINFER_GATEWAY_PORT": str(port), "MEDINFER_GATEWAY_METRICS_PORT": str(free_port())})
    url = f"https://127.0.0.1:{port}"
    ctx = ssl.create_default_context(cafile=ca)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2, context=ctx):
                    break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(log.read_text()[-2000:]) from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--audit-sqlite-sync", choices=["full", "normal"], default="full")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    home = Path(tempfile.mkdtemp(prefix="medinfer-bench-sec-"))
    ports = new_stack_ports()
    env = {**UNLIMITED, "MEDINFER_GATEWAY_AUDIT_SQLITE_SYNC": args.audit_sqlite_sync}
    stack = Stack(home, ports, insecure_http=False, extra_env=env)
    stack.start()
    try:
        _, body = payloads(home)
        token = {"Authorization": "Bearer " + mint_dev_token(ensure_dev_keys(home), "infer", ttl_s=3600)}
        base = {"MEDINFER_HOME": str(home), "MEDINFER_GATEWAY_PREPROCESSOR_URL": stack.preprocessor_url,
                "MEDINFER_GATEWAY_TRITON_URL": stack.triton_url, "MEDINFER_GATEWAY_GRPC_PORT": "0",
                "MEDINFER_GATEWAY_AUDIT_URL": f"sqlite:///{home / 'bench-audit.db'}", **env}
        ca = str(home / "tls" / "ca.pem")
        with gateway(base, home / "gw-on.log", ca) as on, \
             gateway({**base, "MEDINFER_GATEWAY_AUDIT_ENABLED": "false"}, home / "gw-auth-only.log", ca) as auth_only, \
             gateway({**base, "MEDINFER_GATEWAY_AUDIT_ENABLED": "false", "MEDINFER_GATEWAY_AUTH_ENABLED": "false"},
                     home / "gw-off.log", ca) as off:
            # Three gateways launched the same way, differing only in the two switches.
            variants = [("auth+audit off", off, {}), ("auth only", auth_only, token), ("auth+audit on", on, token)]
            for _, url, hdr in variants:
                run_wrk(url + "/infer", body, 4, args.warmup, hdr)
            print(f"\ngateway /infer breast_cancer, TLS, wrk -t1, {args.duration:.0f}s per cell, "
                  f"audit SQLite synchronous={args.audit_sqlite_sync}")
            print(f"{'conc':>4} | {'variant':>15} | {'rps':>7} {'p50 ms':>7} {'p99 ms':>7} | {'vs off':>6} | non-2xx")
            for c in args.concurrency:
                results = [(name, run_wrk(url + "/infer", body, c, args.duration, hdr)) for name, url, hdr in variants]
                ref = results[0][1]
                for name, r in results:
                    print(f"{c:>4} | {name:>15} | {r['rps']:>7.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} | "
                          f"{r['rps'] / ref['rps']:>6.2f} | {r['non_2xx']}")
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
