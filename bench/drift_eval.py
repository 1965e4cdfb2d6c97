"""Evaluate drift detection and the OOD gate on the shipped tabular model's data.

Data: scikit-learn's Wisconsin Diagnostic Breast Cancer set with the lead's
split (``train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)``).
The reference profile is built from the training split only; every stream
below is drawn from the held-out test split.

Drift: each run first fills the window with clean held-out records
(bootstrap-resampled), then switches the stream to a shifted version and
evaluates every ``--step`` records, as the background evaluator would. We
report how many shifted requests pass before the first alarm. False alarms:
a long clean stream of held-out rows (random permutations, and for contrast
a bootstrap with replacement), evaluated every ``--step`` records.

OOD gate: false-reject rate on the clean test split (and over repeated
random re-splits of the whole data set, to average out the 143-row test
set), and detection rates on constructed out-of-support inputs and on
white-box adversarial perturbations (FGSM) of the shipped model itself.

Text and image sections (``--section text|image``, in ``drift_eval_text.py`` and
``drift_eval_image.py``): the same questions for ``note_embedding`` and
``image_quality``; see their docstrings.

Run: ``.venv/bin/python bench/drift_eval.py`` (10-25 minutes on 2 busy shared cores, plus about 2 minutes each for
text and image; ``--runs 5 --fa-runs 2 --media-runs 3`` for a quick look).
"""

from __future__ import annotations

import argparse
import runpy
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from drift_streams import first_alarm  # bench/ is on sys.path when this file runs
from medinfer.monitoring import DriftConfig, DriftMonitor, MonitorConfig, TabularGate, build_tabular_profile

ROOT = Path(__file__).resolve().parents[1]

Shift = Callable[[np.ndarray], np.ndarray]


def load() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    d = load_breast_cancer()
    xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=0.25, random_state=42, stratify=d.target)
    return xtr, xte, ytr, yte, list(d.feature_names)


def shifts(xtr: np.ndarray, names: list[str]) -> dict[str, Shift]:
    j = {n: i for i, n in enumerate(names)}
    mean, std = xtr.mean(axis=0), xtr.std(axis=0)

    def col(name: str, f: Callable[[np.ndarray], np.ndarray]) -> Shift:
        def apply(x: np.ndarray) -> np.ndarray:
            x = x.copy()
            x[:, j[name]] = f(x[:, j[name]])
            return x
        return apply

    return {
        "scale 'mean area' x1.10": col("mean area", lambda v: v * 1.10),
        "scale 'mean area' x1.25": col("mean area", lambda v: v * 1.25),
        "scale all features x1.05": lambda x: x * 1.05,
        "mean shift 'mean texture' +0.25sd": col("mean texture", lambda v: v + 0.25 * std[j["mean texture"]]),
        "mean shift 'mean texture' +0.5sd": col("mean texture", lambda v: v + 0.5 * std[j["mean texture"]]),
        "mean shift 'mean texture' +1sd": col("mean texture", lambda v: v + 1.0 * std[j["mean texture"]]),
        "missing 'worst concavity' -> train mean": col("worst concavity", lambda v: np.full_like(v, mean[j["worst concavity"]])),
        "missing 'mean smoothness' -> 0": col("mean smoothness", lambda v: np.zeros_like(v)),
        "unit swap 'mean radius' mm->cm": col("mean radius", lambda v: v / 10.0),
        "unit swap 'mean perimeter' mm->cm": col("mean perimeter", lambda v: v / 10.0),
    }


def clean_stream(xte: np.ndarray, n: int, rng: np.random.Generator, bootstrap: bool = False) -> np.ndarray:
    """Held-out rows as a request stream: concatenated random permutations (no row repeats within
    any 143-record stretch) or, with ``bootstrap``, i.i.d. resampling with replacement."""
    if bootstrap:
        return xte[rng.integers(0, xte.shape[0], n)]
    reps = n // xte.shape[0] + 1
    return np.vstack([xte[rng.permutation(xte.shape[0])] for _ in range(reps)])[:n]


