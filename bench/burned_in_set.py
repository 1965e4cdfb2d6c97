"""Generator of the burned-in text evaluation set (bench/burned_in_eval.py reads it).

Deterministic: the same code, Pillow/FreeType, pydicom and Faker versions give the same
bytes; ``bench/data/burned_in/SHA256SUMS`` holds the committed checksums so drift is
caught (``burned_in_eval.py`` checks them, ``--write-sums`` refreshes them on purpose).

Bases:
- real pydicom test images (``pydicom.data``): CT (693_J2KI 512x512, J2K_pixelrep_mismatch
  512x512, CT_small 128x128), MR (MR_small 64x64, examples_overlay 300x484), ultrasound
  (examples_palette 350x800 PALETTE COLOR, examples_rgb_color 240x320 RGB,
  examples_ybr_color 30 frames YBR_FULL_422 JPEG, examples_jpeg2k 480x640);
- synthetic ultrasound-like frames (fan of speckle on black), 1024x768 and 640x480,
  single and multi-frame, as DICOM and as PNG/JPEG uploads;
- synthetic 512x512 CT slices (clean set only).

Text: Faker names in five locales (LAST^FIRST, "Last, First", "First Last"), MRNs, dates
in five spellings, accession numbers; DejaVu Sans/Mono/Serif/Bold/Condensed and Pillow's
default font; font sizes 9-28 px; full, three-quarter and just-over-half contrast; corners,
edges and inside the image. Labels ("MRN", "DOB") and scanner annotations ("12.5 MHz")
are drawn as non-PHI distractors. DICOM headers repeat the rendered identity in half the
cases ("header_consistent") and name someone else in the other half.
"""

from __future__ import annotations

import io
import json
import random
import warnings
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pydicom
from faker import Faker
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundImageStorage, generate_uid

from tests.support.burned_in import FONTS, burn, text_mask, us_frame
from tests.support.dicom_factory import ct_slice

__all__ = ["generate", "SEED"]

SEED = 2121
LOCALES = ("en_US", "de_DE", "es_ES", "fr_FR", "it_IT")
DATE_FORMATS = ("%m/%d/%Y", "%d.%m.%Y", "%Y-%m-%d", "%d-%b-%Y", "%Y/%m/%d")
DISTRACTORS = ("12.5 MHz", "GAIN 50", "DEPTH 16 cm", "ABD", "LIVER", "TIS 0.4", "MI 1.1", "C5-1", "FR 32 Hz")
REAL_POSITIVE = ("examples_palette.dcm", "examples_rgb_color.dcm", "examples_ybr_color.dcm", "examples_jpeg2k.dcm",
                 "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "CT_small.dcm", "examples_overlay.dcm", "MR_small.dcm")
REAL_CLEAN = ("693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "CT_small.dcm", "MR_small.dcm", "examples_overlay.dcm",
              "MR_small_RLE.dcm")


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=[str(SEED), *map(str, parts)])


class _Phi:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.fakers = {loc: Faker(loc) for loc in LOCALES}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(SEED + i)

    def identity(self) -> dict[str, str]:
        f = self.fakers[self.rng.choice(LOCALES)]
        last, first = f.last_name(), f.first_name()
        birth = date(1930, 1, 1) + timedelta(days=self.rng.randrange(0, 30000))
        study = date(2015, 1, 1) + timedelta(days=self.rng.randrange(0, 3500))
        return {"last": last, "first": first, "mrn": str(self.rng.randrange(10**5, 10**9)),
                "birth": birth.strftime("%Y%m%d"), "study": study.strftime("%Y%m%d"),
                "accession": f"A{self.rng.randrange(10**6, 10**7)}"}

    def items(self, ident: dict[str, str]) -> list[tuple[str, str, str]]:
        """(label text or '', value text, gold label) for what an overlay shows."""
        style = self.rng.randrange(4)
        name = [f"{ident['last'].upper()}^{ident['first'].upper()}", f"{ident['last']}, {ident['first']}",
                f"{ident['first']} {ident['last']}", f"{ident['last'].upper()} {ident['first'].upper()}"][style]
        fmt = self.rng.choice(DATE_FORMATS)
        birth = date(int(ident["birth"][:4]), int(ident["birth"][4:6]), int(ident["birth"][6:])).strftime(fmt)
        study = date(int(ident["study"][:4]), int(ident["study"][4:6]), int(ident["study"][6:])).strftime(fmt)
        out = [(self.rng.choice(["", "", "Name:", "Pt:"]), name, "NAME"),
               (self.rng.choice(["MRN", "ID:", "PID"]), ident["mrn"], "ID"),
               (self.rng.choice(["DOB", "Born", ""]), birth, "DATE")]
        if self.rng.random() < 0.5:
            out.append(("", study, "DATE"))
        if self.rng.random() < 0.4:
            out.append(("Acc#", ident["accession"], "ID"))
        return out


