"""Send texts to a Triton text model over HTTP (binary tensor data, so any bytes can be sent)."""

from __future__ import annotations

import time

import numpy as np
import tritonclient.http as httpclient


def text_input(texts: list[str | bytes]) -> httpclient.InferInput:
    arr = np.array([t.encode("utf-8") if isinstance(t, str) else t for t in texts], dtype=np.object_).reshape(
        -1, 1
    )
    inp = httpclient.InferInput("TEXT", list(arr.shape), "BYTES")
    inp.set_data_from_numpy(arr, binary_data=True)
    return inp


def infer_texts(
    client: httpclient.InferenceServerClient, model: str, texts: list[str | bytes], output: str
) -> np.ndarray:
    result = client.infer(
        model, [text_input(texts)], outputs=[httpclient.InferRequestedOutput(output, binary_data=True)]
    )
    return result.as_numpy(output)


def model_stats(client: httpclient.InferenceServerClient, model: str) -> dict:
    stats = client.get_inference_statistics(model)["model_stats"][0]
    return {
        "inference_count": int(stats["inference_count"]),
        "execution_count": int(stats["execution_count"]),
    }


def stats_after(
    client: httpclient.InferenceServerClient, model: str, inference_count: int, timeout: float = 10.0
) -> dict:
    """Triton counts a request shortly after sending its response: wait for ``inference_count``."""
    deadline = time.monotonic() + timeout
    stats = model_stats(client, model)
    while stats["inference_count"] < inference_count and time.monotonic() < deadline:
        time.sleep(0.05)
        stats = model_stats(client, model)
    return stats
