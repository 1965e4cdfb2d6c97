"""Engine, operators and keyed surrogates."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medinfer.common.errors import MedinferError, PayloadTooLarge, ValidationFailed
from medinfer.preprocess.deid.dates import parse_date, shift_date
from medinfer.preprocess.deid.language import UnsupportedLanguage
from medinfer.preprocess.deid.surrogate import SurrogateKeys
from tests.support.deid import deid_engine

NOTE = ("Patient: John Smith  MRN: 00482913\nSeen at Mercy General Hospital on 03/14/2021 by Dr. Ana Ruiz.\n"
        "Mr. Smith, a 93-year-old man, lives at 12 Elm Street, Springfield, IL 62704. "
        "Call (617) 555-0134, fax 617-555-0199, email john.smith@mail.example.org. "
        "Follow-up 04/01/2021. Hgb 10.2, pain 7/10, metoprolol 25 mg BID for atrial fibrillation.")
IDENTIFIERS = ["John", "Smith", "00482913", "Mercy", "03/14/2021", "Ana", "Ruiz", "93", "12 Elm Street",
               "Springfield", "62704", "555-0134", "555-0199", "john.smith@mail.example.org", "04/01/2021"]


@pytest.fixture(scope="module")
def engine():
    return deid_engine()


def test_entities_cover_every_identifier_and_keep_clinical_content(engine) -> None:
    result = engine.deidentify(NOTE, "tag")
    for value in IDENTIFIERS:
        assert value not in result.text, value
    for keep in ("Hgb 10.2", "pain 7/10", "metoprolol 25 mg BID", "atrial fibrillation", ", IL "):
        assert keep in result.text
    labels = {NOTE[e.start:e.end]: e.label for e in result.entities}
    assert labels["00482913"] == "MRN" and labels["03/14/2021"] == "DATE" and labels["93"] == "AGE"
    assert labels["(617) 555-0134"] == "PHONE" and labels["617-555-0199"] == "FAX"
    assert labels["john.smith@mail.example.org"] == "EMAIL"
    assert all(0 <= e.start < e.end <= len(NOTE) for e in result.entities)
    assert [e.start for e in result.entities] == sorted(e.start for e in result.entities)


@pytest.mark.parametrize("operator", ["tag", "redact", "mask", "surrogate"])
def test_every_operator_removes_the_identifiers(engine, operator: str) -> None:
    out = engine.deidentify(NOTE, operator, "patient-1").text
    for value in IDENTIFIERS:
        assert value not in out, (operator, value)


def test_mask_keeps_length_and_offsets(engine) -> None:
    result = engine.deidentify(NOTE, "mask")
    assert len(result.text) == len(NOTE)
    for e in result.entities:
        assert set(result.text[e.start:e.end]) == {"*"}
    outside = [i for i in range(len(NOTE)) if not any(e.start <= i < e.end for e in result.entities)]
    assert all(result.text[i] == NOTE[i] for i in outside)


def test_tag_and_redact_forms(engine) -> None:
    assert "[NAME]" in engine.deidentify(NOTE, "tag").text
    red = engine.deidentify(NOTE, "redact").text
    assert "[REDACTED]" in red and "[NAME]" not in red


def test_surrogate_is_consistent_within_and_across_notes_of_a_patient(engine) -> None:
    a = engine.deidentify("Mr. John Smith was seen. Later Mr. Smith called.", "surrogate", "pk-7").text
    fakes = re.findall(r"Mr\. ([A-Z][\w']+(?: [A-Z][\w']+)?)", a)
    assert len(fakes) == 2 and fakes[0].split()[-1] == fakes[1] and "Smith" not in a
    b = engine.deidentify("Mr. Smith returned.", "surrogate", "pk-7").text
    assert b == f"Mr. {fakes[1]} returned."
    c = engine.deidentify("Mr. Smith returned.", "surrogate", "pk-8").text
    assert c != b


def test_surrogate_without_patient_key_differs_between_notes(engine) -> None:
    outs = {engine.deidentify("Mr. Smith, MRN 00482913, seen 03/14/2021.", "surrogate").text for _ in range(4)}
    assert len(outs) > 1


def test_date_shift_preserves_intervals_and_format(engine) -> None:
    note = "Admitted 03/14/2021, discharged 03/20/2021; follow-up April 2, 2021."
    out = engine.deidentify(note, "surrogate", "pk-dates").text
    found = re.findall(r"\d{2}/\d{2}/\d{4}", out)
    assert len(found) == 2 and "03/14/2021" not in out
    d1, d2 = (dt.datetime.strptime(x, "%m/%d/%Y").date() for x in found)
    assert (d2 - d1).days == 6
    m = re.search(r"([A-Z][a-z]+ \d{1,2}, \d{4})\.$", out)
    d3 = dt.datetime.strptime(m.group(1), "%B %d, %Y").date()
    assert (d3 - d1).days == (dt.date(2021, 4, 2) - dt.date(2021, 3, 14)).days


def test_ages_over_89_become_90_plus(engine) -> None:
    out = engine.deidentify("A 93-year-old and a 67-year-old.", "surrogate", "pk").text
    assert out == "A 90+-year-old and a 67-year-old."


def test_surrogates_are_reproducible_with_the_key_and_change_with_another() -> None:
    k1, k1b, k2 = SurrogateKeys(b"k" * 32), SurrogateKeys(b"k" * 32), SurrogateKeys(b"z" * 32)
    values = [("NAME", "John Smith"), ("MRN", "00482913"), ("PHONE", "(617) 555-0134"), ("SSN", "123-45-6789"),
              ("LOCATION", "12 Elm Street"), ("EMAIL", "a@b.org"), ("DATE", "03/14/2021")]
    n1, n1b, n2 = k1.note("p"), k1b.note("p"), k2.note("p")
    first = [n1.replace(lbl, v) for lbl, v in values]
    assert first == [n1b.replace(lbl, v) for lbl, v in values]
    assert n1.shift_days == n1b.shift_days and n1.shift_days != 0
    other = [n2.replace(lbl, v) for lbl, v in values]
    assert sum(a != b for a, b in zip(first, other)) >= len(values) - 1
    assert all(f != v for f, (_, v) in zip(first, values))
    assert re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", first[2]) and first[3].startswith("9")


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        SurrogateKeys(b"short")


@pytest.mark.parametrize("text", ["03/14/2021", "3/4/21", "2021-03-14", "March 14, 2021", "Mar 14 2021",
                                  "14 March 2021", "14-Mar-2021", "March 14th, 2021", "3/14", "March 2021", "03/2021"])
def test_dates_parse_and_shift_in_their_own_format(text: str) -> None:
    parsed = parse_date(text)
    assert parsed is not None
    assert parse_date(shift_date(parsed, 0)) is not None and shift_date(parsed, 0) == text
    assert shift_date(parsed, 40) != text


@pytest.mark.parametrize(
    ("kwargs", "err", "code"),
    [
        ({"text": ""}, ValidationFailed, "empty-text"),
        ({"text": "   \n"}, ValidationFailed, "empty-text"),
        ({"text": b"\xff\xfeJohn Smith"}, ValidationFailed, "invalid-encoding"),
        ({"text": "John \ud800 Smith"}, ValidationFailed, "invalid-encoding"),
        ({"text": "John Smith " * 1000}, PayloadTooLarge, "payload-too-large"),
        ({"text": "John Smith", "operator": "encrypt"}, ValidationFailed, "unknown-operator"),
        ({"text": "John Smith", "patient_key": ""}, ValidationFailed, "validation-failed"),
        ({"text": 42}, ValidationFailed, "validation-failed"),
    ],
)
def test_bad_input_raises_4xx_without_echoing_text(engine, kwargs, err, code) -> None:
    kwargs = {"operator": "tag", **kwargs}
    with pytest.raises(err) as info:
        engine.deidentify(kwargs["text"], kwargs["operator"], kwargs.get("patient_key"))
    assert 400 <= info.value.status < 500 and info.value.code == code
    assert "John" not in str(info.value.to_problem()) and "Smith" not in str(info.value.to_problem())


def test_batch_matches_single_and_validates_all_items_first(engine) -> None:
    notes = [NOTE, "Dr. Ana Ruiz saw her on 03/14/2021."]
    batch = engine.deidentify_batch([{"text": n, "operator": "tag"} for n in notes])
    assert [r.text for r in batch] == [engine.deidentify(n, "tag").text for n in notes]
    with pytest.raises(ValidationFailed) as info:
        engine.deidentify_batch([{"text": NOTE, "operator": "tag"}, {"text": "", "operator": "tag"}])
    assert info.value.extra["field"] == "items[1].text"
    with pytest.raises(PayloadTooLarge):
        engine.deidentify_batch([{"text": "x", "operator": "tag"}] * 9)
    with pytest.raises(MedinferError):
        engine.deidentify_batch([])


_ALPHABET = st.sampled_from(list("abcXYZ019 ./-,:#@()\n\t'") + ["Dr. ", "Mr. ", "MRN ", "03/14/2021", "Smith",
                                                                 "Hospital", "é", "中", "😀", "Fax ", "93 yo"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(_ALPHABET, min_size=1, max_size=40), operator=st.sampled_from(["tag", "redact", "mask",
                                                                                      "surrogate"]))
def test_any_text_is_handled_and_offsets_stay_in_bounds(engine, parts, operator) -> None:
    text = "".join(parts)
    if not text.strip():
        return
    try:
        result = engine.deidentify(text, operator, "fuzz")
    except UnsupportedLanguage:
        return                                   # refused by the language gate: a handled 422
    assert isinstance(result.text, str)
    last = 0
    for e in result.entities:
        assert last <= e.start < e.end <= len(text)
        last = e.end
    if operator == "mask":
        assert len(result.text) == len(text)


PROSE = ("ASSESSMENT AND PLAN: 67-year-old man with HFrEF (EF 25%), CKD stage 3 and Type 2 Diabetes. "
         "Continue IV Lasix 40 mg BID. Daily weights. Cardiology following. Dispo: Home with VNA services.\n"
         "Follow up in Heart Failure Clinic in 1-2 weeks. Babinski negative. Romberg negative. "
         "Gram stain with Gram-positive cocci. Started Vancomycin per Pharmacy dosing protocol. "
         "ID consulted re: MRSA bacteremia. Parkinson disease, Bell's palsy. Pain 7/10, BP 130/85, 2015 mg.")


def test_clinical_prose_without_phi_stays_intact(engine) -> None:
    result = engine.deidentify(PROSE, "tag")
    assert [PROSE[e.start:e.end] for e in result.entities] == []


def test_parallel_analyses_give_the_same_answers_as_sequential_ones(engine) -> None:
    """No engine-wide lock any more: eight threads over the pipeline pool, each answer unchanged."""
    from concurrent.futures import ThreadPoolExecutor

    notes = [NOTE.replace("John", name).replace("00482913", f"0048{i:04d}")
             for i, name in enumerate(["Amir", "Beatriz", "Chen", "Dmitri", "Esther", "Farid", "Grace", "Hiro"])]
    notes = notes * 3
    sequential = [engine.deidentify(n, "surrogate", f"p{i}") for i, n in enumerate(notes)]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(lambda a: engine.deidentify(a[1], "surrogate", f"p{a[0]}"), enumerate(notes)))
    assert parallel == sequential
