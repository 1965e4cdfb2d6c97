"""Single-record inference: direct to Triton (KServe v2 REST) vs through the gateway.

Starts the local stack (the same ``Stack`` as ``medinfer up``) on free ports in
a temporary MEDINFER_HOME, unless ``--gateway``/``--triton`` point at a running
one, then drives both with ``wrk`` (C, one thread: the load tool shares the two
cores with the servers, so only ratios measured in the same run are meaningful).

    .venv/bin/python bench/bench_infer.py [--duration 8] [--concurrency 1 8 32] [--drift-compare]

Prints throughput (req/s), p50 and p99 latency per target and concurrency, the
gateway/direct throughput ratio and the latency the gateway adds at p50.
``--drift-compare`` also starts two more gateway processes against the same
Triton, identical but for ``MEDINFER_GATEWAY_DRIFT_ENABLED`` (true/false), and
measures both, interleaved, in the same run, with each gateway's CPU time per
request (``--skip-direct`` skips the first table).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token  # noqa: E402
from medinfer.stack import Stack  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.stack import new_stack_ports  # noqa: E402

LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{extra}
"""


def _lua(body: bytes, headers: dict[str, str]) -> str:
    extra = "\n".join(f'wrk.headers["{k}"] = {json.dumps(v)}' for k, v in headers.items())
    return LUA.format(body=json.dumps(body.decode()), extra=extra)


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v


def run_wrk(url: str, body: bytes, concurrency: int, duration: float, headers: dict[str, str] | None = None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(_lua(body, headers or {}))
        script = fh.name
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "10s", "-s", script, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "requests": int(total.group(1)) if total else 0, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else ""}


def payloads(home: Path) -> tuple[bytes, bytes]:
    example = json.loads((ROOT / "examples" / "infer_breast_cancer.json").read_text())
    meta = json.loads((home / "models" / "breast_cancer" / "1" / "medinfer.json").read_text())
    values = [example["input"][f["name"]] for f in meta["features"]]
    direct = json.dumps({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 30], "data": values}]})
    gateway = json.dumps({"model": "breast_cancer", "input": example["input"]})
    return direct.encode(), gateway.encode()


def start_gateway(stack: Stack, port: int, extra_env: dict[str, str]) -> subprocess.Popen:
    """A second gateway process against the stack's Triton and preprocessor (same home, same TLS)."""
    env = {**stack.env(), "MEDINFER_GATEWAY_PORT": str(port), "MEDINFER_GATEWAY_METRICS_PORT": str(free_port()),
           **extra_env}
    log = open(stack.home / "logs" / f"gateway-{port}.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen([sys.executable, "-m", "medinfer.gateway"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    ctx = ssl.create_default_context(cafile=str(stack.home / "tls" / "ca.pem"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", timeout=2, context=ctx) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("second gateway did not become ready")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): robust to other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


DRIFT_VARIANTS = {
    "on": {"MEDINFER_GATEWAY_DRIFT_ENABLED": "true"},
    "off": {"MEDINFER_GATEWAY_DRIFT_ENABLED": "false"},
}