def drift_table(args: argparse.Namespace, profile, xtr, xte, names) -> None:
    cfg = MonitorConfig(drift=DriftConfig(window=args.window, min_samples=args.min_samples))
    rng = np.random.default_rng(args.seed)
    print(f"\n## Drift detection (window={args.window}, evaluate every {args.step} records, "
          f"{args.runs} runs, budget {args.budget} shifted requests)")
    print(f"{'shift':42s} {'detected':>9s} {'median N':>9s} {'p90 N':>7s} {'max N':>6s}")
    for name, f in shifts(xtr, names).items():
        ns: list[float] = []
        for _ in range(args.runs):
            mon = DriftMonitor(cfg)
            mon.register("bc", "1", profile, policy="off")
            mon.record("bc", "1", clean_stream(xte, args.window, rng))
            n = first_alarm(mon, ("bc", "1"), f(clean_stream(xte, args.budget, rng)), args.step)
            ns.append(np.inf if n is None else n)
        arr = np.asarray(ns)
        hit = np.isfinite(arr)
        q = (lambda p: f"{np.percentile(arr[hit], p):.0f}" if hit.any() else "-")
        print(f"{name:42s} {hit.mean():9.0%} {q(50):>9s} {q(90):>7s} "
              f"{(f'{arr[hit].max():.0f}' if hit.all() else '>' + str(args.budget)):>6s}")

    for bootstrap in (False, True):
        t0 = time.perf_counter()
        evals = alarms = runs_with_alarm = 0
        for _ in range(args.fa_runs):
            mon = DriftMonitor(cfg)
            mon.register("bc", "1", profile, policy="off")
            stream = clean_stream(xte, args.fa_length, rng, bootstrap)
            any_alarm = False
            for start in range(0, stream.shape[0], args.step):
                mon.record("bc", "1", stream[start:start + args.step])
                snap = mon.evaluate("bc", "1")
                if snap.ready:
                    evals += 1
                    alarms += snap.drift_detected
                    any_alarm |= snap.drift_detected
            runs_with_alarm += any_alarm
        dt = time.perf_counter() - t0
        total = args.fa_runs * args.fa_length
        how = "bootstrap (with replacement)" if bootstrap else "permutations (without replacement)"
        print(f"\nClean held-out stream, {how} of the {xte.shape[0]} test rows, {args.fa_runs} x "
              f"{args.fa_length} requests: {alarms}/{evals} evaluations alarmed "
              f"(false-alarm rate {alarms / max(1, evals):.2%} per evaluation, "
              f"{alarms / total * 1e4:.1f} per 10k requests; {runs_with_alarm}/{args.fa_runs} runs ever alarmed); "
              f"{evals / dt:.0f} evaluations/s")
    print("(A bootstrap window of 200 drawn from 143 rows repeats rows, so the tests see more records than "
          "there is information and over-reject; the permutation stream is the faithful null.)")


