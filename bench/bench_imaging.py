"""Imaging preprocessing throughput and latency.

Part 1, preprocessing alone (in-process, one thread): DICOM bytes -> model tensor
(decode, modality LUT, window, resize, normalize) for a generated 512x512 CT slice
(int16, rescale + window; uncompressed and RLE) and a 2048x2048 radiograph (uint16,
MONOCHROME1), plus de-identification of the CT slice.

Part 2, the route end to end over HTTP: ``bench_route(url, ...)`` posts the same
files as base64 JSON (or raw ``application/dicom`` with ``raw=True``) to any URL that takes ``{"input": ...}`` (the preprocessor's
``/v1/image/preprocess``, or the gateway's CV route when it exists) and reports the
same numbers. ``--serve`` starts a preprocessor process on a free port for it;
``--url`` points at a running one.

    .venv/bin/python bench/bench_imaging.py [--n 200] [--serve | --url URL] [--concurrency 1 4]

The machine has two cores shared with other work: compare numbers from one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medinfer.preprocess.dicom_deid import DicomDeidentifier, KeyedMapper  # noqa: E402
from medinfer.preprocess.imaging import ImagePreprocessor, ImageTarget  # noqa: E402
from tests.support.dicom_factory import ct_slice, make_dicom, radiograph  # noqa: E402

TARGET = ImageTarget("image", "FP32", (1, 64, 64))


def cases() -> dict[str, bytes]:
    import io

    import pydicom
    from pydicom.uid import RLELossless

    ct = make_dicom(ct_slice(512), slope=1.0, intercept=-1024.0, window=(40.0, 400.0))
    ds = pydicom.dcmread(io.BytesIO(ct))
    ds.compress(RLELossless)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    xr = make_dicom(radiograph(2048), photometric="MONOCHROME1", modality="CR", window=(2000.0, 3000.0))
    return {"ct_512_uncompressed": ct, "ct_512_rle": buf.getvalue(), "radiograph_2048": xr}


def _summary(name: str, lat: list[float], wall: float) -> dict:
    lat_ms = sorted(x * 1000 for x in lat)
    return {
        "case": name, "n": len(lat), "images_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(statistics.median(lat_ms), 2),
        "p99_ms": round(lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))], 2),
    }


def bench_function(name: str, fn, n: int, warmup: int = 3) -> dict:
    for _ in range(warmup):
        fn()
    lat = []
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t0)
    return _summary(name, lat, time.perf_counter() - start)


def bench_preprocessing(n: int) -> list[dict]:
    pre = ImagePreprocessor()
    deid = DicomDeidentifier(KeyedMapper("bench-secret-0123456789abcdef"))
    out = []
    for name, data in cases().items():
        count = n if "2048" not in name else max(10, n // 5)
        out.append(bench_function(f"preprocess/{name}", lambda d=data: pre.preprocess(d, TARGET), count))
    ct = cases()["ct_512_uncompressed"]
    out.append(bench_function("deidentify/ct_512_uncompressed", lambda: deid.deidentify_bytes(ct), n))
    return out


async def _route(url: str, payload: bytes, n: int, concurrency: int, headers: dict[str, str], ssl) -> tuple:
    import aiohttp

    lat: list[float] = []
    statuses: dict[int, int] = {}
    queue = list(range(n))

    async def worker(session):
        while queue:
            queue.pop()
            t0 = time.perf_counter()
            async with session.post(url, data=payload, headers=headers, ssl=ssl) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            lat.append(time.perf_counter() - t0)

    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return lat, wall, statuses


def bench_route(url: str, data: bytes, *, name: str = "route", n: int = 100, concurrency: int = 1,
                headers: dict[str, str] | None = None, ssl=None, extra: dict | None = None,
                raw: bool = False) -> dict:
    """POST ``{"input": base64(data), **extra}`` (or, ``raw``, the file itself as
    ``application/dicom``) to ``url`` ``n`` times; images/s, p50, p99."""
    if raw:
        payload, ctype = data, "application/dicom"
    else:
        payload = json.dumps({"input": base64.b64encode(data).decode(), **(extra or {})}).encode()
        ctype = "application/json"
    hdrs = {"Content-Type": ctype, **(headers or {})}
    asyncio.run(_route(url, payload, min(3, n), 1, hdrs, ssl))  # warm-up
    lat, wall, statuses = asyncio.run(_route(url, payload, n, concurrency, hdrs, ssl))
    return {**_summary(f"{name}/c{concurrency}", lat, wall), "statuses": statuses}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--url", help="benchmark this running route too")
    ap.add_argument("--serve", action="store_true", help="start a preprocessor and benchmark its route")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--gateway", action="store_true",
                    help="start the whole stack and benchmark the CV route end to end (gateway /infer -> "
                         "preprocessor -> Triton image_quality, auth and audit on)")
    args = ap.parse_args()
    rows = bench_preprocessing(args.n)
    if args.gateway:
        rows += bench_gateway(args.n, args.concurrency)
    if args.serve or args.url:
        with tempfile.TemporaryDirectory() as home:
            ctx = _served(Path(home)) if args.serve else _nullctx(args.url)
            with ctx as url:
                for name, data in cases().items():
                    count = args.n if "2048" not in name else max(10, args.n // 5)
                    for c in args.concurrency:
                        rows.append(bench_route(url, data, name=f"http-json/{name}", n=count, concurrency=c))
                    rows.append(bench_route(url, data, name=f"http-raw/{name}", n=count, concurrency=1, raw=True))
    for r in rows:
        print(json.dumps(r))


def bench_gateway(n: int, concurrencies: list[int]) -> list[dict]:
    """The CV route end to end through the real stack (TLS, token, audit)."""
    import shutil
    import ssl

    from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token
    from medinfer.stack import Stack
    from tests.support.stack import new_stack_ports

    home = Path(tempfile.mkdtemp(prefix="medinfer-bench-img-"))
    ports = new_stack_ports()
    stack = Stack(home, ports, extra_env={"MEDINFER_GATEWAY_RATE_LIMIT_RPS": "1e9",
                                          "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "1000000000"})
    stack.start()
    rows = []
    try:
        token = mint_dev_token(ensure_dev_keys(home), "infer", ttl_s=3600)
        ctx = ssl.create_default_context(cafile=str(home / "tls" / "ca.pem"))
        url = stack.gateway_url + "/infer"
        for name, data in cases().items():
            count = n if "2048" not in name else max(10, n // 5)
            for c in concurrencies:
                rows.append(bench_route(url, data, name=f"gateway-json/{name}", n=count, concurrency=c,
                                        headers={"Authorization": f"Bearer {token}"}, ssl=ctx,
                                        extra={"model": "image_quality"}))
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    return rows


class _nullctx:
    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc) -> None:
        return None


def _served(home: Path):
    from contextlib import contextmanager

    from tests.support.services import run_service

    @contextmanager
    def ctx():
        env = {"MEDINFER_HOME": str(home), "MEDINFER_PREPROCESS_DICOM_DEID_SECRET": "bench-secret-0123456789abcdef",
               "MEDINFER_PREPROCESS_LOG_LEVEL": "WARNING"}
        with run_service("medinfer.preprocess", "MEDINFER_PREPROCESS_", env, home / "preprocess.log") as svc:
            yield svc.url + "/v1/image/preprocess"

    return ctx()


if __name__ == "__main__":
    main()
