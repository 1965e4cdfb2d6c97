"""Worst-case timings of the de-identification recognizers and engine (ReDoS check).

    .venv/bin/python bench/deid_redos.py [--size 20000] [--engine]

For every configured regex recognizer, each worst case of tests/unit/test_deid_redos.py at
``size`` and at a quarter of it: the slowest case's time and the growth ratio t(size)/t(size/4)
(about 4 for linear work, 16 for quadratic, 64 for cubic). ``--engine`` also times the whole
``DeidEngine.deidentify`` per case. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medinfer.common.errors import ValidationFailed  # noqa: E402
from medinfer.preprocess.deid import recognizers as R  # noqa: E402
from medinfer.preprocess.deid.registry import DeidConfig  # noqa: E402
from tests.unit import test_deid_redos as cases  # noqa: E402


def _best(fn, text: str, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=20_000)
    ap.add_argument("--engine", action="store_true")
    args = ap.parse_args()
    full = {k: v[: args.size] for k, v in cases.WORST_CASES.items()}
    quarter = {k: v[: args.size // 4] for k, v in cases.WORST_CASES.items()}
    print(f"{len(full)} worst cases, {args.size} and {args.size // 4} characters")
    names = [e.name for e in DeidConfig.load().recognizers if e.name != "SpacyNerRecognizer"]
    for name in names:
        rec = getattr(R, name)()
        rows = []
        for case in full:
            t_full = _best(lambda t: rec.analyze(t, []), full[case])
            t_quarter = _best(lambda t: rec.analyze(t, []), quarter[case])
            rows.append((t_full, t_full / max(t_quarter, 1e-5), case))
        t, ratio, case = max(rows)
        print(f"  {name:26s} slowest {t * 1000:8.2f} ms ({case}), growth x{ratio:.1f}")
    if args.engine:
        from medinfer.preprocess.deid import DeidEngine

        engine = DeidEngine(b"bench-secret-" * 4, note_budget_s=None)

        def run(text: str) -> None:
            try:
                engine.deidentify(text, "surrogate", "p")
            except ValidationFailed:
                pass

        rows = [(_best(run, full[c], 1), _best(run, quarter[c], 1), c) for c in full]
        for t_full, t_quarter, case in sorted(rows, reverse=True)[:5]:
            print(f"  engine {case:20s} {t_full:6.2f} s, growth x{t_full / max(t_quarter, 1e-5):.1f}")


if __name__ == "__main__":
    main()