def fgsm(model, x: np.ndarray, eps_sd: float, std: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """L-inf step of eps_sd standard deviations against each row's predicted class, clipped to training range."""
    w = model[-1].coef_[0] / model[0].scale_  # gradient of the logit w.r.t. raw features
    pred = model.predict(x)
    direction = np.where(pred[:, None] == 1, -1.0, 1.0) * np.sign(w)[None, :]
    return np.clip(x + eps_sd * std * direction, lo, hi)


def minimal_flip(model, x: np.ndarray, std: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per row, the smallest FGSM step (bisection, up to 3 sd) that flips the surrogate's prediction."""
    out = x.copy()
    pred = model.predict(x)
    for i in range(x.shape[0]):
        a, b = 0.0, 3.0
        if model.predict(fgsm(model, x[i:i + 1], b, std, lo, hi))[0] == pred[i]:
            out[i] = np.nan  # cannot be flipped within budget
            continue
        for _ in range(12):
            mid = (a + b) / 2
            flipped = model.predict(fgsm(model, x[i:i + 1], mid, std, lo, hi))[0] != pred[i]
            a, b = (a, mid) if flipped else (mid, b)
        out[i] = fgsm(model, x[i:i + 1], b * 1.01, std, lo, hi)[0]
    return out[np.isfinite(out).all(axis=1)]


def gate_table(args: argparse.Namespace, profile, xtr, ytr, xte, yte, names) -> None:
    gate = TabularGate(profile)
    rng = np.random.default_rng(args.seed + 1)
    lo, hi, std = xtr.min(axis=0), xtr.max(axis=0), xtr.std(axis=0)
    width = hi - lo

    def rate(x: np.ndarray) -> tuple[float, int]:
        flags = np.array([gate.check(r).ood for r in x])
        return float(flags.mean()), int(x.shape[0])

    def reasons(x: np.ndarray) -> str:
        rs = [gate.check(r).reason for r in x]
        u, c = np.unique([r for r in rs if r], return_counts=True)
        return ", ".join(f"{a}:{b}" for a, b in zip(u, c))

    print(f"\n## OOD gate (policy calibrated to {profile.gate.target_frr:.0%} false rejects, "
          f"out-of-fold on the training split: {profile.gate.calibration_frr:.2%})")
    frr, n = rate(xte)
    print(f"{'input set':52s} {'flagged':>8s} {'n':>5s}  reasons")
    print(f"{'clean test split (false-reject rate)':52s} {frr:8.2%} {n:5d}  {reasons(xte)}")

    d = load_breast_cancer()
    fr = []
    for seed in range(args.resplits):
        a, b, _, _ = train_test_split(d.data, d.target, test_size=0.25, random_state=1000 + seed, stratify=d.target)
        g = TabularGate(build_tabular_profile(a, names, seed=seed))
        fr.extend(g.check(r).ood for r in b)
    print(f"{f'clean test splits, {args.resplits} random re-splits (FRR)':52s} {np.mean(fr):8.2%} {len(fr):5d}")

    k = xte.shape[0]
    j = rng.integers(0, xte.shape[1], k)
    rows = np.arange(k)
    sets: dict[str, np.ndarray] = {}
    x = xte.copy(); x[rows, j] = hi[j] + rng.uniform(0.5, 2.0, k) * width[j]
    sets["one feature above max by 0.5-2 x range"] = x
    x = xte.copy(); x[rows, j] = x[rows, j] * 10
    sets["one feature x10 (unit swap cm->mm)"] = x
    x = xte.copy(); x[rows, j] = x[rows, j] / 10
    sets["one feature /10 (unit swap mm->cm)"] = x
    x = xte.copy()
    for r in rows:
        x[r, rng.choice(xte.shape[1], 3, replace=False)] = 0.0
    sets["three features imputed as 0"] = x
    x = xte.copy()
    for r in rows:
        cols = rng.choice(xte.shape[1], 3, replace=False)
        x[r, cols] = xtr.mean(axis=0)[cols]
    sets["three features imputed with train mean"] = x
    sets["each feature drawn independently (marginals)"] = np.stack(
        [rng.choice(xtr[:, c], k) for c in range(xtr.shape[1])], axis=1)
    sets["whole row from another row's features, shuffled"] = xte[:, rng.permutation(xte.shape[1])]
    x = xte + rng.normal(0, 1, xte.shape) * std
    sets["gaussian noise 1 sd per feature"] = np.clip(x, lo, hi)
    for name, x in sets.items():
        r, n = rate(x)
        print(f"{name:52s} {r:8.2%} {n:5d}  {reasons(x)}")

    # white-box: the shipped model itself (models/breast_cancer/train.py: scaler + logistic regression)
    surrogate, card = runpy.run_path(str(ROOT / "models" / "breast_cancer" / "train.py"))["train"]()
    base = surrogate.predict(xte.astype(np.float32))
    print(f"\nAdversarial (white-box FGSM on the shipped breast_cancer model, AUROC {card['auroc']}; "
          "clipped to the training range so the support check cannot see them)")
    print(f"{'attack':52s} {'flagged':>8s} {'n':>5s}  {'flipped':>8s}  {'flagged|flipped':>15s}")
    for eps in (0.25, 0.5, 1.0, 2.0):
        x = fgsm(surrogate, xte, eps, std, lo, hi)
        flipped = surrogate.predict(x) != base
        flags = np.array([gate.check(r).ood for r in x])
        fl = f"{flags[flipped].mean():.2%}" if flipped.any() else "-"
        print(f"{f'FGSM eps={eps} sd':52s} {flags.mean():8.2%} {k:5d}  {flipped.mean():8.2%}  {fl:>15s}")
    x = minimal_flip(surrogate, xte, std, lo, hi)
    r, n = rate(x)
    print(f"{'minimal label-flipping FGSM step (per row)':52s} {r:8.2%} {n:5d}  {1.0:8.0%}  {r:15.2%}")


def cost_table(profile, xte: np.ndarray, n: int = 20000) -> None:
    """CPU cost of what the request path does per record: the gate and the O(1) window append."""
    mon = DriftMonitor(MonitorConfig(drift=DriftConfig(window=500)))
    mon.register("bc", "1", profile, policy="flag")
    rows = [r.astype(np.float32) for r in xte]  # what the gateway hands over (the FP32 request tensor)
    for r in rows:
        mon.check("bc", "1", r[None, :])
    t0 = time.process_time()
    for i in range(n):
        mon.check("bc", "1", rows[i % len(rows)][None, :])
    t_gate = (time.process_time() - t0) / n
    t0 = time.process_time()
    for i in range(n):
        mon.record("bc", "1", rows[i % len(rows)][None, :])
    t_rec = (time.process_time() - t0) / n
    t0 = time.process_time()
    evals = 20
    for _ in range(evals):
        mon.evaluate("bc", "1")
    t_eval = (time.process_time() - t0) / evals
    print(f"\n## Request-path cost (single record, {n} calls, CPU time)\ngate {t_gate * 1e6:.1f} us, window append "
          f"{t_rec * 1e6:.1f} us per request; background evaluation of a 500-record window {t_eval * 1e3:.1f} ms "
          f"(at most one per {MonitorConfig().min_new} records or {MonitorConfig().interval_s:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--window", type=int, default=200)
    ap.add_argument("--min-samples", type=int, default=100)
    ap.add_argument("--step", type=int, default=25, help="evaluate every STEP new records")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--budget", type=int, default=1000, help="shifted requests per run")
    ap.add_argument("--fa-runs", type=int, default=10)
    ap.add_argument("--fa-length", type=int, default=5000)
    ap.add_argument("--resplits", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--section", choices=("all", "tabular", "text", "image"), default="all",
                    help="text: note_embedding (drift_eval_text.py); image: image_quality (drift_eval_image.py)")
    ap.add_argument("--media-runs", type=int, default=10, help="runs per shift in the text and image sections")
    args = ap.parse_args()
    for section in ("text", "image"):
        if args.section in ("all", section):
            runpy.run_path(str(ROOT / "bench" / f"drift_eval_{section}.py"))["run"](
                runs=args.media_runs, window=args.window, step=args.step, budget=args.budget, seed=args.seed)
    if args.section not in ("all", "tabular"):
        return
    xtr, xte, ytr, yte, names = load()
    t0 = time.perf_counter()
    profile = build_tabular_profile(xtr, names, target_frr=0.01, source="sklearn breast_cancer train split")
    print(f"# drift_eval: breast_cancer, {xtr.shape[0]} train / {xte.shape[0]} test rows, "
          f"{len(names)} features; profile built in {time.perf_counter() - t0:.2f} s")
    drift_table(args, profile, xtr, xte, names)
    gate_table(args, profile, xtr, ytr, xte, yte, names)
    cost_table(profile, xte)


if __name__ == "__main__":
    main()
