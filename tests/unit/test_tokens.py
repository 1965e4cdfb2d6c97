"""Token verification: every rejection is a 401 with WWW-Authenticate, never a crash."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from medinfer.common.errors import Unauthorized
from medinfer.security import StaticKeySource, TokenVerifier, TrustedIssuer, bearer_token
from medinfer.security.devkeys import DEFAULT_AUDIENCE, DEV_ISSUER, ensure_dev_keys, mint_dev_token

ISS = "https://idp.example.test"
AUD = "urn:medinfer:gateway"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def verifier(rsa_key, ec_key, tmp_path):
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key())) | {"kid": "rsa1", "use": "sig"}
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec_key.public_key())) | {"kid": "ec1", "alg": "ES256"}
    dev = ensure_dev_keys(tmp_path)
    return TokenVerifier([
        TrustedIssuer(ISS, AUD, StaticKeySource({"keys": [rsa_jwk, ec_jwk]})),
        TrustedIssuer(DEV_ISSUER, DEFAULT_AUDIENCE, StaticKeySource(dev.jwks())),
    ], leeway_s=30)


def claims(**over):
    now = int(time.time())
    base = {"iss": ISS, "aud": AUD, "sub": "client-a", "client_id": "client-a", "scope": "infer models:read",
            "iat": now, "nbf": now, "exp": now + 300}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def verify(v: TokenVerifier, token: str):
    return asyncio.run(v.verify(token))


def rejects(v: TokenVerifier, token: str, reason: str) -> None:
    with pytest.raises(Unauthorized) as ei:
        verify(v, token)
    assert ei.value.status == 401
    assert ei.value.headers["WWW-Authenticate"].startswith("Bearer ")
    assert reason in ei.value.detail
    assert token[:20] not in ei.value.detail


@pytest.mark.parametrize("alg,kid", [("RS256", "rsa1"), ("PS256", "rsa1"), ("ES256", "ec1")])
def test_accepts_asymmetric_algorithms(verifier, rsa_key, ec_key, alg, kid):
    key = ec_key if alg == "ES256" else rsa_key
    p = verify(verifier, jwt.encode(claims(), key, algorithm=alg, headers={"kid": kid}))
    assert (p.sub, p.client_id, p.scopes) == ("client-a", "client-a", frozenset({"infer", "models:read"}))


def test_dev_token_round_trip(verifier, tmp_path):
    token = mint_dev_token(ensure_dev_keys(tmp_path), "infer:breast_cancer", ttl_s=60)
    p = verify(verifier, token)
    assert p.may_infer("breast_cancer") and not p.may_infer("other") and p.issuer == DEV_ISSUER


def test_alg_none_rejected(verifier):
    token = _b64(b'{"alg":"none","typ":"JWT","kid":"rsa1"}') + "." + _b64(json.dumps(claims()).encode()) + "."
    rejects(verifier, token, "algorithm not accepted")


def test_hs256_signed_with_public_key_rejected(verifier, rsa_key):
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = _b64(b'{"alg":"HS256","typ":"JWT","kid":"rsa1"}') + "." + _b64(json.dumps(claims()).encode())
    sig = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    rejects(verifier, signing_input + "." + _b64(sig), "algorithm not accepted")


def test_expired_rejected_and_leeway_honoured(verifier, rsa_key):
    now = int(time.time())
    rejects(verifier, jwt.encode(claims(exp=now - 120), rsa_key, "RS256", headers={"kid": "rsa1"}), "expired")
    assert verify(verifier, jwt.encode(claims(exp=now - 5), rsa_key, "RS256", headers={"kid": "rsa1"}))


def test_not_yet_valid_rejected(verifier, rsa_key):
    token = jwt.encode(claims(nbf=int(time.time()) + 600), rsa_key, "RS256", headers={"kid": "rsa1"})
    rejects(verifier, token, "not yet valid")


def test_wrong_audience_and_issuer(verifier, rsa_key):
    rejects(verifier, jwt.encode(claims(aud="urn:other"), rsa_key, "RS256", headers={"kid": "rsa1"}), "audience")
    rejects(verifier, jwt.encode(claims(iss="https://evil.test"), rsa_key, "RS256", headers={"kid": "rsa1"}), "issuer")


def test_unknown_key_and_forged_signature(verifier):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rejects(verifier, jwt.encode(claims(), other, "RS256", headers={"kid": "rotated-away"}), "unknown key")
    rejects(verifier, jwt.encode(claims(), other, "RS256", headers={"kid": "rsa1"}), "signature invalid")


def test_algorithm_must_match_key(verifier, rsa_key, ec_key):
    # RS256 header pointing at the EC key, and ES256 header at the RSA key.
    rejects(verifier, jwt.encode(claims(), rsa_key, "RS256", headers={"kid": "ec1"}), "does not match")
    rejects(verifier, jwt.encode(claims(), ec_key, "ES256", headers={"kid": "rsa1"}), "does not match")


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", "eyJhbGciOiJSUzI1NiJ9.%%%.sig", "x" * 9000,
                                   _b64(b"[1,2]") + "." + _b64(b"{}") + ".c"])
def test_malformed_rejected(verifier, token):
    with pytest.raises(Unauthorized):
        verify(verifier, token)


@pytest.mark.parametrize("missing", ["exp", "sub", "aud"])
def test_required_claims(verifier, rsa_key, missing):
    rejects(verifier, jwt.encode(claims(**{missing: None}), rsa_key, "RS256", headers={"kid": "rsa1"}), "")


def test_cache_hit_and_expiry_of_cached_token(verifier, rsa_key, monkeypatch):
    token = jwt.encode(claims(exp=int(time.time()) + 60), rsa_key, "RS256", headers={"kid": "rsa1"})
    first = verify(verifier, token)
    assert verify(verifier, token) is first
    real = time.time
    monkeypatch.setattr("medinfer.security.tokens.time.time", lambda: real() + 3600)
    rejects(verifier, token, "expired")


def test_scp_list_claim(verifier, rsa_key):
    token = jwt.encode(claims(scope=None, scp=["audit:read"]), rsa_key, "RS256", headers={"kid": "rsa1"})
    assert verify(verifier, token).scopes == frozenset({"audit:read"})


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
def test_bearer_header_parsing(header):
    with pytest.raises(Unauthorized) as ei:
        bearer_token(header)
    assert 'error="invalid_request"' in ei.value.headers["WWW-Authenticate"]
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"