def drift_compare(stack: Stack, body: bytes, args: argparse.Namespace, auth: dict[str, str]) -> None:
    """Throughput with drift tracking on vs off: two extra gateway processes identical but for that flag,
    measured interleaved (alternating order per round) against the same Triton."""
    procs, urls, pids = [], {}, {}
    try:
        for name, env in DRIFT_VARIANTS.items():
            port = free_port()
            procs.append(start_gateway(stack, port, {**env, "MEDINFER_GATEWAY_GRPC_PORT": "0"}))
            urls[name] = f"https://127.0.0.1:{port}/infer"
            pids[name] = procs[-1].pid
        for url in urls.values():
            run_wrk(url, body, 4, args.warmup, auth)
        print(f"\nDrift tracking + OOD gate on vs off, same run, {args.rounds} interleaved rounds of "
              f"{args.duration:.0f}s per cell")
        print(f"{'conc':>4} | {'on rps':>8} {'p50 ms':>7} {'p99 ms':>7} | {'off rps':>8} {'p50 ms':>7} {'p99 ms':>7} "
              f"| {'on/off':>6} {'cost':>6} | errors")
        for c in args.concurrency:
            res: dict[str, list[dict]] = {n: [] for n in urls}
            for i in range(args.rounds):
                order = list(urls) if i % 2 == 0 else list(reversed(list(urls)))
                for name in order:
                    cpu0 = cpu_seconds(pids[name])
                    r = run_wrk(urls[name], body, c, args.duration, auth)
                    r["cpu_s"] = cpu_seconds(pids[name]) - cpu0
                    res[name].append(r)
            mean = lambda rs, k: sum(r[k] for r in rs) / len(rs)  # noqa: E731
            on, off = res["on"], res["off"]
            ratio = mean(on, "rps") / mean(off, "rps")
            errs = sum(r["non_2xx"] for r in on + off)
            print(f"{c:>4} | {mean(on, 'rps'):>8.0f} {mean(on, 'p50_ms'):>7.2f} {mean(on, 'p99_ms'):>7.2f} | "
                  f"{mean(off, 'rps'):>8.0f} {mean(off, 'p50_ms'):>7.2f} {mean(off, 'p99_ms'):>7.2f} | "
                  f"{ratio:>6.3f} {1 - ratio:>6.1%} | {errs}")
            cpu = {n: sum(r["cpu_s"] for r in rs) / max(1, sum(r["requests"] for r in rs)) for n, rs in res.items()}
            print(f"       gateway CPU per request: on {cpu['on'] * 1e6:.0f} us, off {cpu['off'] * 1e6:.0f} us "
                  f"-> drift costs {cpu['on'] / cpu['off'] - 1:+.1%} CPU per request "
                  f"(= throughput cost when the gateway is CPU-bound)")
            paired = sorted(a["rps"] / b["rps"] for a, b in zip(on, off))
            print(f"       per-round on/off ratios: median {paired[len(paired) // 2]:.3f}, "
                  f"range {paired[0]:.3f}-{paired[-1]:.3f}")
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--drift-compare", action="store_true",
                    help="also measure the gateway with drift tracking on vs off (two more gateway processes)")
    ap.add_argument("--skip-direct", action="store_true", help="only the --drift-compare table")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved on/off rounds per concurrency (--drift-compare)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    home = Path(tempfile.mkdtemp(prefix="medinfer-bench-"))
    ports = new_stack_ports()
    # One wrk client is one principal: lift its rate limit so the bench measures the path, not the limiter.
    stack = Stack(home, ports, insecure_http=False,
                  extra_env={"MEDINFER_GATEWAY_RATE_LIMIT_RPS": "1e9", "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "1000000000"})
    stack.start()
    try:
        direct_body, gateway_body = payloads(home)
        direct_url = f"{stack.triton_url}/v2/models/breast_cancer/infer"
        gateway_url = f"{stack.gateway_url}/infer"
        auth = {"Authorization": "Bearer " + mint_dev_token(ensure_dev_keys(home), "infer", ttl_s=3600)}
        rows = []
        if not args.skip_direct:
            run_wrk(direct_url, direct_body, 4, args.warmup)
            run_wrk(gateway_url, gateway_body, 4, args.warmup, auth)
        for c in [] if args.skip_direct else args.concurrency:
            d = run_wrk(direct_url, direct_body, c, args.duration)
            g = run_wrk(gateway_url, gateway_body, c, args.duration, auth)
            rows.append((c, d, g))
        if rows:
            print(f"\nbreast_cancer, single record, REST JSON, wrk -t1, {args.duration:.0f}s per cell, TLS on the gateway")
            print(f"{'conc':>4} | {'direct rps':>10} {'p50 ms':>7} {'p99 ms':>7} | {'gateway rps':>11} {'p50 ms':>7} "
                  f"{'p99 ms':>7} | {'ratio':>5} {'added p50 ms':>12} | errors")
        for c, d, g in rows:
            errs = d["non_2xx"] + g["non_2xx"]
            print(f"{c:>4} | {d['rps']:>10.0f} {d['p50_ms']:>7.2f} {d['p99_ms']:>7.2f} | {g['rps']:>11.0f} "
                  f"{g['p50_ms']:>7.2f} {g['p99_ms']:>7.2f} | {g['rps'] / d['rps']:>5.2f} "
                  f"{g['p50_ms'] - d['p50_ms']:>12.2f} | {errs}")
        if args.drift_compare:
            drift_compare(stack, gateway_body, args, auth)
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
