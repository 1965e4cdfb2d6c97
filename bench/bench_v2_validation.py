"""What the /v2 signature check costs per request, against parsing the body alone, measured in the same run.

    .venv/bin/python bench/bench_v2_validation.py [--rows 1 8 64] [--number 3000]

For each batch size of a ``breast_cancer``-shaped request (FP32 [rows, 30]) in JSON and binary form it prints
the microseconds of ``orjson.loads`` of the body (the floor: any check must parse the header) and of the
gateway's split + ``rest_views`` + ``validate_inputs``, and their ratio. In-process, no server.
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np
import orjson

from medinfer.common.v2 import V2Tensor, encode_request, split_body
from medinfer.gateway.v2_validation import TensorLimits, rest_views, validate_inputs
from medinfer.triton.model_config import ModelConfig, TensorSpec

CONFIG = ModelConfig("breast_cancer", "python", (TensorSpec("features", "FP32", (30,)),),
                     (TensorSpec("probability", "FP32", (1,)),), max_batch_size=64)


def _us(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--number", type=int, default=3000)
    args = ap.parse_args()
    limits = TensorLimits()
    print(f"{'form':7} {'rows':>4} {'parse us':>9} {'check us':>9} {'ratio':>6}")
    for rows in args.rows:
        x = np.random.default_rng(rows).uniform(0, 20, size=(rows, 30)).astype(np.float32)
        for binary in (False, True):
            body, headers = encode_request([V2Tensor("features", "FP32", [rows, 30], x)], binary=binary)
            hl = headers.get("Inference-Header-Content-Length")
            head = body if hl is None else body[:int(hl)]

            def check() -> None:
                header, tail = split_body(body, hl)
                views, outputs, _ = rest_views(header, tail)
                validate_inputs(CONFIG, views, outputs, limits)

            parse = _us(lambda: orjson.loads(head), args.number)
            full = _us(check, args.number)
            print(f"{'binary' if binary else 'json':7} {rows:>4} {parse:>9.1f} {full:>9.1f} {full / parse:>6.1f}")


if __name__ == "__main__":
    main()
