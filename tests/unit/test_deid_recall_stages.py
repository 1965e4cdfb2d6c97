"""The recall-first stages of issue 15, one table per failure family: (text, values that must be
found, values that must not be found), then the same families end to end through ``DeidEngine``
(titles, initials and possessives are engine span rules), then a 20 kB worst-case input per new
recognizer (every pattern is linear: no nested unbounded quantifiers)."""

from __future__ import annotations

import time

import pytest

from medinfer.preprocess.deid import lexicon
from medinfer.preprocess.deid import recognizers as R
from tests.support.deid import deid_engine


def values(recognizer, text: str) -> set[str]:
    return {text[r.start:r.end] for r in recognizer.analyze(text, [])}


def check(recognizer, text: str, must: set[str], must_not: set[str]) -> None:
    got = values(recognizer, text)
    assert must <= got, f"missing {must - got} in {text!r} (got {got})"
    assert not (must_not & got), f"false positive {must_not & got} in {text!r}"


# ----------------------------------------------------------------------------- names
NAMES = [
    ("Can you pull the potassium values for Maria T. before rounds?", {"Maria T."}, {"Can"}),
    ("Kevin L., 64yo, presents with chest pain.", {"Kevin L."}, set()),
    ("Reply to Fatima Z. about her lipid panel.", {"Fatima Z."}, set()),
    ("José Luis Hernández was admitted with DKA.", {"José Luis Hernández"}, {"DKA"}),
    ("Ngozi Okonkwo-Eze presented with preeclampsia.", {"Ngozi Okonkwo-Eze"}, set()),
    ("Hyun-woo Park developed hives after ceftriaxone.", {"Hyun-woo Park"}, set()),
    ("My neighbour Femke van Gent drove me here.", {"Femke van Gent"}, set()),
    ("Is the warfarin dose right for Bao Tran?", {"Bao Tran"}, set()),
    ("Give me a differential for Tomasz's rash.", {"Tomasz"}, {"Tomasz's"}),
    # lower-case names: every word a known name, or a known name next to a word English does not use
    ("patient priya raman reports dyspnea", {"priya raman"}, set()),
    ("please call svetlana ivanova back", {"svetlana ivanova"}, set()),
    ("the courier left it with stijn van rheineck today", {"stijn van rheineck"}, set()),
    ("does chen wei need a colonoscopy", {"chen wei"}, set()),
    # hard negatives: eponyms, drugs, common words, codes, field labels
    ("Patient with Parkinson disease and Bell palsy.", set(), {"Parkinson", "Bell"}),
    ("Hold Eliquis and Lasix before the procedure.", set(), {"Eliquis", "Lasix"}),
    ("Will you grant the request? The patient may rest.", set(), {"Will", "grant", "may"}),
    ("Check A1c and SpO2 today.", set(), {"Check", "A", "Check A"}),
    ("Re: Patrick Reed  Chart #7218661", {"Patrick Reed"}, {"Patrick Reed  Chart", "Chart"}),
    ("start metoprolol and recheck in one week", set(), {"start metoprolol"}),
]


@pytest.mark.parametrize(("text", "must", "must_not"), NAMES)
def test_name_gazetteer(text, must, must_not) -> None:
    check(R.NameGazetteerRecognizer(), text, must, must_not)


# ----------------------------------------------------------------------------- safe list
SAFE_LIST = [
    ("Is Dr. Okafor's clinic still open?", {"Okafor"}, {"Okafor's", "Dr"}),
    ("Outside records from Vanderbilt show a prior ablation.", {"Vanderbilt"}, set()),
    ("Biopsy was read at OHSU last spring.", {"OHSU"}, {"Biopsy"}),
    ("Labs drawn at Quest Diagnostics this morning.", {"Quest Diagnostics"}, set()),
    ("Follow up at Lakeview Family Practice in two weeks.", {"Lakeview Family Practice"}, set()),
    ("Lesley Lowe, seen in Mitchellside on May 2015, is better.", {"Mitchellside"}, {"Mitchellside on May"}),
    # safe: clinical vocabulary, drugs, abbreviations, countries, eponym heads, field labels, codes
    ("Consider the Caprini score and the Wells criteria.", set(), {"Caprini", "Wells"}),
    ("He was admitted with DKA and given Zosyn.", set(), {"DKA", "Zosyn"}),
    ("She flew in from Spain and from Texas last week.", set(), {"Spain", "Texas"}),
    ("Caller: Amy Reed (wife)  Callback #: 617-555-0100", set(), {"Callback"}),
    ("SpO2 94% on room air; Hgb stable.", set(), {"SpO"}),
]