def _layout(rng: random.Random, shape: tuple[int, int], items, size_range: tuple[int, int]):
    """Place label/value pairs as lines in a corner block or a random spot; distractors opposite."""
    rows, cols = shape
    size = rng.randint(*size_range)
    font = rng.choice(FONTS + ("pillow-default",))
    step = int(size * 1.45) + 2
    corner = rng.choice(["tl", "tr", "bl", "br", "inside"])
    n = len(items)
    block_h = n * step
    widest = max(len(lab) + len(val) + 1 for lab, val, _ in items) * size * 0.62
    x0 = 6 if corner in ("tl", "bl") else max(6, int(cols - widest - 6))
    y0 = 6 if corner in ("tl", "tr") else max(6, rows - block_h - 6)
    if corner == "inside":
        x0 = rng.randint(6, max(6, int(cols - widest - 6)))
        y0 = rng.randint(6, max(6, rows - block_h - 6))
    gold_lines, plain_lines = [], []
    for k, (label, value, kind) in enumerate(items):
        y = y0 + k * step
        x = x0
        if label:
            plain_lines.append((label, (x, y), font, size))
            x += int((len(label) + 1) * size * 0.62)
        gold_lines.append((value, (x, y), font, size, kind))
    dx = 6 if corner in ("tr", "br") else max(6, cols - 7 * size)
    for k, text in enumerate(rng.sample(DISTRACTORS, 2)):
        dy = 6 + k * step if corner in ("bl", "br") else max(6, rows - (2 - k) * step - 6)
        plain_lines.append((text, (dx, dy), font, size))
    return gold_lines, plain_lines


def _render(shape, gold_lines, plain_lines):
    items = [(t, p, f, s) for t, p, f, s, _ in gold_lines] + plain_lines
    cov, boxes = text_mask(shape, items)
    gold = [{"text": t, "label": kind, "box": list(b), "height": b[3], "font": f, "size": s}
            for (t, _, f, s, kind), b in zip(gold_lines, boxes)]
    plain = [{"text": t, "box": list(b)} for (t, *_), b in zip(plain_lines, boxes[len(gold_lines):])]
    return cov, gold, plain


