"""The shipped model is deterministic and its model card tells the truth."""

import re
from pathlib import Path

import numpy as np
import onnxruntime as ort

from medinfer.shipped_models import build_model, project_root


def test_training_is_deterministic_and_matches_the_model_card(tmp_path: Path) -> None:
    a = build_model("breast_cancer", tmp_path / "a")
    b = build_model("breast_cancer", tmp_path / "b")
    assert a["metrics"] == b["metrics"]
    card = (project_root() / "models" / "breast_cancer" / "README.md").read_text()
    for key in ("auroc", "sensitivity", "specificity"):
        m = re.search(rf"\|\s*{key}\s*\|\s*([0-9.]+)\s*\|", card, re.IGNORECASE)
        assert m, f"model card lacks {key}"
        assert float(m.group(1)) == a["metrics"][key]
    assert a["metrics"]["auroc"] > 0.98
    sa = ort.InferenceSession(str(tmp_path / "a" / "model.onnx"))
    sb = ort.InferenceSession(str(tmp_path / "b" / "model.onnx"))
    x = np.array([[f["mean"] for f in a["features"]]], dtype=np.float32)
    np.testing.assert_array_equal(sa.run(None, {"features": x})[0], sb.run(None, {"features": x})[0])
