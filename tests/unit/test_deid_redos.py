"""ReDoS regression guard: every configured recognizer stays linear on 20 kB worst cases.

Before the rewrite "MRN" + 400 spaces took 259 ms in one regex (cubic: three stacked ``\\s*``),
"MRN" + 1,600 spaces about a minute, and "A-" * 10000 3.9 s in the facility rule (quadratic).
The bound below (1 s per input) is generous for linear work on 20 kB and far below what
quadratic or cubic backtracking needs at this size; it is a guard, not a speed target.
"""

from __future__ import annotations

import threading
import time

import pytest

from medinfer.common.errors import ValidationFailed
from medinfer.preprocess.deid import recognizers as R
from medinfer.preprocess.deid.budget import DeidTimeout
from medinfer.preprocess.deid.registry import DeidConfig
from tests.support.deid import TEST_SECRET

SIZE = 20_000
LIMIT_S = 1.0


def _rep(prefix: str, unit: str, suffix: str = "") -> str:
    return prefix + unit * ((SIZE - len(prefix) - len(suffix)) // len(unit)) + suffix


# Context word + a long run of what the rule allows between it and the value, long runs of
# the characters each rule loops over, and capitalised-word runs without the closing word.
WORST_CASES = {
    "mrn-spaces": _rep("MRN", " "),
    "mrn-tabs": _rep("MRN ", "\t"),
    "mrn-newlines": _rep("MRN ", "\n"),
    "ssn-spaces": _rep("SSN ", " "),
    "mrn-dashes": _rep("", "MRN-"),
    "plate-caps": _rep("", "TAG "),
    "hyphenated-caps": _rep("", "A-"),
    "apostrophe-words": _rep("", "Aa'"),
    "capitalised-words": _rep("", "Aa "),
    "capitalised-of": _rep("", "Aa of "),
    "caps-words": _rep("", "AA "),
    "dots": _rep("", "."),
    "at-signs": _rep("", "@"),
    "percent": _rep("", "%"),
    "spaces": _rep("", " "),
    "letter-at": _rep("", "a@"),
    "letter-dot": _rep("", "a."),
    "initials": _rep("", "A. "),
    "dotted-initials": _rep("Patient: ", "A."),
    "ipv6-ish": _rep("", "1:"),
    "digits-spaces": _rep("", "1 "),
    "age-spaces": _rep("95", " "),
    "born-spaces": _rep("born", " "),
    "zip-spaces": _rep("zip", " "),
    "phone-spaces": _rep("phone", " "),
    "by-spaces": _rep("transcribed by", " "),
    "role-spaces": _rep("Patient", " "),
    "month-day-spaces": _rep("March 4", " "),
    "lives-in": _rep("lives", " in"),
    "titles": _rep("", "Dr. "),
    "facility-words": _rep("St. ", "Aa & "),
    "street-words": _rep("12 ", "Aa "),
    "last-first": _rep("", "Aa, "),
    "forget": _rep("", "forget you "),
    "long-url": _rep("see https://x.org/", "a"),
    "street-units": _rep("12 Elm St ", "Apt "),
}

RECOGNIZERS = [e.name for e in DeidConfig.load().recognizers if e.name != "SpacyNerRecognizer"]


def test_worst_cases_are_20kb() -> None:
    assert all(SIZE - 8 <= len(t) <= SIZE for t in WORST_CASES.values())


@pytest.mark.parametrize("name", RECOGNIZERS)
def test_recognizer_is_linear_on_worst_cases(name: str) -> None:
    recognizer = getattr(R, name)()
    slow = {}
    for case, text in WORST_CASES.items():
        start = time.perf_counter()
        recognizer.analyze(text, [])
        took = time.perf_counter() - start
        if took > LIMIT_S:
            slow[case] = round(took, 2)
    assert not slow, f"{name} is super-linear on {slow}"


@pytest.fixture(scope="module")
def engine():
    from medinfer.preprocess.deid import DeidEngine

    return DeidEngine(TEST_SECRET, pipelines=2, note_budget_s=30.0)


def test_engine_finishes_every_worst_case_within_the_default_budget(engine) -> None:
    """The whole analysis (language gate, sentence split, spaCy, the recognizers, name propagation)
    on each worst case finishes inside the default per-note budget, so none of them is refused.
    spaCy's NER is linear but the slowest part here: "A-" * 10000 is 20,000 tokens (~2 s)."""
    from medinfer.preprocess.settings import PreprocessSettings

    bound = PreprocessSettings.model_fields["deid_note_budget_ms"].default / 1000
    slow = {}
    for case, text in WORST_CASES.items():
        start = time.perf_counter()
        try:
            engine.deidentify(text, "surrogate", "patient-1")   # surrogates re-read every span
        except ValidationFailed:   # whitespace only, or refused by the language gate: timed all the same
            pass
        took = time.perf_counter() - start
        if took > bound:
            slow[case] = round(took, 2)
    assert not slow, f"the engine is slow on {slow}"


def test_a_note_over_its_budget_fails_closed() -> None:
    from medinfer.preprocess.deid import DeidEngine

    tight = DeidEngine(TEST_SECRET, pipelines=1, note_budget_s=0.001)
    note = "Patient: John Smith, MRN 00482913, seen by Dr. Ana Ruiz. " * 300
    with pytest.raises(DeidTimeout) as err:
        tight.deidentify(note, "tag")
    assert err.value.status == 503 and err.value.code == "deidentification-timeout"
    assert "John" not in str(err.value.detail) and "00482913" not in str(err.value.detail)
    with pytest.raises(DeidTimeout):
        tight.deidentify_batch([{"text": note}], "tag")


def test_a_slow_note_does_not_block_a_concurrent_normal_note(engine) -> None:
    """With the old engine-wide lock the short note waited for the long one to finish."""
    long_note = ("Patient: John Smith  MRN: 00482913. Seen at Mercy General Hospital on 03/14/2021 by "
                 "Dr. Ana Ruiz; call (617) 555-0134. ") * 780   # ~95 kB, seconds of work
    short_note = "Seen by Dr. Ana Ruiz on 03/14/2021."
    done: dict[str, float] = {}

    def run(name: str, text: str) -> None:
        engine.deidentify(text, "tag")
        done[name] = time.perf_counter()

    slow = threading.Thread(target=run, args=("long", long_note))
    slow.start()
    time.sleep(0.2)            # the long note is in its analysis
    assert slow.is_alive()
    fast = threading.Thread(target=run, args=("short", short_note))
    fast.start()
    fast.join(timeout=60)
    slow.join(timeout=60)
    assert set(done) == {"long", "short"}
    assert done["short"] < done["long"], "the short note waited for the long one"