@pytest.mark.parametrize(("text", "must", "must_not"), SAFE_LIST)
def test_safe_list(text, must, must_not) -> None:
    check(R.SafeListRecognizer(), text, must, must_not)


# ----------------------------------------------------------------------------- places
PLACES = [
    ("He moved here from Sacramento last year.", {"Sacramento"}, set()),
    ("She goes to a Phoenix clinic for infusions.", {"Phoenix"}, set()),
    ("Home health for Harris County residents only.", {"Harris County"}, set()),
    ("He was born in San Diego and lives near Chiang Mai.", {"San Diego", "Chiang Mai"}, set()),
    ("Please fax the consult to our Tulsa office.", {"Tulsa"}, set()),
    # a place name that is a common word needs a cue; states and countries are not PHI
    ("Phoenix is a mythical bird; Mobile units arrived.", set(), {"Phoenix", "Mobile"}),
    ("Her family lives in California and Nigeria.", set(), {"California", "Nigeria"}),
]


@pytest.mark.parametrize(("text", "must", "must_not"), PLACES)
def test_place_gazetteer(text, must, must_not) -> None:
    check(R.PlaceGazetteerRecognizer(), text, must, must_not)


# ----------------------------------------------------------------------------- phones
PHONES = [
    ("Her daughter in London can be reached at +44 20 7946 0958.", {"+44 20 7946 0958"}, set()),
    ("Call the family on +49 30 901820 after 6 pm.", {"+49 30 901820"}, set()),
    ("Contact number +91 98765 43210 (son).", {"+91 98765 43210"}, set()),
    ("The patient's cell is +33 1 42 68 53 00.", {"+33 1 42 68 53 00"}, set()),
    ("phone 030 901820 or call 0161 496 0753", {"030 901820", "0161 496 0753"}, set()),
    ("Emergency contact: Olivia Poulsen, 21 13 54 35.", {"21 13 54 35"}, set()),
    ("reached at +90(854)691-6618x8902", {"+90(854)691-6618x8902"}, set()),
    # not phones: dates, times, doses, decimals, ids
    ("TELEPHONE ENCOUNTER  12-08-2000 22:00", set(), {"12-08-2000 22"}),
    ("BP 120/80, dose 0.5 mg, MRN 12345678, born 12.05.2001", set(), {"12345678", "12.05.2001"}),
]


@pytest.mark.parametrize(("text", "must", "must_not"), PHONES)
def test_international_phone(text, must, must_not) -> None:
    check(R.InternationalPhoneRecognizer(), text, must, must_not)