def _us_dataset(frames: np.ndarray, key: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundImageStorage
    meta.MediaStorageSOPInstanceUID = _uid(key, "sop")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = UltrasoundImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = _uid(key, "study"), _uid(key, "series")
    ds.Modality = "US"
    ds.set_pixel_data(frames if len(frames) > 1 else frames[0], "MONOCHROME2", 8, generate_instance_uid=False)
    return ds


def _set_header(ds: Dataset, ident: dict[str, str]) -> None:
    ds.PatientName = f"{ident['last']}^{ident['first']}"
    ds.PatientID = ident["mrn"]
    ds.PatientBirthDate = ident["birth"]
    ds.StudyDate = ident["study"]
    ds.AccessionNumber = ident["accession"]


def _stored_levels(ds: Dataset, arr: np.ndarray) -> tuple[object, object]:
    """Stored values displayed darkest and brightest (first frame, file's own VOI)."""
    from medinfer.preprocess.imaging.dicom_pixels import check_header, decode_frame, to_unit_range
    from medinfer.preprocess.imaging.limits import ImageLimits

    header = check_header(ds, ImageLimits())
    frame, view = decode_frame(ds, header, 0)
    unit = to_unit_range(frame, ds, view, header)
    luma = unit if unit.ndim == 2 else unit.mean(axis=-1)
    lo = frame[np.unravel_index(int(np.argmin(luma)), luma.shape)]
    hi = frame[np.unravel_index(int(np.argmax(luma)), luma.shape)]
    return lo, hi


def _burn_dataset(ds: Dataset, cov: np.ndarray, contrast: float, rng: random.Random) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = pydicom.pixels.pixel_array(ds)
        lo, hi = _stored_levels(ds, arr)
    photometric = "RGB" if ds.SamplesPerPixel == 3 else str(ds.PhotometricInterpretation)
    if str(ds.PhotometricInterpretation) == "PALETTE COLOR":
        value = hi  # an index: no blending between palette entries
        c = (cov > 0.5).astype(np.float32)
    else:
        c = cov
        value = np.asarray(lo, dtype=np.float64) + contrast * (np.asarray(hi, np.float64) - np.asarray(lo, np.float64))
        if ds.SamplesPerPixel == 3 and rng.random() < 0.5:
            value = np.array([255.0, 255.0, 0.0]) * contrast  # the yellow of many US overlays
    frames = arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[None]
    if ds.SamplesPerPixel == 3:
        out = frames.astype(np.float64) * (1 - c[None, ..., None]) + np.asarray(value) * c[None, ..., None]
    else:
        out = frames.astype(np.float64) * (1 - c[None]) + float(np.asarray(value)) * c[None]
    info = np.iinfo(arr.dtype)
    out = np.clip(np.rint(out), info.min, info.max).astype(arr.dtype)
    out = out if int(ds.get("NumberOfFrames", 1) or 1) > 1 else out[0]
    bits = int(ds.get("BitsStored", ds.BitsAllocated))
    ds.set_pixel_data(out, photometric, bits, generate_instance_uid=False)
    ds.pop("BurnedInAnnotation", None)


def _save(ds: Dataset, path: Path) -> None:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    path.write_bytes(buf.getvalue())


def generate(out: Path) -> list[dict]:
    """Write the set into ``out``; returns the manifest (also written as manifest.json)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    phi = _Phi(rng)
    cases: list[dict] = []

    def case(name: str, **kw) -> dict:
        entry = {"file": name, **kw}
        cases.append(entry)
        return entry

    # synthetic ultrasound: DICOM single/multi-frame and PNG/JPEG uploads
    for i in range(36):
        rows, cols = (768, 1024) if i % 2 == 0 else (480, 640)
        frames = 3 if i % 6 == 1 else 1
        base = np.stack([us_frame(rows, cols, seed=SEED + 10 * i + k) for k in range(frames)])
        ident = phi.identity()
        gold_lines, plain_lines = _layout(rng, (rows, cols), phi.items(ident), (9, 28))
        cov, gold, plain = _render((rows, cols), gold_lines, plain_lines)
        contrast = rng.choice([1.0, 1.0, 0.75, 0.55])
        px = burn(base, cov, 255 * contrast)
        kind = ("dicom", "dicom", "png", "jpeg")[i % 4] if frames == 1 else "dicom"
        if kind == "dicom":
            ds = _us_dataset(px, f"us{i}")
            consistent = i % 8 < 4
            _set_header(ds, ident if consistent else phi.identity())
            name = f"us_{i:02d}.dcm"
            _save(ds, out / name)
        else:
            consistent = None
            name = f"us_{i:02d}.{'png' if kind == 'png' else 'jpg'}"
            img = Image.fromarray(px[0])
            if kind == "png":
                img.save(out / name, format="PNG")
            else:
                img.save(out / name, format="JPEG", quality=90)
        case(name, kind=kind, group="synthetic_us", frames=frames, contrast=contrast,
             header_consistent=consistent, gold=gold, distractors=plain, clean=False)

    # real pydicom images with rendered text
    for i, base_name in enumerate(REAL_POSITIVE * 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(get_testdata_file(base_name))
        rows, cols = int(ds.Rows), int(ds.Columns)
        ident = phi.identity()
        items = phi.items(ident)
        small = rows < 200
        if small:
            items = items[:2]
        gold_lines, plain_lines = _layout(rng, (rows, cols), items, (9, 11) if rows < 100 else (10, 16))
        if small:
            plain_lines = [p for p in plain_lines if p[0] not in DISTRACTORS]
        cov, gold, plain = _render((rows, cols), gold_lines, plain_lines)
        contrast = rng.choice([1.0, 0.75, 0.55])
        _burn_dataset(ds, cov, contrast, rng)
        consistent = i % 2 == 0
        _set_header(ds, ident if consistent else phi.identity())
        ds.SOPInstanceUID = _uid("real", i)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        name = f"real_{i:02d}_{base_name}"
        _save(ds, out / name)
        case(name, kind="dicom", group="real_" + str(ds.get("Modality", "OT")), frames=int(ds.get("NumberOfFrames", 1) or 1),
             contrast=contrast, header_consistent=consistent, gold=gold, distractors=plain, clean=False)

    # clean CT/MR: real test images as shipped, synthetic CT slices; clean ultrasound frames
    for base_name in REAL_CLEAN:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(get_testdata_file(base_name))
        name = f"clean_real_{base_name}"
        _save(ds, out / name)
        case(name, kind="dicom", group="clean_ct_mr", frames=1, gold=[], distractors=[], clean=True)
    from tests.support.dicom_factory import make_dicom
    for i in range(43):
        raw = make_dicom(ct_slice(512, seed=SEED + i), slope=1.0, intercept=-1024.0,
                         window=rng.choice([(40.0, 400.0), (-600.0, 1500.0), (300.0, 1500.0)]), phi=False)
        ds = pydicom.dcmread(io.BytesIO(raw))
        for kw, part in (("SOPInstanceUID", "sop"), ("StudyInstanceUID", "study"), ("SeriesInstanceUID", "series"),
                         ("FrameOfReferenceUID", "for")):
            setattr(ds, kw, _uid("ct", i, part))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        name = f"clean_ct_{i:02d}.dcm"
        _save(ds, out / name)
        case(name, kind="dicom", group="clean_ct_mr", frames=1, gold=[], distractors=[], clean=True)
    for i in range(10):
        ds = _us_dataset(us_frame(480, 640, seed=SEED + 900 + i)[None], f"cleanus{i}")
        name = f"clean_us_{i:02d}.dcm"
        _save(ds, out / name)
        case(name, kind="dicom", group="clean_us", frames=1, gold=[], distractors=[], clean=True)
    (out / "manifest.json").write_text(json.dumps(cases, indent=1, sort_keys=True))
    return cases
