"""Image section of ``bench/drift_eval.py``: the image_quality OOD gate and image-summary drift.

Data come from the model's own build (``models/image_quality/train.py``): the
frames decoded from pydicom's bundled DICOM files and the seeded 64 × 64 views
cut from them. The reference profile uses the clean views of the six training
sources; the gate's clean-data rows are the clean views of the three held-out
sources and the full decoded frames; the constructed OOD inputs are the
model's own defect classes on held-out sources, thumbnails, saturated frames
and wrong modalities. Drift streams are fresh views (a new seed) so the
unshifted stream is not the reference itself.
"""

from __future__ import annotations

import runpy
import sys
import time
from pathlib import Path

import numpy as np

from drift_streams import false_alarms, first_alarm  # bench/ is on sys.path when this file runs
from medinfer.monitoring import DriftConfig, DriftMonitor, ImageGate, MonitorConfig, image_summary

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "models" / "image_quality"))
TRAIN = runpy.run_path(str(ROOT / "models" / "image_quality" / "train.py"))
IQP = runpy.run_path(str(ROOT / "models" / "image_quality" / "image_quality_profile.py"))


def _summaries(views: list[np.ndarray], dims: list[tuple[int, int]]) -> np.ndarray:
    out = np.stack([image_summary(v) for v in views])
    out[:, 0], out[:, 1] = [d[0] for d in dims], [d[1] for d in dims]
    return out


def _views(frames: dict[str, list[np.ndarray]], groups: list[str], n: int, rng: np.random.Generator,
           gamma: float = 1.0) -> np.ndarray:
    """``n`` fresh clean views from ``groups`` (uniformly), summarised with their source frame's size.

    Frames are picked as the training set picks its clean views (position ``i``
    of a source's stream, a multiple of the class count, uses frame ``i % frames``),
    so an unshifted stream has the reference's frame mix.
    """
    views, dims = [], []
    ok_positions = np.arange(0, TRAIN["PER_SOURCE"], len(TRAIN["CLASSES"]))
    for _ in range(n):
        f = frames[groups[int(rng.integers(0, len(groups)))]]
        frame = f[int(rng.choice(ok_positions)) % len(f)]
        views.append(np.clip(TRAIN["_view"](frame, rng), 0, 1) ** gamma)
        dims.append(frame.shape[:2])
    return _summaries(views, dims)


def gate_section(profile, frames, images, labels, groups, modality: dict[str, str], rng) -> None:
    gate = ImageGate(profile)
    names = list(TRAIN["SOURCES"])
    test_ids = [names.index(g) for g in TRAIN["TEST_SOURCES"]]
    print(f"\n## Image OOD gate (image_quality; modalities {profile.gate.allowed_modalities}, dimensions "
          f"{profile.gate.min_rows}-{profile.gate.max_rows} x {profile.gate.min_cols}-{profile.gate.max_cols}, "
          f"contrast floor {profile.gate.min_contrast:.3f} calibrated to {profile.gate.target_frr:.0%} on "
          f"{profile.gate.calibration_n} clean views)")
    print(f"{'input set':58s} {'n':>5s} {'flagged':>8s}  reasons")

    def row(name: str, mods: list[str | None], summaries: np.ndarray) -> None:
        reasons: dict[str, int] = {}
        for m, s in zip(mods, summaries):
            d = gate.check(m, s)
            if d.ood:
                reasons[d.reason] = reasons.get(d.reason, 0) + 1
        k = sum(reasons.values())
        top = ", ".join(f"{r} {v}" for r, v in sorted(reasons.items(), key=lambda x: -x[1]))
        print(f"{name:58s} {len(mods):5d} {k / max(1, len(mods)):8.1%}  {top}")

    dims = {g: frames[g][0].shape[:2] for g in names}
    for cls, label in enumerate(TRAIN["CLASSES"]):
        sel = np.flatnonzero(np.isin(groups, test_ids) & (labels == cls))
        s = _summaries([images[i, 0] for i in sel], [dims[names[groups[i]]] for i in sel])
        mods = [modality[names[groups[i]]] for i in sel]
        what = "clean (false flags)" if label == "ok" else f"defect '{label}'"
        row(f"held-out sources, {what}", mods, s)
    all_frames = [(g, f) for g in names for f in frames[g]]
    fs = np.stack([image_summary(f) for _, f in all_frames])
    row("full decoded source frames, all 9 sources (false flags)", [modality[g] for g, _ in all_frames], fs)
    row("same frames sent as PNG (no modality)", [None] * len(all_frames), fs)
    for wrong in ("MG", "CR", "DX", "PT", "XA"):
        row(f"same frames labelled modality {wrong}", [wrong] * len(all_frames), fs)
    thumbs = fs.copy()
    thumbs[:, 0] = thumbs[:, 1] = 16
    row("same frames as 16 x 16 thumbnails", [modality[g] for g, _ in all_frames], thumbs)
    flat = [np.full((256, 256), rng.uniform(0, 1)) + rng.normal(0, 0.002, (256, 256)) for _ in range(50)]
    row("near-constant 256 x 256 frames (noise sd 0.002)", ["CT"] * 50, np.stack([image_summary(f) for f in flat]))


