"""Train and export the ``breast_cancer`` model (deterministic).

Data: the Wisconsin Diagnostic Breast Cancer data set shipped with scikit-learn
(569 cases, 30 features from digitized fine-needle aspirate images; UCI ML
repository, CC BY 4.0). Target relabelled so that 1 = malignant.
Split: stratified 75/25 with ``random_state=42``. Model: standardization +
L2 logistic regression. Export: skl2onnx, then the malignant-class column is
sliced into one output ``probability`` [batch, 1].

Run: ``python models/breast_cancer/train.py OUT_DIR`` writes ``model.onnx``,
``medinfer.json`` (input schema for the preprocessor and gateway),
``metrics.json`` and ``reference_profile.json`` (drift/OOD reference, see
docs/monitoring.md); ``build(out_dir)`` does the same from Python.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from medinfer.monitoring import PROFILE_FILENAME, build_tabular_profile, save_profile

SEED = 42
TEST_SIZE = 0.25
NAME = "breast_cancer"
INPUT = "features"
OUTPUT = "probability"
OOD_TARGET_FRR = 0.01  # false-reject rate the OOD gate is calibrated to


def feature_names() -> list[str]:
    return [n.replace(" ", "_") for n in load_breast_cancer().feature_names]


FHIR_SYSTEM = "https://medinfer.dev/fhir/CodeSystem/wdbc-features"


def _fhir_unit(name: str) -> str:
    """WDBC measures come from digitized images in pixels of undocumented physical size."""
    measure = name.removeprefix("mean_").removeprefix("worst_").removesuffix("_error")
    if measure in ("radius", "perimeter"):
        return "{pixel}"
    if measure == "area":
        return "{pixel2}"
    if measure == "texture":
        return "{gray}"  # standard deviation of gray-scale values
    return "1"  # smoothness, compactness, concavity, concave points, symmetry, fractal dimension: ratios


def fhir_codes() -> dict[str, dict[str, str]]:
    """Codes a FHIR Observation uses for each feature (docs/fhir.md).

    LOINC has no codes for these fine-needle-aspirate nuclear morphometry
    features, so all 30 use medinfer's own code system; a model whose features
    have LOINC codes declares ``"system": "http://loinc.org"`` here instead.
    """
    return {n: {"system": FHIR_SYSTEM, "code": n.replace("_", "-"), "unit": _fhir_unit(n),
                "display": n.replace("_", " ")} for n in feature_names()}


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, X_test, y_train, y_test) with y = 1 for malignant; the split every tool reuses."""
    data = load_breast_cancer()
    X = data.data.astype(np.float32)
    y = (data.target == 0).astype(np.int64)  # sklearn: 0 = malignant
    return train_test_split(X, y, test_size=TEST_SIZE, random_state=SEED, stratify=y)


def _slice_malignant(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace the classifier's outputs with ``probability`` = probabilities[:, 1:2]."""
    g = model.graph
    probs = next(o.name for o in g.output if o.name == "probabilities")
    consts = [
        helper.make_tensor(f"_mi_{n}", TensorProto.INT64, [1], [v])
        for n, v in (("start", 1), ("end", 2), ("axis", 1))
    ]
    g.initializer.extend(consts)
    g.node.append(helper.make_node("Slice", [probs, "_mi_start", "_mi_end", "_mi_axis"], [OUTPUT], name="malignant"))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [None, 1]))
    onnx.checker.check_model(model)
    return model


def train() -> tuple[object, dict]:
    X_train, X_test, y_train, y_test = load_split()
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000, random_state=SEED))
    clf.fit(X_train, y_train)
    p = clf.predict_proba(X_test)[:, 1]
    tn, fp, fn, tp = confusion_matrix(y_test, (p >= 0.5).astype(int)).ravel()
    metrics = {
        "n_train": int(len(y_train)), "n_test": int(len(y_test)), "seed": SEED,
        "auroc": round(float(roc_auc_score(y_test, p)), 4),
        "sensitivity": round(float(tp / (tp + fn)), 4),
        "specificity": round(float(tn / (tn + fp)), 4),
        "threshold": 0.5,
    }
    return clf, metrics


def schema(X_train: np.ndarray) -> list[dict]:
    """Per-feature plausible ranges: the training range widened by half its span (non-negative stays >= 0)."""
    out = []
    for name, col in zip(feature_names(), X_train.T):
        lo, hi = float(col.min()), float(col.max())
        span = hi - lo
        low = lo - 0.5 * span
        if lo >= 0:
            low = max(0.0, low)
        out.append({
            "name": name, "train_min": lo, "train_max": hi, "min": round(low, 6), "max": round(hi + 0.5 * span, 6),
            "mean": float(col.mean()), "std": float(col.std()),
        })
    return out


def build(out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clf, metrics = train()
    X_train = load_split()[0]
    onx = to_onnx(clf, X_train[:1], options={id(clf): {"zipmap": False}}, target_opset=17,
                  initial_types=None, final_types=None)
    onx.graph.input[0].name = INPUT
    for node in onx.graph.node:
        node.input[:] = [INPUT if i == "X" else i for i in node.input]
    onx = _slice_malignant(onx)
    onx.producer_name = "medinfer/models/breast_cancer"
    (out_dir / "model.onnx").write_bytes(onx.SerializeToString())
    meta = {
        "name": NAME,
        "kind": "tabular",
        "task": "binary-classification",
        "description": "Probability that a breast mass (fine-needle aspirate features) is malignant.",
        "input": {"name": INPUT, "datatype": "FP32", "shape": [len(feature_names())]},
        "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": [1], "meaning": "P(malignant)"}],
        "features": schema(X_train),
        "metrics": metrics,
        "training_data": "sklearn.datasets.load_breast_cancer (WDBC, UCI, CC BY 4.0)",
        "ood_policy": "flag",
        "fhir": {"loinc": fhir_codes()},
        "reference_profile": {"file": PROFILE_FILENAME, "target_false_reject_rate": OOD_TARGET_FRR},
    }
    (out_dir / "medinfer.json").write_text(json.dumps(meta, indent=2))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    # reference profile for drift monitoring and the OOD gate (calibrated out-of-fold on the training split)
    profile = build_tabular_profile(X_train.astype(np.float64), feature_names(), target_frr=OOD_TARGET_FRR,
                                    seed=SEED, source="WDBC training split (train_test_split seed 42)")
    save_profile(profile, out_dir / PROFILE_FILENAME)
    return meta


if __name__ == "__main__":
    print(json.dumps(build(Path(sys.argv[1] if len(sys.argv) > 1 else "build/breast_cancer"))["metrics"], indent=2))
