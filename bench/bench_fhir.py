"""What the FHIR route costs on top of ``POST /infer`` (breast_cancer, one record).

1. In process: parse + validate a 30-Observation Bundle (fhir.resources R4B), map it to
   features with unit conversion (pint), build and validate the answer Bundle.
2. Through a stack started on free ports (``--no-stack`` skips it): sequential requests,
   the same record as ``/infer`` JSON and as a FHIR Bundle, p50/p99 latency of each.

    .venv/bin/python bench/bench_fhir.py [--n 200] [--no-stack]

Only ratios measured in one run mean anything on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import runpy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medinfer.common.v2 import V2Tensor
from medinfer.fhir import FeatureMap, parse_request, result_bundle

EX = runpy.run_path(str(ROOT / "examples" / "fhir" / "build_examples.py"))
TRAIN = runpy.run_path(str(ROOT / "models" / "breast_cancer" / "train.py"))


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q))


def in_process(n: int) -> None:
    doc = EX["breast_cancer_example"]()
    meta = {"features": [{"name": k} for k in TRAIN["feature_names"]()], "fhir": {"loinc": TRAIN["fhir_codes"]()},
            "task": "binary-classification", "outputs": [{"name": "probability", "meaning": "P(malignant)"}]}
    fmap = FeatureMap.from_metadata(meta)
    out = [V2Tensor("probability", "FP32", [1, 1], np.array([[0.3]], np.float32))]
    times = {"parse+validate": [], "map+units": [], "answer+validate": []}
    for _ in range(n):
        t0 = time.perf_counter()
        p = parse_request(doc)
        t1 = time.perf_counter()
        _, used = fmap.record(p.observations)
        t2 = time.perf_counter()
        result_bundle(model="breast_cancer", version=1, tag="current", request_id="r", metadata=meta,
                      subject=p.subject, sources=[p.sources[i] for i in used], outputs=out, risk=True)
        t3 = time.perf_counter()
        for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            times[key].append(dt)
    print(f"in-process, 30-Observation Bundle, n={n}")
    for k, v in times.items():
        print(f"  {k:16s} p50 {_pct(v, 50):7.2f} ms   p99 {_pct(v, 99):7.2f} ms")


def through_stack(n: int) -> None:
    import requests

    from medinfer.stack import Stack
    from tests.support.stack import dev_auth_header, new_stack_ports

    with tempfile.TemporaryDirectory(prefix="bench-fhir-") as tmp:
        s = Stack(Path(tmp), new_stack_ports())
        try:
            s.start()
            sess = requests.Session()
            sess.trust_env = False
            sess.verify = str(s.home / "tls" / "ca.pem")
            sess.headers.update(dev_auth_header(s.home))
            record = dict(zip(TRAIN["feature_names"](), TRAIN["load_split"]()[1][0].tolist()))
            plain = json.dumps({"model": "breast_cancer", "input": record})
            fhir = json.dumps(EX["breast_cancer_example"]())
            cases = {"/infer": (s.gateway_url + "/infer", plain, "application/json"),
                     "/fhir/r4/$infer": (s.gateway_url + "/fhir/r4/$infer?model=breast_cancer", fhir,
                                         "application/fhir+json")}
            lat: dict[str, list[float]] = {k: [] for k in cases}
            for i in range(n + 20):  # interleaved, first 20 discarded as warm-up
                for k, (url, body, ct) in cases.items():
                    t0 = time.perf_counter()
                    r = sess.post(url, data=body, headers={"content-type": ct}, timeout=30)
                    dt = time.perf_counter() - t0
                    assert r.status_code == 200, r.text
                    if i >= 20:
                        lat[k].append(dt)
            print(f"through the gateway (HTTPS, sequential, n={n} each, interleaved)")
            for k, v in lat.items():
                print(f"  {k:16s} p50 {_pct(v, 50):7.2f} ms   p99 {_pct(v, 99):7.2f} ms")
            print(f"  FHIR adds {(statistics.median(lat['/fhir/r4/$infer']) - statistics.median(lat['/infer'])) * 1000:.2f}"
                  " ms at p50")
        finally:
            s.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--no-stack", action="store_true")
    a = ap.parse_args()
    in_process(a.n)
    if not a.no_stack:
        through_stack(a.n)
