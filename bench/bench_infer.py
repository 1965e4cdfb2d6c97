"""Single-record inference: direct to Triton (KServe v2 REST) vs through the gateway.

Starts the local stack (the same ``Stack`` as ``medinfer up``) on free ports in
a temporary MEDINFER_HOME, unless ``--gateway``/``--triton`` point at a running
one, then drives both with ``wrk`` (C, one thread: the load tool shares the two
cores with the servers, so only ratios measured in the same run are meaningful).

    .venv/bin/python bench/bench_infer.py [--duration 8] [--concurrency 1 8 32]

Prints throughput (req/s), p50 and p99 latency per target and concurrency, the
gateway/direct throughput ratio and the latency the gateway adds at p50.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token  # noqa: E402
from medinfer.stack import Stack, StackPorts  # noqa: E402
from medinfer.triton.server import TritonPorts  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

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
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else ""}


def payloads(home: Path) -> tuple[bytes, bytes]:
    example = json.loads((ROOT / "examples" / "infer_breast_cancer.json").read_text())
    meta = json.loads((home / "models" / "breast_cancer" / "1" / "medinfer.json").read_text())
    values = [example["input"][f["name"]] for f in meta["features"]]
    direct = json.dumps({"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 30], "data": values}]})
    gateway = json.dumps({"model": "breast_cancer", "input": example["input"]})
    return direct.encode(), gateway.encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--warmup", type=float, default=2.0)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    home = Path(tempfile.mkdtemp(prefix="medinfer-bench-"))
    ports = StackPorts(free_port(), free_port(), TritonPorts(free_port(), free_port(), free_port()), free_port())
    # One wrk client is one principal: lift its rate limit so the bench measures the path, not the limiter.
    stack = Stack(home, ports, insecure_http=False,
                  extra_env={"MEDINFER_GATEWAY_RATE_LIMIT_RPS": "1e9", "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "1000000000"})
    stack.start()
    try:
        direct_body, gateway_body = payloads(home)
        direct_url = f"{stack.triton_url}/v2/models/breast_cancer/infer"
        gateway_url = f"{stack.gateway_url}/infer"
        auth = {"Authorization": "Bearer " + mint_dev_token(ensure_dev_keys(home), "infer", ttl_s=3600)}
        run_wrk(direct_url, direct_body, 4, args.warmup)
        run_wrk(gateway_url, gateway_body, 4, args.warmup, auth)
        rows = []
        for c in args.concurrency:
            d = run_wrk(direct_url, direct_body, c, args.duration)
            g = run_wrk(gateway_url, gateway_body, c, args.duration, auth)
            rows.append((c, d, g))
        print(f"\nbreast_cancer, single record, REST JSON, wrk -t1, {args.duration:.0f}s per cell, TLS on the gateway")
        print(f"{'conc':>4} | {'direct rps':>10} {'p50 ms':>7} {'p99 ms':>7} | {'gateway rps':>11} {'p50 ms':>7} "
              f"{'p99 ms':>7} | {'ratio':>5} {'added p50 ms':>12} | errors")
        for c, d, g in rows:
            errs = d["non_2xx"] + g["non_2xx"]
            print(f"{c:>4} | {d['rps']:>10.0f} {d['p50_ms']:>7.2f} {d['p99_ms']:>7.2f} | {g['rps']:>11.0f} "
                  f"{g['p50_ms']:>7.2f} {g['p99_ms']:>7.2f} | {g['rps'] / d['rps']:>5.2f} "
                  f"{g['p50_ms'] - d['p50_ms']:>12.2f} | {errs}")
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