# ----------------------------------------------------------------------------- addresses and postal codes
ADDRESSES = [
    ("Mail results to Flat 3, 14 Baker Street, London NW1 6XE.", {"Flat 3, 14 Baker Street", "NW1 6XE"}, set()),
    ("Address on file: Hauptstraße 12, 10115 Berlin.", {"Hauptstraße 12", "10115", "Berlin"}, set()),
    ("She lives at 12 rue de la Paix, 75002 Paris.", {"12 rue de la Paix", "75002", "Paris"}, set()),
    ("Send the letter to Calle Mayor 5, 28013 Madrid.", {"Calle Mayor 5", "28013", "Madrid"}, set()),
    ("Home address Via Roma 10, 00184 Roma.", {"Via Roma 10"}, set()),
    ("He moved to 221 King Street West, Toronto, ON M5H 1K5.", {"221 King Street West", "M5H 1K5"}, set()),
    ("Address: 4 Herengracht, 1015 BS Amsterdam.", {"4 Herengracht", "1015 BS"}, set()),
    ("Lives at 88 mill road, cambridge.", {"88 mill road"}, set()),
    ("Soseaua Dima Nr. 450 Bl. 50 Ap. 914, 168064 Tulcea.", {"Soseaua Dima Nr. 450 Bl. 50 Ap. 914", "168064"}, set()),
    ("ul. Długa 5/7, 00-950 Warszawa", {"ul. Długa 5/7", "00-950", "Warszawa"}, set()),
    ("Storgatan 14, 114 55 Stockholm", {"Storgatan 14", "114 55", "Stockholm"}, set()),
    ("Does Jente still live at Aydenbaan 15?", {"Aydenbaan 15"}, set()),
    ("Her ZIP is 02139 and the Eircode D02 X285.", {"02139", "D02 X285"}, set()),
    # not addresses: doses, directions, clinical prose
    ("Place the patient on 2 L nasal cannula.", set(), {"Place the patient on 2"}),
    ("Give 5 units at the way out; walked 200 m to the park.", set(), {"5 units at the way", "200 m to the park"}),
    ("Take 2 tablets by mouth; Lasix 40 mg daily; Grade 3 edema.", set(), {"Lasix 40", "Grade 3"}),
    ("Transferred via the ED to the floor.", set(), {"via the ED"}),
]


@pytest.mark.parametrize(("text", "must", "must_not"), ADDRESSES)
def test_international_address(text, must, must_not) -> None:
    check(R.InternationalAddressRecognizer(), text, must, must_not)


# ----------------------------------------------------------------------------- written-out dates and years
DATES = [
    ("Symptoms since 1998, worse in the last month.", {"1998"}, set()),
    ("Diagnosed with asthma in the summer of 2003.", {"2003"}, set()),
    ("Started on dialysis the third of March.", {"the third of March"}, set()),
    ("Vaccinated on the 14th of February at the pharmacy.", {"the 14th of February"}, set()),
    ("Surgery is planned for Monday, June 5th.", {"Monday, June 5th"}, set()),
    ("He has been sober since Christmas 2017.", {"Christmas 2017"}, set()),
    ("Referral letter (DOB 23.05.2001).", {"23.05.2001"}, set()),
    ("between 1998 and 2003", {"1998", "2003"}, set()),
    # not dates: quantities and numbers next to a year-like value
    ("Restrict fluids to 1500 ml; in 2000 mg doses; 1999 patients enrolled.", set(), {"1500", "2000", "1999"}),
]


@pytest.mark.parametrize(("text", "must", "must_not"), DATES)
def test_written_dates(text, must, must_not) -> None:
    check(R.WrittenDateRecognizer(), text, must, must_not)


# ----------------------------------------------------------------------------- codes without a context word
CODES = [
    ("Is case AB4471Z the same as ref X7Y2-9913?", {"AB4471Z", "X7Y2-9913"}, set()),
    ("Order ORD-88213 was cancelled; plan id 4ETUIEE28XC.", {"ORD-88213", "4ETUIEE28XC"}, set()),
    ("A1c 7.9, SpO2 94, CHA2DS2-VASc 3, COVID-19, BRCA1, L4-L5, HER2, G6PD", set(),
     {"A1c", "SpO2", "COVID-19", "BRCA1", "L4-L5", "G6PD"}),
    ("Took 1500mg q4h, HR 120bpm, in the 2020s.", set(), {"1500mg", "120bpm", "2020s"}),
]


@pytest.mark.parametrize(("text", "must", "must_not"), CODES)
def test_alphanumeric_ids(text, must, must_not) -> None:
    check(R.AlphanumericIdRecognizer(), text, must, must_not)


# ----------------------------------------------------------------------------- end to end: span rules
@pytest.fixture(scope="module")
def engine():
    return deid_engine()


