"""/v1/deidentify routes in the real create_app, and the PHI canary: identifiers sent in notes
appear in the caller's own response and nowhere else (logs, error bodies, headers)."""

from __future__ import annotations

import asyncio
import io
import logging

import httpx
import pytest

from medinfer.common.jsonlog import configure_logging
from medinfer.preprocess.app import create_app
from medinfer.preprocess.settings import PreprocessSettings

CANARIES = ["Zebulon Quixley", "Quixley", "00987123", "917-555-0142", "quixley@canary.example.org",
            "987-65-4329", "Xanadu Memorial Hospital"]
NOTE = ("Patient: Zebulon Quixley  MRN: 00987123. Seen at Xanadu Memorial Hospital on 02/03/2022. "
        "Call 917-555-0142 or quixley@canary.example.org. SSN 987-65-4329. Mr. Quixley is stable.")


class Client:
    """Calls the ASGI app in-process through httpx's ASGITransport (no sockets, no server)."""

    def __init__(self, app) -> None:
        self.app = app

    def post(self, path: str, **kw) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://preprocess") as c:
                return await c.post(path, **kw)
        return asyncio.run(go())


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    home = tmp_path_factory.mktemp("deid-home")
    settings = PreprocessSettings(home=home, deid_secret="s" * 40, deid_max_chars=2000, deid_max_batch=4,
                                  max_body_bytes=64 * 1024)
    yield Client(create_app(settings))


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("DEBUG", stream)
    try:
        yield stream
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])


def test_deidentify_returns_text_and_entities_with_original_offsets(client) -> None:
    r = client.post("/v1/deidentify", json={"text": NOTE, "operator": "tag"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"text", "entities"}
    spans = {NOTE[e["start"]:e["end"]]: e["label"] for e in body["entities"]}
    assert spans["Zebulon Quixley"] == "NAME" and spans["00987123"] == "MRN" and spans["02/03/2022"] == "DATE"
    assert all(set(e) == {"start", "end", "label", "score"} and 0 < e["score"] <= 1 for e in body["entities"])
    assert "[NAME]" in body["text"] and not any(c in body["text"] for c in CANARIES)


def test_surrogate_route_is_consistent_per_patient_key(client) -> None:
    def run(key):
        return client.post("/v1/deidentify", json={"text": "Mr. Quixley seen 02/03/2022.", "operator": "surrogate",
                                                   "patient_key": key}).json()["text"]
    assert run("p1") == run("p1") != run("p2")


def test_batch_route(client) -> None:
    r = client.post("/v1/deidentify/batch", json={"operator": "mask", "items": [
        {"text": NOTE}, {"text": "Dr. Quixley on 02/03/2022", "operator": "tag"}]})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 2 and len(items[0]["text"]) == len(NOTE) and "[NAME]" in items[1]["text"]


@pytest.mark.parametrize(
    ("path", "payload", "status", "code"),
    [
        ("/v1/deidentify", {"text": "", "operator": "tag"}, 422, "empty-text"),
        ("/v1/deidentify", {"text": NOTE, "operator": "rot13"}, 422, "unknown-operator"),
        ("/v1/deidentify", {"text": NOTE}, 422, "validation-failed"),
        ("/v1/deidentify", {"text": NOTE * 20, "operator": "tag"}, 413, "payload-too-large"),
        ("/v1/deidentify", {"text": NOTE, "operator": "tag", "patient_key": 7}, 422, "validation-failed"),
        ("/v1/deidentify", [NOTE], 422, "validation-failed"),
        ("/v1/deidentify/batch", {"items": [{"text": NOTE, "operator": "tag"}, {"text": NOTE}]}, 422,
         "unknown-operator"),
        ("/v1/deidentify/batch", {"items": [{"text": "a", "operator": "tag"}] * 5}, 413, "payload-too-large"),
        ("/v1/deidentify/batch", {"items": "not a list"}, 422, "validation-failed"),
    ],
)
def test_bad_input_is_problem_json_without_phi(client, log_stream, path, payload, status, code) -> None:
    r = client.post(path, json=payload)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code
    for canary in CANARIES:
        assert canary not in r.text and canary not in log_stream.getvalue()


def test_non_utf8_body_is_400(client) -> None:
    raw = b'{"text": "Zebulon Quixley \xff\xfe", "operator": "tag"}'
    r = client.post("/v1/deidentify", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "invalid-encoding" and "Quixley" not in r.text


def test_phi_canary_never_leaves_the_response(client, log_stream, monkeypatch) -> None:
    """Success, client errors and an internal failure whose exception message quotes the note."""
    seen: list[str] = []
    ok = client.post("/v1/deidentify", json={"text": NOTE, "operator": "surrogate", "patient_key": "pk"})
    seen += [ok.text, str(ok.headers)]
    assert ok.status_code == 200 and not any(c in ok.text for c in CANARIES)
    bad = client.post("/v1/deidentify", json={"text": NOTE, "operator": "nope"})
    seen += [bad.text, str(bad.headers)]
    engine = client.app.state.deid

    def explode(text, language, **kw):
        raise RuntimeError(f"analyzer failed on {text}")

    monkeypatch.setattr(engine.analyzer, "analyze", explode)
    boom = client.post("/v1/deidentify", json={"text": NOTE, "operator": "tag"})
    seen += [boom.text, str(boom.headers)]
    assert boom.status_code == 500 and boom.json()["code"] == "internal"
    logs = log_stream.getvalue()
    assert "RuntimeError" in logs          # the failure is logged, by type only
    for canary in CANARIES:
        assert canary not in logs, canary
        assert not any(canary in s for s in seen[2:]), canary


def test_disabled_engine_answers_503(tmp_path) -> None:
    app = create_app(PreprocessSettings(home=tmp_path, deid_enabled=False))
    r = Client(app).post("/v1/deidentify", json={"text": NOTE, "operator": "tag"})
    assert r.status_code == 503 and "Quixley" not in r.text


def test_production_refuses_to_start_without_a_secret(tmp_path) -> None:
    prod = PreprocessSettings(home=tmp_path, environment="production", dicom_deid_secret="d" * 32,
                              tls_cert_file=tmp_path / "tls.crt", tls_key_file=tmp_path / "tls.key",
                              tls_client_ca_file=tmp_path / "ca.crt")
    with pytest.raises(ValueError, match="PREPROCESS_DEID_SECRET is required"):
        prod.deid_secret_bytes()
    dev = PreprocessSettings(home=tmp_path)
    assert dev.deid_secret_bytes() == dev.deid_secret_bytes() and len(dev.deid_secret_bytes()) >= 32
    assert (tmp_path / "keys" / "deid.secret").stat().st_mode & 0o077 == 0
