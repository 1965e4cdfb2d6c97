"""The language gate: English prose with names from anywhere passes, other languages are refused."""

from __future__ import annotations

import orjson
import pytest

from medinfer.preprocess.deid.language import LanguageGate, UnsupportedLanguage

NAMES = ["María Guadalupe Hernández", "José Luis Ortega y Gasset", "Wei Zhang", "Li Xiuying", "王伟",
         "Mohammed Al-Rashid", "Fatima bint Khalid", "محمد عبد الله", "Nguyễn Văn Minh", "Oluwaseun Adeyemi",
         "Søren Kierkegaard", "Ngozi Okonkwo-Eze", "Jesús de la Cruz", "Zhou Xin", "Abdullah ibn Saud"]
PLACES = ["Guadalajara", "Ciudad Juárez", "São Paulo", "Guangzhou", "Riyadh", "Hà Nội", "Jeddah", "Chengdu",
          "San Juan de los Lagos", "Düsseldorf", "القاهرة", "北京"]
TEMPLATES = [
    "Pt {name} seen today.",
    "{name}, 64yo, c/o chest pain.",
    "Follow up with Dr. {name} in {place}.",
    "{name} presented with fever and cough for 3 days.",
    "Discussed with {name}, son of the patient.",
    "Moved from {place} last year; lives with daughter {name}.",
    "Spoke to {name} re: labs.",
    "Pt is a 45 yo F from {place}, here for f/u of DM2.",
    "Interpreter {name} present for the visit.",
    "Ms. {name} denies SOB, CP.",
    "Referred by {name} at the {place} clinic for evaluation of a breast mass.",
    "{name} ({place}) - BP 142/88, HR 91, afebrile.",
]
ENGLISH = [t.format(name=n, place=p) for t in TEMPLATES for n, p in zip(NAMES, PLACES * 2)]
FOREIGN = {
    "es": ["Paciente de 67 años con dolor torácico desde ayer, sin fiebre.",
           "La paciente refiere cefalea intensa y náuseas desde hace tres días.",
           "Se recomienda control en consulta externa en dos semanas con analítica."],
    "fr": ["Le patient se plaint de douleurs thoraciques depuis hier soir.",
           "Patiente de 54 ans, hospitalisée pour une pneumopathie, traitée par antibiotiques."],
    "de": ["Der Patient klagt seit gestern über starke Brustschmerzen und Atemnot."],
    "zh": ["患者主诉胸痛三天，伴有呼吸困难。"],
    "ar": ["المريض يشكو من ألم في الصدر منذ ثلاثة أيام"],
    "pt": ["O paciente queixa-se de dor no peito há três dias e falta de ar."],
}


@pytest.fixture(scope="module")
def gate() -> LanguageGate:
    return LanguageGate(["en"])


def test_english_with_foreign_names_and_places_is_never_refused(gate) -> None:
    assert len(ENGLISH) >= 150
    refused = [(s, gate.detect(s)) for s in ENGLISH if gate.detect(s) is not None]
    assert not refused


@pytest.mark.parametrize(("language", "text"), [(lang, t) for lang, ts in FOREIGN.items() for t in ts])
def test_other_languages_are_refused_with_the_language_named(gate, language: str, text: str) -> None:
    assert gate.detect(text) == language
    with pytest.raises(UnsupportedLanguage) as err:
        gate.check(text)
    problem = orjson.dumps(err.value.to_problem()).decode()
    assert err.value.status == 422 and err.value.code == "unsupported-language"
    assert err.value.extra["language"] == language
    for word in (w.strip(".,") for w in text.split()):
        if len(word) >= 5:
            assert word not in problem
    assert text not in problem


def test_a_configured_language_is_accepted() -> None:
    gate = LanguageGate(["en", "es"])
    assert gate.detect(FOREIGN["es"][0]) is None
    assert gate.detect(FOREIGN["fr"][0]) == "fr"


def test_too_little_prose_is_not_judged(gate) -> None:
    for text in ("Dolor torácico.", "BP 120/80 HR 72", "José", "Seen in Cancún", "王伟 seen"):
        assert gate.detect(text) is None


def test_unknown_language_codes_fail_at_start_up() -> None:
    with pytest.raises(ValueError):
        LanguageGate(["en", "xx"])