def drift_section(profile, frames, rng, runs: int, window: int, step: int, budget: int, fa_length: int) -> None:
    cfg = MonitorConfig(drift=DriftConfig(window=window, min_samples=100))
    train = [g for g in TRAIN["SOURCES"] if g not in TRAIN["TEST_SOURCES"]]
    us = [g for g in train if g.startswith("us_")]
    shifts = {
        "modality mix: ultrasound only (was 50%)": lambda n: _views(frames, us, n, rng),
        "modality mix: CT + MR only (was 33%)": lambda n: _views(frames, ["ct_small", "mr_abdomen"], n, rng),
        "new sources (held-out CT head, MR, RGB US)": lambda n: _views(frames, list(TRAIN["TEST_SOURCES"]), n, rng),
        "display gamma 1.5 on all images (darker)": lambda n: _views(frames, train, n, rng, gamma=1.5),
        "display gamma 1.2 on all images": lambda n: _views(frames, train, n, rng, gamma=1.2),
    }
    print(f"\n## Image drift (PSI + KS on the 6 summary features, window {window}, evaluated every {step} records, "
          f"{runs} runs, budget {budget}; streams of fresh views from the training sources)")
    print(f"{'shift':46s} {'detected':>9s} {'median N':>9s} {'p90 N':>7s}")
    for name, make in shifts.items():
        ns = []
        for _ in range(runs):
            mon = DriftMonitor(cfg)
            mon.register("i", "1", profile, policy="off")
            mon.record("i", "1", _views(frames, train, window, rng))
            n = first_alarm(mon, ("i", "1"), make(budget), step)
            ns.append(np.inf if n is None else n)
        arr = np.asarray(ns)
        hit = np.isfinite(arr)
        q = (lambda p: f"{np.percentile(arr[hit], p):.0f}" if hit.any() else "-")
        print(f"{name:46s} {hit.mean():9.0%} {q(50):>9s} {q(90):>7s}")
    mon = DriftMonitor(cfg)
    mon.register("i", "1", profile, policy="off")
    alarms, evals = false_alarms(mon, ("i", "1"), _views(frames, train, fa_length, rng)[:fa_length], step)
    print(f"Unshifted stream of fresh training-source views ({fa_length} requests): {alarms}/{evals} "
          f"evaluations alarmed ({alarms / max(1, evals):.1%})")


def run(runs: int = 10, window: int = 200, step: int = 25, budget: int = 1000, fa_length: int = 4000,
        seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    frames = TRAIN["source_frames"]()
    images, labels, groups = TRAIN["make_dataset"](frames)
    profile = IQP["reference_profile"](images, labels, groups, frames, TRAIN["SOURCES"], TRAIN["TEST_SOURCES"],
                                       TRAIN["PER_SOURCE"], TRAIN["SEED"])
    modality = IQP["source_modalities"](TRAIN["SOURCES"])
    print(f"\n# drift_eval image: image_quality data and profile built in {time.perf_counter() - t0:.1f} s")
    gate_section(profile, frames, images, labels, groups, modality, rng)
    drift_section(profile, frames, rng, runs, window, step, budget, fa_length)


if __name__ == "__main__":
    run()