ENGINE = [
    # (text, values that must be masked whole, values that must stay)
    ("Ask Dr. Kowalczyk whether the margins were clear.", {"Dr. Kowalczyk"}, set()),
    ("Summarize Mrs. Delacroix's hospital course.", {"Mrs. Delacroix"}, {"'s hospital"}),
    ("What dose would you give Wei C.'s mother?", {"Wei C."}, set()),
    ("Per Prof. Adeyemi, lower the INR target.", {"Prof. Adeyemi"}, {"INR"}),
    ("She was transferred from St. Luke's Medical Center with a GI bleed.", {"St. Luke's Medical Center"}, {"GI"}),
    ("Start metoprolol 25 mg twice daily and recheck BP in one week.", set(), {"metoprolol 25 mg", "BP"}),
]


@pytest.mark.parametrize(("text", "masked", "kept"), ENGINE)
def test_engine_span_rules(engine, text, masked, kept) -> None:
    entities = engine.analyze(text)
    covered = bytearray(len(text))
    for e in entities:
        covered[e.start:e.end] = b"\x01" * (e.end - e.start)
    for value in masked:
        i = text.index(value)
        assert all(covered[i:i + len(value)]), f"{value!r} not fully masked in {text!r}"
    for value in kept:
        i = text.index(value)
        assert not any(covered[i:i + len(value)]), f"{value!r} masked in {text!r}"


def test_surrogate_keeps_the_title(engine) -> None:
    out = engine.deidentify("Ask Dr. Kowalczyk about it.", "surrogate", "p1").text
    assert out.startswith("Ask Dr. ") and "Kowalczyk" not in out


# ----------------------------------------------------------------------------- packaged data
def test_lexicon_is_packaged_data() -> None:
    assert {"priya", "tomasz", "maria"} <= lexicon.first_names()
    assert {"okafor", "nguyen", "yılmaz"} <= lexicon.last_names()
    assert {"metoprolol", "eliquis", "apixaban"} <= lexicon.drug_words()
    assert "sacramento" in lexicon.place_names()["sacramento"]
    assert {"spain", "texas"} <= lexicon.country_names()
    assert "california" not in {n for names in lexicon.place_names().values() for n in names}


# ----------------------------------------------------------------------------- linear time
WORST = {
    "NameGazetteerRecognizer": ["Maria " * 3400, "a " * 10000, "O'-" * 7000, "Ab-Cd " * 3400, "van " * 5000],
    "SafeListRecognizer": ["at Xyzzy " * 2300, "Qwv " * 5000, "at OHSU " * 2500, "'s" * 10000],
    "PlaceGazetteerRecognizer": ["San " * 5000, "in San Diego " * 1600, "Harris " * 3000],
    "InternationalPhoneRecognizer": ["1" * 20000, "1 " * 10000, "+(" * 10000, "(1)-" * 5000, "0" * 20000],
    "InternationalAddressRecognizer": ["a" * 20000, "Rue " + "Ab " * 6600, "1 " + "Ab " * 6600, "Xstraße" * 2800,
                                       "1234 AB " * 2500, ", 12345 Ab" * 2000, "Ab Cd " * 3400, "Flat 1, " * 2500,
                                       "address: 1" + " a" * 10000, "Ab-" * 7000 + "1"],
    "AlphanumericIdRecognizer": ["a1" * 10000, "A-1-" * 5000, "1" * 20000, "a1b2c3d4e5 " * 1800],
    "WrittenDateRecognizer": ["in " * 7000, "the first of " * 1600, "Monday, " * 2500, "1.1." * 5000,
                              "since 1998 " * 1800],
}


@pytest.mark.parametrize("name", sorted(WORST))
def test_worst_case_20kb_inputs_finish_quickly(name) -> None:
    recognizer = getattr(R, name)()
    for text in WORST[name]:
        text = (text * (20_000 // len(text) + 1))[:20_000]
        t0 = time.perf_counter()
        recognizer.analyze(text, [])
        assert time.perf_counter() - t0 < 1.0, f"{name} took too long on {text[:20]!r}..."
