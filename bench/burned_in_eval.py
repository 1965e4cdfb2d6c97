"""Burned-in text evaluation: box recall after masking and the share of clean images altered.

    .venv/bin/python bench/burned_in_eval.py [--write-sums] [--keep DIR]

1. ``bench/burned_in_set.py`` generates the set into a temporary folder; every file's
   SHA-256 is checked against ``bench/data/burned_in/SHA256SUMS`` (drift fails the run;
   ``--write-sums`` rewrites the file after an intended change).
2. Positives go through the code the routes call: DICOM through ``deidentify_dicom``
   (the policy forced to ``mask``, so the detector is measured on CT/MR too; the
   default-policy recall is also printed: CT/MR without BurnedInAnnotation YES are not
   read), PNG/JPEG through the image route's decode.
3. A gold box counts as caught when its text is no longer readable by OCR after masking:
   the box (with a margin) is cut from the display frame, scaled to ~48 px high and read
   by Tesseract (``--psm 7``, both polarities); it is readable when any gold token of 3+
   characters appears in the reading or the readings are >= 60 % similar. Only boxes
   readable *before* masking are scored (others are reported as unreadable-at-source).
   Multi-frame files are checked on their first, middle and last frames.
4. Clean images (real and synthetic CT/MR, clean ultrasound) go through
   ``deidentify_dicom`` with ``mask`` forced and with the default policy; an image is
   altered when any stored pixel value changed.

Targets (issue 21): recall >= 0.95 on text >= 10 px high; clean CT/MR unaltered >= 0.99.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import io
import json
import os
import re
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import pytesseract  # noqa: E402
from PIL import Image  # noqa: E402

from burned_in_set import generate  # noqa: E402
from medinfer.preprocess.app import build_deid_engine  # noqa: E402
from medinfer.preprocess.imaging.burned_in import to_gray8  # noqa: E402
from medinfer.preprocess.imaging.dicom_pixels import check_header, decode_frame, to_unit_range  # noqa: E402
from medinfer.preprocess.imaging.limits import ImageLimits  # noqa: E402
from medinfer.preprocess.imaging.raster import decode_raster  # noqa: E402
from medinfer.preprocess.imaging.service import ImagingService  # noqa: E402
from medinfer.preprocess.settings import PreprocessSettings  # noqa: E402

SUMS = ROOT / "bench" / "data" / "burned_in" / "SHA256SUMS"
_ALNUM = re.compile(r"[^0-9A-Z]")


def _checksums(folder: Path) -> str:
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(folder.iterdir())]
    return "\n".join(lines) + "\n"


def _display_frames(raw: bytes, indices: list[int] | None = None) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(raw))
        header = check_header(ds, ImageLimits())
        out = []
        for i in indices if indices is not None else sorted({0, header.frames // 2, header.frames - 1}):
            arr, view = decode_frame(ds, header, i)
            out.append(to_gray8(to_unit_range(arr, ds, view, header)))
    return out


def _stored(raw: bytes) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(pydicom.pixels.pixel_array(pydicom.dcmread(io.BytesIO(raw))))


def _read_box(gray: np.ndarray, box: list[int]) -> str:
    left, top, width, height = box
    pad = max(3, height // 2)
    crop = gray[max(0, top - pad):top + height + pad, max(0, left - pad):left + width + pad].astype(np.float32)
    lo, hi = float(crop.min()), float(crop.max())
    crop = (crop - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(crop)
    scale = max(1.0, 48.0 / max(1, height))
    img = Image.fromarray(crop.astype(np.uint8))
    img = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))), Image.Resampling.BICUBIC)
    texts = []
    for im in (img, Image.eval(img, lambda v: 255 - v)):
        texts.append(pytesseract.image_to_string(im, config="--psm 7", timeout=30))
    return " ".join(texts)


def _readable(reading: str, gold: str) -> bool:
    got = _ALNUM.sub("", reading.upper())
    tokens = [_ALNUM.sub("", t) for t in re.split(r"[\s^,./-]+", gold.upper())]
    if any(len(t) >= 3 and t in got for t in tokens):
        return True
    want = _ALNUM.sub("", gold.upper())
    return bool(want) and difflib.SequenceMatcher(None, want, got).ratio() >= 0.6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write-sums", action="store_true", help="rewrite bench/data/burned_in/SHA256SUMS")
    ap.add_argument("--scope", choices=("phi", "all"), default="phi",
                    help="mask PHI words (default) or every OCR word (the detector's ceiling)")
    ap.add_argument("--misses", action="store_true", help="list missed gold boxes on stderr (synthetic values)")
    ap.add_argument("--keep", type=Path, help="generate into this folder instead of a temporary one")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="burned-in-set-"))
    cases = generate(folder)
    sums = _checksums(folder)
    if args.write_sums:
        SUMS.parent.mkdir(parents=True, exist_ok=True)
        SUMS.write_text(sums)
        print(f"wrote {SUMS.relative_to(ROOT)} ({len(sums.splitlines())} files)")
    elif not SUMS.exists() or SUMS.read_text() != sums:
        drift = set(sums.splitlines()) ^ set(SUMS.read_text().splitlines() if SUMS.exists() else [])
        sys.exit(f"generated set differs from {SUMS.relative_to(ROOT)} ({len(drift)} lines differ): "
                 "library versions or the generator changed; rerun with --write-sums if intended")
    home = Path(tempfile.mkdtemp(prefix="burned-in-home-"))
    settings = PreprocessSettings(home=home, dicom_deid_secret="burned-in-eval-secret-0123456789",
                                  image_burned_in_scope=args.scope)
    engine = build_deid_engine(settings)
    svc = ImagingService.from_settings(settings, text_engine=lambda: engine)
    policy = svc.cleaner.policy

    buckets: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # key -> [caught, scored]
    default_buckets: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    unreadable_at_source = 0
    distractors = [0, 0]  # masked, scored
    clean: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # key -> [unaltered, total]
    t0 = time.perf_counter()
    for case in cases:
        raw = (folder / case["file"]).read_bytes()
        if case["clean"]:
            before = _stored(raw)
            for mode in ("mask", None):
                out, _, _ = svc.deidentify_dicom(raw, mode)
                after = _stored(out)
                same = before.shape == after.shape and np.array_equal(before, after)
                key = f"{case['group']} policy={mode or 'default'}"
                clean[key][0] += int(same)
                clean[key][1] += 1
            continue
        if case["kind"] == "dicom":
            ds = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
            default = policy.resolve(raster=False, modality=str(ds.get("Modality", "")),
                                     sop_class=str(ds.get("SOPClassUID", "")))
            out, _, _ = svc.deidentify_dicom(raw, "mask")
            idx = sorted({0, case["frames"] // 2, case["frames"] - 1})
            befores, afters = _display_frames(raw, idx), _display_frames(out, idx)
        else:
            default = policy.resolve(raster=True)
            befores = [to_gray8(decode_raster(raw, svc.preprocessor.limits))]
            afters = [to_gray8(svc.preprocessor.decode(raw, burned_in="mask").pixels)]
        for g in case["gold"]:
            if not all(_readable(_read_box(b, g["box"]), g["text"]) for b in befores):
                unreadable_at_source += 1
                continue
            caught = not any(_readable(_read_box(a, g["box"]), g["text"]) for a in afters)
            if not caught and args.misses:  # synthetic (Faker) values only: this set holds no real PHI
                print(f"  miss {case['file']}: {g['label']} {g['text']!r} h={g['height']} {g['font']}",
                      file=sys.stderr)
            size = ">=10px" if g["height"] >= 10 else "<10px"
            for key in (f"all {size}", f"{case['group']} {size}", f"{g['label']} {size}",
                        f"header_consistent={case['header_consistent']} {size}"):
                buckets[key][0] += int(caught)
                buckets[key][1] += 1
            default_buckets[f"all {size}"][0] += int(caught and default != "auto")
            default_buckets[f"all {size}"][1] += 1
        for d in case["distractors"]:
            if all(_readable(_read_box(b, d["box"]), d["text"]) for b in befores):
                distractors[1] += 1
                distractors[0] += int(not any(_readable(_read_box(a, d["box"]), d["text"]) for a in afters))
    elapsed = time.perf_counter() - t0

    def rate(pair: list[int]) -> str:
        return f"{pair[0] / pair[1]:.3f} ({pair[0]}/{pair[1]})" if pair[1] else "n/a"

    print(f"set: {len(cases)} files, {sum(len(c['gold']) for c in cases)} gold PHI boxes, checksums OK; "
          f"evaluated in {elapsed:.0f} s")
    print(f"gold boxes not readable by OCR even before masking (not scored): {unreadable_at_source}")
    print("box recall, policy mask forced (text no longer readable after masking):")
    for key in sorted(buckets):
        print(f"  {key:40s} {rate(buckets[key])}")
    print("box recall under the default per-modality policy (CT/MR without the flag are not read):")
    for key in sorted(default_buckets):
        print(f"  {key:40s} {rate(default_buckets[key])}")
    print(f"non-PHI annotations masked too (cost, not a target): {rate(distractors)}")
    print("clean images unaltered:")
    for key in sorted(clean):
        print(f"  {key:40s} {rate(clean[key])}")
    r = buckets["all >=10px"]
    c = clean["clean_ct_mr policy=mask"]
    print(json.dumps({"recall_ge10px": round(r[0] / max(1, r[1]), 4),
                      "clean_ct_mr_unaltered_mask": round(c[0] / max(1, c[1]), 4),
                      "targets_met": r[0] / max(1, r[1]) >= 0.95 and c[0] / max(1, c[1]) >= 0.99}))


if __name__ == "__main__":
    main()
