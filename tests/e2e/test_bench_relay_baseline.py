"""The bare relay ``bench_protocols.py`` measures as its floor really relays: tritonclient through it gets
Triton's answers (JSON and binary tensors), so its throughput is that of a real hop, not a short-cut."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient

from medinfer.stack import Stack

pytestmark = pytest.mark.e2e

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bench_protocols import relay_baseline  # noqa: E402


@pytest.mark.parametrize("binary", [True, False])
def test_relay_baseline_returns_tritons_answers(stack: Stack, binary: bool) -> None:
    ca = str(stack.home / "tls" / "ca.pem")
    x = np.random.default_rng(7).uniform(0.05, 20, size=(3, 30)).astype(np.float32)
    expected = ort.InferenceSession(str(stack.home / "models" / "breast_cancer" / "1" / "model.onnx")).run(
        None, {"features": x})[0]
    with relay_baseline(stack) as port:
        client = httpclient.InferenceServerClient(
            f"127.0.0.1:{port}", ssl=True, ssl_context_factory=lambda: ssl.create_default_context(cafile=ca))
        try:
            assert client.is_model_ready("breast_cancer", "1")
            inp = httpclient.InferInput("features", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=binary)
            out = httpclient.InferRequestedOutput("probability", binary_data=binary)
            result = client.infer("breast_cancer", [inp], outputs=[out], model_version="1")
            np.testing.assert_allclose(result.as_numpy("probability"), expected, rtol=1e-6)
        finally:
            client.close()
