"""Cost of burned-in text detection, per image, OCR on vs off, measured in one run.

Cases (in-process, one thread, the code the routes call):

- ``ct_512``: a 512 x 512 int16 CT slice (rescale + window), no BurnedInAnnotation:
  today's preprocessor (no burned-in policy) vs the default policy (``auto``: no OCR)
  vs a forced ``mask`` (OCR on). The first ratio is the CT/MR latency budget (<= 1.20).
- ``us_1024x768``: a 1024 x 768 ultrasound-like frame with a burned-in overlay:
  policy ``off`` vs ``mask`` on the image route, and ``/v1/dicom/deidentify``'s path
  (header only vs header + OCR + mask + uncompressed re-encode).

    .venv/bin/python bench/bench_burned_in.py [--n 20]

Two shared cores: compare numbers from one run only. OCR runs the ``tesseract`` binary
(one process per frame) with OMP_THREAD_LIMIT=1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from medinfer.preprocess.app import build_deid_engine  # noqa: E402
from medinfer.preprocess.imaging import ImagePreprocessor, ImageTarget  # noqa: E402
from medinfer.preprocess.imaging.service import ImagingService  # noqa: E402
from medinfer.preprocess.settings import PreprocessSettings  # noqa: E402
from tests.support.burned_in import burn, text_mask, us_frame, us_text  # noqa: E402
from tests.support.dicom_factory import ct_slice, make_dicom  # noqa: E402

TARGET = ImageTarget("image", "FP32", (1, 64, 64))


def _time(fn, n: int) -> dict:
    fn()  # warm-up
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t0)
    lat_ms = sorted(x * 1000 for x in lat)
    return {"n": n, "median_ms": round(statistics.median(lat_ms), 2),
            "p95_ms": round(lat_ms[min(n - 1, int(0.95 * n))], 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20, help="timed calls per case (OCR cases use n // 4, at least 3)")
    args = ap.parse_args()
    import tempfile
    home = Path(tempfile.mkdtemp(prefix="bench-burned-in-"))
    settings = PreprocessSettings(home=home, dicom_deid_secret="bench-burned-in-secret-0123456789",
                                  image_burned_in_allow_off=True)
    engine = build_deid_engine(settings)
    svc = ImagingService.from_settings(settings, text_engine=lambda: engine)
    today = ImagePreprocessor(svc.preprocessor.limits)  # no burned-in policy: the code before issue 21
    ct = make_dicom(ct_slice(512), slope=1.0, intercept=-1024.0, window=(40.0, 400.0))
    frame = us_frame(768, 1024)
    phi, plain = us_text(768, 1024, size=16)
    cov, _ = text_mask(frame.shape, phi + plain)
    us = make_dicom(burn(frame, cov, 255), modality="US")
    n_ocr = max(3, args.n // 4)
    pre = svc.preprocessor
    rows = {
        "ct_512 today (no policy)": _time(lambda: today.preprocess(ct, TARGET), args.n),
        "ct_512 policy auto (no OCR)": _time(lambda: pre.preprocess(ct, TARGET), args.n),
        "ct_512 policy mask (OCR)": _time(lambda: pre.preprocess(ct, TARGET, burned_in="mask"), n_ocr),
        "us_1024x768 route, policy off": _time(lambda: pre.preprocess(us, TARGET, burned_in="off"), args.n),
        "us_1024x768 route, policy mask (OCR)": _time(lambda: pre.preprocess(us, TARGET), n_ocr),
        "us_1024x768 deidentify, policy off": _time(lambda: svc.deidentify_dicom(us, "off"), args.n),
        "us_1024x768 deidentify, policy mask (OCR)": _time(lambda: svc.deidentify_dicom(us), n_ocr),
    }
    for name, row in rows.items():
        print(f"{name:45s} median {row['median_ms']:9.2f} ms   p95 {row['p95_ms']:9.2f} ms   (n={row['n']})")
    med = {k: v["median_ms"] for k, v in rows.items()}
    ratios = {
        "ct_auto_vs_today": round(med["ct_512 policy auto (no OCR)"] / med["ct_512 today (no policy)"], 3),
        "ct_ocr_vs_today": round(med["ct_512 policy mask (OCR)"] / med["ct_512 today (no policy)"], 2),
        "us_route_ocr_vs_off": round(med["us_1024x768 route, policy mask (OCR)"]
                                     / med["us_1024x768 route, policy off"], 2),
        "us_deid_ocr_vs_off": round(med["us_1024x768 deidentify, policy mask (OCR)"]
                                    / med["us_1024x768 deidentify, policy off"], 2),
    }
    print(json.dumps({"ratios": ratios, "ct_budget_ok": ratios["ct_auto_vs_today"] <= 1.20}))


if __name__ == "__main__":
    main()
