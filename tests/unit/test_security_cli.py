"""``medinfer token`` and ``medinfer audit verify|export`` through the real typer app."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from medinfer.audit import AuditEvent, AuditKey, AuditStore, sqlite_url
from medinfer.cli.main import app
from medinfer.security import StaticKeySource, TokenVerifier, TrustedIssuer
from medinfer.security.devkeys import DEFAULT_AUDIENCE, DEV_ISSUER, ensure_dev_keys


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDINFER_HOME", str(tmp_path))
    monkeypatch.delenv("MEDINFER_ENVIRONMENT", raising=False)
    return tmp_path


def test_token_is_accepted_by_the_verifier(home):
    res = CliRunner().invoke(app, ["token", "--scope", "infer models:read", "--ttl", "15m"])
    assert res.exit_code == 0, res.output
    keys = ensure_dev_keys(home)
    v = TokenVerifier([TrustedIssuer(DEV_ISSUER, DEFAULT_AUDIENCE, StaticKeySource(keys.jwks()))])
    p = asyncio.run(v.verify(res.stdout.strip()))
    assert p.scopes == frozenset({"infer", "models:read"}) and 850 < p.expires_at - __import__("time").time() <= 900


@pytest.mark.parametrize("args", [["--scope", "root"], ["--ttl", "forever"], ["--ttl", "30d"]])
def test_token_rejects_bad_options(home, args):
    assert CliRunner().invoke(app, ["token", *args]).exit_code == 2


def test_token_refused_in_production(home, monkeypatch):
    monkeypatch.setenv("MEDINFER_ENVIRONMENT", "production")
    monkeypatch.setenv("MEDINFER_GATEWAY_OIDC_ISSUER", "https://idp.example")
    monkeypatch.setenv("MEDINFER_GATEWAY_AUDIT_KEY_FILE", str(home / "prod.key"))
    monkeypatch.setenv("MEDINFER_GATEWAY_AUDIT_CHECKPOINT_FILE", str(home / "cps.jsonl"))
    monkeypatch.setenv("MEDINFER_GATEWAY_AUDIT_CHECKPOINT_KEY_FILE", str(home / "prod-cp.pem"))
    res = CliRunner().invoke(app, ["token"])
    assert res.exit_code == 2 and "not trusted" in res.stderr


def _ledger(home):
    keys = ensure_dev_keys(home)
    key = AuditKey.from_file(keys.audit_key_file)
    store = AuditStore(sqlite_url(home / "medinfer.db"))
    evs = [AuditEvent(action="POST /infer", route="/infer", status=200, request_id=f"r{i}", sub="svc",
                      client_id="svc", patient_digest=key.patient_digest("MRN-42") if i < 3 else None)
           for i in range(6)]
    store.append(evs, key)
    return store


def test_audit_verify_ok_then_tampered(home):
    store = _ledger(home)
    # written straight to the store, without checkpoints (tests/unit/test_audit_checkpoints.py covers those)
    res = CliRunner().invoke(app, ["audit", "verify", "--no-checkpoints"])
    assert res.exit_code == 0 and "6 records" in res.stdout
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_ledger SET status = 500 WHERE seq = 4"))
    res = CliRunner().invoke(app, ["audit", "verify", "--no-checkpoints"])
    assert res.exit_code == 1 and "record 4: edited" in res.stderr
    store.dispose()


def test_audit_export_json_and_csv(home, tmp_path):
    _ledger(home).dispose()
    res = CliRunner().invoke(app, ["audit", "export", "--patient-key", "MRN-42", "--since", "2020-01-01"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["count"] == 3 and "MRN-42" not in res.stdout
    out = tmp_path / "d.csv"
    res = CliRunner().invoke(app, ["audit", "export", "--patient-key", "-", "--format", "csv", "--out", str(out)],
                             input="MRN-42\n")
    assert res.exit_code == 0 and len(list(csv.DictReader(io.StringIO(out.read_text())))) == 3
    assert CliRunner().invoke(app, ["audit", "export", "--patient-key", "x", "--since", "yesterday"]).exit_code == 2


def test_token_accepts_smart_system_scopes(home):
    res = CliRunner().invoke(app, ["token", "--scope", "system/Observation.read"])
    assert res.exit_code == 0, res.output
    keys = ensure_dev_keys(home)
    v = TokenVerifier([TrustedIssuer(DEV_ISSUER, DEFAULT_AUDIENCE, StaticKeySource(keys.jwks()))])
    assert asyncio.run(v.verify(res.stdout.strip())).scopes == frozenset({"system/Observation.read"})
    assert CliRunner().invoke(app, ["token", "--scope", "system/Observation"]).exit_code == 2
