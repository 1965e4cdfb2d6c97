"""Train and export the ``image_quality`` gate (deterministic).

Task: flag images that a diagnostic model should not see: ``ok``, ``blank``,
``truncated``, ``wrong_window`` or ``corrupted``. No clinical image data set can be
obtained offline, so the training images are *derived* from the real DICOM files
that pydicom ships (``pydicom/data/test_files``: CT, MR, NM and ultrasound), decoded
by medinfer's own imaging pipeline, with seeded augmentations and seeded defects.
The split is by source: test images come from source files never seen in training.

Model: a feature extractor written as an ONNX graph (``features.py``) followed by a
random forest (scikit-learn, exported with skl2onnx); the two are merged into one
ONNX model so serving computes exactly what training computed.

Run: ``python models/image_quality/train.py OUT_DIR [--card PATH]`` writes
``model.onnx``, ``metrics.json``, ``reference_profile.json`` (drift/OOD reference,
``image_quality_profile.py``) and the model card ``README.md`` (also to
``--card``, default next to this script); ``build(out_dir)`` does the same from Python.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pydicom
from onnx import TensorProto, compose, helper
from skl2onnx import to_onnx
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, recall_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features import FEATURE_NAMES, SIZE, feature_graph  # noqa: E402
from image_quality_profile import OOD_TARGET_FRR, reference_profile  # noqa: E402

from medinfer.monitoring import PROFILE_FILENAME, save_profile  # noqa: E402
from medinfer.preprocess.imaging import ImagePreprocessor  # noqa: E402
from medinfer.preprocess.imaging.tensor import resize_unit  # noqa: E402

SEED = 20261127
NAME = "image_quality"
CLASSES = ("ok", "blank", "truncated", "wrong_window", "corrupted")
PER_SOURCE = 400
# Chosen by leave-one-source-out cross-validation on the training sources only
# (depth 14/leaf 2: 0.90 accuracy, 0.76 ok-recall; depth 8/leaf 5: 0.93, 0.95).
N_ESTIMATORS, MAX_DEPTH, MIN_LEAF = 120, 8, 5
# Source groups: files showing the same acquisition are one group, so no test image
# shares a source with a training image.
SOURCES: dict[str, tuple[str, ...]] = {
    "ct_small": ("CT_small.dcm",),
    "ct_head": ("693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm"),
    "mr_small": ("MR_small.dcm",),
    "mr_abdomen": ("examples_overlay.dcm",),
    "nm_body": ("JPEG2000.dcm", "JPGExtended.dcm"),
    "us_jpeg2k": ("examples_jpeg2k.dcm",),
    "us_palette": ("examples_palette.dcm",),
    "us_rgb": ("examples_rgb_color.dcm",),
    "us_cine": ("examples_ybr_color.dcm",),
}
TEST_SOURCES = ("ct_head", "mr_small", "us_rgb")
# Clinical CT windows (centre, width in HU): soft tissue, brain, lung, bone.
CT_WINDOWS = ((40.0, 400.0), (40.0, 80.0), (-600.0, 1500.0), (400.0, 1800.0))


def source_frames() -> dict[str, list[np.ndarray]]:
    """Decode every source file (all frames) to grey [0, 1] with medinfer's pipeline."""
    root = Path(pydicom.data.__file__).parent / "test_files"
    pre = ImagePreprocessor()
    out: dict[str, list[np.ndarray]] = {}
    for group, files in SOURCES.items():
        frames = []
        for fname in files:
            data = (root / fname).read_bytes()
            n = pre.decode(data, frame=0, inference=False).info["frames"]
            first = pre.decode(data, frame=0, inference=False)
            # CT is read in several clinical windows; each is a correctly windowed image.
            windows = [None] + (list(CT_WINDOWS) if first.info.get("modality") == "CT" else [])
            for f in range(0, int(n), max(1, int(n) // 6)):
                for window in windows:
                    px = pre.decode(data, frame=f, window=window, inference=False).pixels
                    frames.append(px.mean(axis=-1) if px.ndim == 3 else px)
        out[group] = frames
    return out


def _view(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible good image: random crop, flip/rotation, mild gamma and noise, 64x64."""
    h, w = img.shape
    scale = rng.uniform(0.55, 1.0)
    ch, cw = max(8, int(h * scale)), max(8, int(w * scale))
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    v = resize_unit(img[y : y + ch, x : x + cw], SIZE, SIZE)
    v = np.rot90(v, int(rng.integers(0, 4)))
    if rng.random() < 0.5:
        v = v[:, ::-1]
    v = np.clip(v, 0, 1) ** rng.uniform(0.8, 1.25)
    v = v + rng.normal(0, rng.uniform(0, 0.01), v.shape)
    return np.clip(v, 0, 1).astype(np.float32)


def _defect(v: np.ndarray, cls: str, rng: np.random.Generator) -> np.ndarray:
    if cls == "ok":
        return v
    if cls == "blank":
        level = rng.choice([0.0, 1.0, rng.uniform(0, 1)])
        out = level + v * rng.uniform(0, 0.02) + rng.normal(0, rng.uniform(0, 0.004), v.shape)
    elif cls == "truncated":
        # Cut where the lost rows hold anatomy: a cut through empty background would
        # leave the image unchanged and teach the model that dark borders are defects.
        fill = rng.integers(0, 3)
        cuts = [r for r in range(int(SIZE * 0.2), int(SIZE * 0.8))
                if v[r - 1].std() > 0.02 and v[r:].std() > 0.05]
        cut = int(rng.choice(cuts)) if cuts else SIZE // 2
        out = v.copy()
        out[cut:] = 0.0 if fill == 0 else (0.5 if fill == 1 else out[cut - 1])
    elif cls == "wrong_window":
        if rng.random() < 0.5:  # far too narrow: a near-binary image
            centre = np.quantile(v, rng.uniform(0.2, 0.8))
            width = rng.uniform(0.005, 0.05)
            out = (v - centre) / width + 0.5
        else:  # far too wide: almost no contrast
            out = rng.uniform(0.2, 0.8) + (v - v.mean()) * rng.uniform(0.03, 0.12)
    else:  # corrupted: noise, dropped bytes or garbage blocks
        kind = rng.integers(0, 3)
        out = v.copy()
        if kind == 0:
            out = out + rng.normal(0, rng.uniform(0.08, 0.45), v.shape)
        elif kind == 1:
            mask = rng.random(v.shape) < rng.uniform(0.15, 0.5)
            out[mask] = rng.integers(0, 2, int(mask.sum()))
        else:
            rows = rng.random(SIZE) < rng.uniform(0.2, 0.6)
            out[rows] = rng.random((int(rows.sum()), SIZE))
    return np.clip(out, 0, 1).astype(np.float32)


def make_dataset(frames: dict[str, list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images [N,1,64,64], labels [N], source index [N]) with seeded, per-source streams."""
    xs, ys, gs = [], [], []
    for gi, group in enumerate(SOURCES):
        rng = np.random.default_rng([SEED, gi])
        for i in range(PER_SOURCE):
            img = frames[group][i % len(frames[group])]
            cls = i % len(CLASSES)
            xs.append(_defect(_view(img, rng), CLASSES[cls], rng))
            ys.append(cls)
            gs.append(gi)
    return np.stack(xs)[:, None], np.asarray(ys, np.int64), np.asarray(gs)


def extract(images: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(feature_graph().SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(["features"], {"image": images.astype(np.float32)})[0]


def export(clf: RandomForestClassifier) -> onnx.ModelProto:
    feats = feature_graph()
    clf_onnx = to_onnx(clf, np.zeros((1, len(FEATURE_NAMES)), np.float32),
                       options={id(clf): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    g = clf_onnx.graph
    label = next(o.name for o in g.output if o.name == "label")
    g.initializer.append(helper.make_tensor("_axis1", TensorProto.INT64, [1], [1]))
    g.node.append(helper.make_node("Unsqueeze", [label, "_axis1"], ["class_index"], name="class_index"))
    probs = next(o for o in g.output if o.name == "probabilities")
    del g.output[:]
    g.output.extend([probs, helper.make_tensor_value_info("class_index", TensorProto.INT64, [None, 1])])
    feats.ir_version = clf_onnx.ir_version
    merged = compose.merge_models(feats, clf_onnx, io_map=[("features", g.input[0].name)])
    merged.producer_name = "medinfer/models/image_quality"
    onnx.checker.check_model(merged)
    return merged


def _card(metrics: dict) -> str:
    rows = "\n".join(f"| {c} | {metrics['per_class_recall'][c]:.3f} |" for c in CLASSES)
    cm = metrics["confusion_matrix"]
    cm_rows = "\n".join(f"| {CLASSES[i]} | " + " | ".join(str(v) for v in r) + " |" for i, r in enumerate(cm))
    train_src = ", ".join(f"`{g}`" for g in SOURCES if g not in TEST_SOURCES)
    test_src = ", ".join(f"`{g}`" for g in TEST_SOURCES)
    return f"""# Model card: `image_quality` (written by `models/image_quality/train.py`)

**What it does.** A quality gate for medical images *before* a diagnostic model sees
them: it classifies a preprocessed frame as one of {", ".join(f"`{c}`" for c in CLASSES)}.
It is not a diagnostic model and says nothing about disease.

**Honest scope.** No clinical image data set can be obtained offline here. The images
are derived from the real DICOM files that pydicom {pydicom.__version__} ships
(`pydicom/data/test_files`; CT, MR, NM, ultrasound), decoded with medinfer's own
imaging pipeline (modality LUT, VOI window, MONOCHROME1, colour to grey); CT sources are also read
in four clinical windows (soft tissue 40/400, brain 40/80, lung -600/1500, bone
400/1800 HU), each counted as a correctly windowed image. Good views
are random crops (55-100 % of each side), rotations, flips, gamma 0.8-1.25 and mild
noise; defects are then applied synthetically: *blank* (constant level, faint residue),
*truncated* (from a row between 20 % and 80 % of the height that still shows structure,
the rest zero, mid-grey or a smeared last row),
*wrong_window* (window 0.5-5 % of the range: near-binary; or contrast scaled to
3-12 %), *corrupted* (Gaussian noise sigma 0.08-0.45, 15-50 % salt-and-pepper, or garbage rows).
Real-world defects will differ from these simulations; treat the numbers below as a
measure on this synthetic task, not a clinical validation.

**Data and split.** {len(SOURCES)} source groups (files showing the same acquisition are one
group), {PER_SOURCE} images per group, classes balanced. Split **by source**: train
{train_src}; test {test_src} (no test image shares a source with training).
Seed `{SEED}` (numpy streams per source, forest `random_state`).

**Model.** ONNX: a feature graph ({len(FEATURE_NAMES)} features: intensity statistics, gradient
and Laplacian energy, flat-row profile, cumulative histogram) merged with a random
forest ({metrics['n_estimators']} trees, max depth {metrics['max_depth']}, min leaf {metrics['min_samples_leaf']};
scikit-learn, skl2onnx). Depth and leaf size were chosen by leave-one-source-out
cross-validation on the training sources only; the test sources were not consulted.

**Signature.** input `image` FP32 [N, 1, 64, 64] in [0, 1] (from `POST /v1/image/preprocess`);
outputs `probabilities` FP32 [N, 5] (class order above) and `class_index` INT64 [N, 1].

**Measured on the held-out sources** (n_train = {metrics['n_train']}, n_test = {metrics['n_test']}):
accuracy **{metrics['accuracy']:.3f}**.

| class | recall |
|---|---|
{rows}

Confusion matrix (rows = truth, columns = prediction, order as above):

| truth | {" | ".join(CLASSES)} |
|---|{"---|" * len(CLASSES)}
{cm_rows}
"""


def build(out_dir: Path, card: Path | None = None) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = source_frames()
    images, labels, groups = make_dataset(frames)
    feats = extract(images)
    test_ids = [list(SOURCES).index(g) for g in TEST_SOURCES]
    test = np.isin(groups, test_ids)
    clf = RandomForestClassifier(n_estimators=N_ESTIMATORS, max_depth=MAX_DEPTH, min_samples_leaf=MIN_LEAF,
                                 random_state=SEED, n_jobs=1)
    clf.fit(feats[~test], labels[~test])
    model = export(clf)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    probs, cls_idx = sess.run(["probabilities", "class_index"], {"image": images[test]})
    pred = cls_idx[:, 0]
    recalls = recall_score(labels[test], pred, labels=range(len(CLASSES)), average=None, zero_division=0)
    metrics = {
        "seed": SEED, "n_train": int((~test).sum()), "n_test": int(test.sum()),
        "train_sources": [g for g in SOURCES if g not in TEST_SOURCES], "test_sources": list(TEST_SOURCES),
        "accuracy": round(float(accuracy_score(labels[test], pred)), 4),
        "per_class_recall": {c: round(float(r), 4) for c, r in zip(CLASSES, recalls)},
        "confusion_matrix": confusion_matrix(labels[test], pred, labels=range(len(CLASSES))).tolist(),
        "n_estimators": N_ESTIMATORS, "max_depth": MAX_DEPTH, "min_samples_leaf": MIN_LEAF,
        "sklearn_vs_onnx_agreement": round(float((clf.predict(feats[test]) == pred).mean()), 4),
    }
    (out_dir / "model.onnx").write_bytes(model.SerializeToString())
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    text = _card(metrics)
    (out_dir / "README.md").write_text(text)
    if card is not None:
        Path(card).write_text(text)
    # drift/OOD reference (docs/monitoring.md): summaries of the clean training views, never pixels
    profile = reference_profile(images, labels, groups, frames, SOURCES, TEST_SOURCES, PER_SOURCE, SEED)
    save_profile(profile, out_dir / PROFILE_FILENAME)
    return {
        "name": NAME,
        "kind": "image",
        "task": "multiclass-classification",
        "description": "Image-quality gate: ok / blank / truncated / wrong_window / corrupted.",
        "input": {"name": "image", "datatype": "FP32", "shape": [1, SIZE, SIZE]},
        "batched": True,
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [len(CLASSES)], "classes": list(CLASSES)},
            {"name": "class_index", "datatype": "INT64", "shape": [1], "classes": list(CLASSES)},
        ],
        "classes": list(CLASSES),
        "metrics": metrics,
        "training_data": "derived from pydicom's bundled DICOM test files (see README.md)",
        "ood_policy": "flag",
        "reference_profile": {"file": PROFILE_FILENAME, "target_false_reject_rate": OOD_TARGET_FRR},
    }


if __name__ == "__main__":
    args = sys.argv[1:]
    card = Path(__file__).resolve().parent / "README.md"
    if "--card" in args:
        i = args.index("--card")
        card = Path(args[i + 1])
        del args[i : i + 2]
    out = Path(args[0] if args else "build/image_quality")
    print(json.dumps(build(out, card)["metrics"], indent=2))
