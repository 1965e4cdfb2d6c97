"""De-identification through a real preprocessor process; its whole log is checked for PHI canaries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.support.services import ServiceProcess, run_service

pytestmark = pytest.mark.integration

CANARIES = ["Zebulon Quixley", "Quixley", "00987123", "917-555-0142", "quixley@canary.example.org", "987-65-4329"]
NOTE = ("Patient: Zebulon Quixley  MRN: 00987123. Call 917-555-0142 or quixley@canary.example.org. "
        "SSN 987-65-4329. Mr. Quixley was seen 02/03/2022.")


@pytest.fixture(scope="module")
def preprocessor(tmp_path_factory) -> Iterator[ServiceProcess]:
    home = tmp_path_factory.mktemp("deid-svc")
    env = {"MEDINFER_HOME": str(home), "MEDINFER_PREPROCESS_DEID_SECRET": "k" * 48,
           "MEDINFER_PREPROCESS_DEID_MAX_CHARS": "4000", "MEDINFER_PREPROCESS_LOG_LEVEL": "DEBUG"}
    with run_service("medinfer.preprocess", "MEDINFER_PREPROCESS_", env, home / "pre.log", timeout=120) as svc:
        yield svc


def test_canaries_appear_only_in_the_callers_response(preprocessor: ServiceProcess) -> None:
    url = preprocessor.url
    ok = requests.post(url + "/v1/deidentify", json={"text": NOTE, "operator": "tag"}, timeout=30)
    assert ok.status_code == 200, ok.text
    spans = {NOTE[e["start"]:e["end"]] for e in ok.json()["entities"]}
    assert {"Zebulon Quixley", "00987123", "917-555-0142", "987-65-4329"} <= spans
    sur = requests.post(url + "/v1/deidentify", json={"text": NOTE, "operator": "surrogate", "patient_key": "p"},
                        timeout=30)
    batch = requests.post(url + "/v1/deidentify/batch", json={"operator": "mask", "items": [{"text": NOTE}] * 3},
                          timeout=30)
    errors = [
        requests.post(url + "/v1/deidentify", json={"text": NOTE, "operator": "bogus"}, timeout=30),
        requests.post(url + "/v1/deidentify", json={"text": NOTE * 40, "operator": "tag"}, timeout=30),
        requests.post(url + "/v1/deidentify", data=NOTE.encode() + b"\xff", timeout=30),
        requests.post(url + "/v1/deidentify/batch", json={"items": [{"text": NOTE}, {"text": ""}],
                                                          "operator": "tag"}, timeout=30),
    ]
    assert [e.status_code for e in errors] == [422, 413, 400, 422]
    assert sur.status_code == 200 and batch.status_code == 200
    log = preprocessor.log()
    for canary in CANARIES:
        assert canary not in sur.text and canary not in batch.text
        assert all(canary not in e.text for e in errors)
        assert canary not in log, canary


def test_a_spanish_note_is_refused_and_nothing_of_it_is_logged(preprocessor: ServiceProcess) -> None:
    spanish = ("Paciente Zebulon Quixley, MRN 00987123, refiere dolor torácico desde ayer y no tiene fiebre. "
               "Teléfono 917-555-0142.")
    r = requests.post(preprocessor.url + "/v1/deidentify", json={"text": spanish, "operator": "tag"}, timeout=30)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "unsupported-language" and r.json()["language"] == "es"
    log = preprocessor.log()
    for canary in [*CANARIES, "torácico", "Teléfono"]:
        assert canary not in r.text and canary not in log
