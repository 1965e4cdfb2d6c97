"""Security of the running gateway: a real OpenID Provider (npm oidc-provider) issues the tokens,
a real tritonserver serves ``breast_cancer``, and the gateway runs as its own process over HTTPS.

Every rejection case (401/403/413/422/429) is checked on the wire, every request leaves exactly one
audit record, and canary identifiers appear in no log line, audit record, metric or error body."""

from __future__ import annotations

import base64
import json
import sqlite3
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from medinfer.audit import AuditKey, AuditStore, sqlite_url, verify_ledger
from medinfer.security.devkeys import mint_dev_token
from medinfer.shipped_models import ensure_shipped_models
from medinfer.triton.repository import ModelRepository
from medinfer.triton.server import TritonPorts, TritonServer
from tests.support.ports import free_port, free_ports
from tests.support.secure_gateway import GatewayProcess

pytestmark = pytest.mark.integration

EXAMPLE = json.loads(open("examples/infer_breast_cancer.json").read())


@pytest.fixture(scope="module")
def secure_gw(tmp_path_factory, oidc_provider):
    home = tmp_path_factory.mktemp("secure-gw")
    repo = ModelRepository(home / "models")
    ensure_shipped_models(repo, names=["breast_cancer"])
    triton = TritonServer(repo.root, home, TritonPorts(*free_ports(3)),
                          models=("breast_cancer",), log_path=home / "triton.log")
    triton.start()
    grpc_port = free_port()
    gw = GatewayProcess(home, {
        "MEDINFER_GATEWAY_GRPC_PORT": str(grpc_port),
        "MEDINFER_GATEWAY_TRITON_GRPC_TARGET": f"127.0.0.1:{triton.ports.grpc}",
        "MEDINFER_GATEWAY_OIDC_ISSUER": oidc_provider.issuer,
        "MEDINFER_GATEWAY_OIDC_AUDIENCE": oidc_provider.audience,
        "MEDINFER_GATEWAY_TRITON_URL": triton.http_url,
        "MEDINFER_GATEWAY_RATE_LIMIT_RPS": "1",
        "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "25",
        "MEDINFER_GATEWAY_MAX_BODY_BYTES": "65536",
        "MEDINFER_GATEWAY_JSON_MAX_DEPTH": "8",
        # each 401 here is checked for its own record: no aggregation window, no failed-auth budget
        # (tests/integration/test_failed_auth_flood.py covers both)
        "MEDINFER_GATEWAY_AUDIT_FAILURE_WINDOW_S": "0.000001",
        "MEDINFER_GATEWAY_AUTH_FAILURE_BURST": "100000",
    })
    try:
        triton.wait_ready(120)
        gw.start()
        gw.grpc_port = grpc_port
        yield gw
    finally:
        gw.stop()
        triton.stop()


def problem(reply, status: int, code: str | None = None) -> dict:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/problem+json"
    doc = reply.json()
    if code:
        assert doc["code"] == code
    return doc


def audit_rows(gw: GatewayProcess) -> list[dict]:
    con = sqlite3.connect(gw.home / "medinfer.db")
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM audit_ledger ORDER BY seq")]
    finally:
        con.close()


def audit_of(gw: GatewayProcess, reply) -> dict:
    rid = reply.headers["x-request-id"]
    rows = [r for r in audit_rows(gw) if r["request_id"] == rid]
    assert len(rows) == 1, f"expected one audit record for {rid}"
    return rows[0]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- allowed ---------------------------------------------------------------------------------------

def test_oidc_token_runs_inference_and_is_audited(secure_gw, oidc_provider):
    reply = secure_gw.request("POST", "/infer", token=oidc_provider.token("svc-infer"), body=EXAMPLE)
    assert reply.status == 200, reply.body
    assert reply.json()["model"] == "breast_cancer"
    assert reply.headers["strict-transport-security"].startswith("max-age=")
    assert reply.headers["x-content-type-options"] == "nosniff"
    rec = audit_of(secure_gw, reply)
    assert (rec["sub"], rec["client_id"], rec["status"], rec["model"], rec["version"]) == \
        ("svc-infer", "svc-infer", 200, "breast_cancer", "1")
    assert rec["route"] == "/infer" and len(rec["input_digest"]) == 64 and len(rec["output_digest"]) == 64


def test_fhir_capability_names_the_providers_token_endpoint(secure_gw, oidc_provider):
    assert secure_gw.request("POST", "/infer", token=oidc_provider.token("svc-infer"), body=EXAMPLE).status == 200
    reply = secure_gw.request("GET", "/fhir/r4/metadata")  # public: FHIR clients read it before they authenticate
    assert reply.status == 200
    (uris,) = reply.json()["rest"][0]["security"]["extension"]
    token = uris["extension"][0]["valueUri"]
    assert token.startswith(oidc_provider.issuer) and token.endswith("/token")


def test_model_scoped_token(secure_gw, oidc_provider):
    token = oidc_provider.token("svc-one-model")
    assert secure_gw.request("POST", "/infer", token=token, body=EXAMPLE).status == 200


def test_dev_token_from_medinfer_token_is_trusted_in_development(secure_gw):
    token = mint_dev_token(secure_gw.keys, "infer", ttl_s=60, client_id="dev-allowed")
    assert secure_gw.request("POST", "/infer", token=token, body=EXAMPLE).status == 200


def test_health_needs_no_token(secure_gw):
    assert secure_gw.request("GET", "/healthz").status == 200


# -- 401 -------------------------------------------------------------------------------------------

def _signed(secure_gw, claims_over: dict, *, key=None, alg="ES256", kid=None) -> str:
    now = int(time.time())
    claims = {"iss": "urn:medinfer:dev", "aud": "urn:medinfer:gateway", "sub": "attacker", "client_id": "x",
              "scope": "infer", "iat": now, "nbf": now, "exp": now + 300}
    claims.update(claims_over)
    claims = {k: v for k, v in claims.items() if v is not None}
    if key is None:
        key = serialization.load_pem_private_key(secure_gw.keys.private_key_file.read_bytes(), None)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid or secure_gw.keys.kid})


def unauthorized_cases(secure_gw, oidc_provider) -> dict[str, str | None]:
    now = int(time.time())
    pub_pem = serialization.load_pem_private_key(secure_gw.keys.private_key_file.read_bytes(), None).public_key() \
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    import hashlib
    import hmac
    hs_input = _b64(json.dumps({"alg": "HS256", "kid": secure_gw.keys.kid}).encode()) + "." + \
        _b64(json.dumps({"iss": "urn:medinfer:dev", "aud": "urn:medinfer:gateway", "sub": "a",
                         "exp": now + 300, "scope": "infer"}).encode())
    good = oidc_provider.token("svc-infer")
    h, p, s = good.split(".")
    return {
        "missing": None,
        "alg-none": _b64(b'{"alg":"none"}') + "." + p + ".",
        "hs256-with-public-key": hs_input + "." + _b64(hmac.new(pub_pem, hs_input.encode(), hashlib.sha256).digest()),
        "expired": _signed(secure_gw, {"exp": now - 600, "iat": now - 900, "nbf": now - 900}),
        "not-yet-valid": _signed(secure_gw, {"nbf": now + 600}),
        "wrong-audience": _signed(secure_gw, {"aud": "urn:someone-else"}),
        "wrong-issuer": _signed(secure_gw, {"iss": "https://evil.example"}),
        "unknown-key": _signed(secure_gw, {}, key=ec.generate_private_key(ec.SECP256R1()), kid="rotated-out"),
        "forged-signature": _signed(secure_gw, {}, key=ec.generate_private_key(ec.SECP256R1())),
        "tampered-oidc-payload": h + "." + _b64(json.dumps({**jwt.decode(good, options={"verify_signature": False}),
                                                           "scope": "audit:read"}).encode()) + "." + s,
        "malformed": "not-a-jwt",
        "garbage-segments": "eyJ.eyJ.eyJ",
    }


CASES = ["missing", "alg-none", "hs256-with-public-key", "expired", "not-yet-valid", "wrong-audience",
         "wrong-issuer", "unknown-key", "forged-signature", "tampered-oidc-payload", "malformed", "garbage-segments"]


@pytest.mark.parametrize("case", CASES)
def test_rejected_with_401(secure_gw, oidc_provider, case):
    token = unauthorized_cases(secure_gw, oidc_provider)[case]
    reply = secure_gw.request("POST", "/infer", token=token, body=EXAMPLE)
    doc = problem(reply, 401, "unauthorized")
    assert reply.headers["www-authenticate"].startswith('Bearer realm="medinfer"')
    if token:
        assert token not in reply.body.decode() and token[-16:] not in reply.body.decode()
    rec = audit_of(secure_gw, reply)
    assert rec["status"] == 401 and rec["sub"] is None and rec["model"] is None
    assert doc["status"] == 401


# -- 403 -------------------------------------------------------------------------------------------

def test_missing_scope_is_403(secure_gw, oidc_provider):
    reply = secure_gw.request("POST", "/infer", token=oidc_provider.token("svc-readonly"), body=EXAMPLE)
    problem(reply, 403, "forbidden")
    assert 'error="insufficient_scope"' in reply.headers["www-authenticate"]
    rec = audit_of(secure_gw, reply)
    assert (rec["status"], rec["sub"], rec["model"]) == (403, "svc-readonly", None)


def test_model_scope_does_not_cover_other_models(secure_gw):
    token = mint_dev_token(secure_gw.keys, "infer:another_model", ttl_s=60, client_id="dev-scoped")
    reply = secure_gw.request("POST", "/infer", token=token, body=EXAMPLE)
    problem(reply, 403, "forbidden")
    assert audit_of(secure_gw, reply)["model"] == "breast_cancer"


# -- abuse limits ------------------------------------------------------------------------------------

def test_body_too_large_is_413_and_audited(secure_gw, oidc_provider):
    reply = secure_gw.request("POST", "/infer", token=oidc_provider.token("svc-infer"), body=b"{" + b" " * 70000 + b"}")
    problem(reply, 413, "payload-too-large")
    assert audit_of(secure_gw, reply)["status"] == 413


def test_deep_json_is_422(secure_gw):
    deep: dict = {"v": 1}
    for _ in range(20):
        deep = {"n": deep}
    token = mint_dev_token(secure_gw.keys, "infer", ttl_s=60, client_id="dev-deep")
    problem(secure_gw.request("POST", "/infer", token=token, body={"input": deep}), 422, "validation-failed")


def test_rate_limit_is_429_with_retry_after(secure_gw):
    token = mint_dev_token(secure_gw.keys, "infer", ttl_s=60, client_id="dev-flood")
    statuses = []
    for _ in range(100):  # burst 25 at 1/s refill: the bucket empties well before 100
        reply = secure_gw.request("POST", "/infer", token=token, body=b"{}")
        statuses.append(reply.status)
        if reply.status == 429:
            break
    assert statuses[0] == 422 and statuses[-1] == 429 and len(statuses) >= 25
    problem(reply, 429, "rate-limited")
    assert int(reply.headers["retry-after"]) >= 1
    assert audit_of(secure_gw, reply)["client_id"] == "dev-flood"
    other = mint_dev_token(secure_gw.keys, "infer", ttl_s=60, client_id="dev-other")
    assert secure_gw.request("POST", "/infer", token=other, body=b"{}").status == 422  # buckets are per client


# -- canaries: no PHI in logs, audit, errors --------------------------------------------------------

def test_canary_identifiers_leak_nowhere(secure_gw, oidc_provider):
    canaries = ["CANARY-MRN-99173", "Zebulon Quagmire-Canary", "canary-ssn-078-05-1120"]
    token = oidc_provider.token("svc-infer")
    bodies = []
    record = dict(EXAMPLE["input"], patient_name=canaries[1], mrn=canaries[0])
    replies = [
        secure_gw.request("POST", "/infer", token=token, body={"input": record, "model": "breast_cancer"},
                      headers={"X-Patient-Key": canaries[0]}),
        secure_gw.request("POST", "/infer", token=token, body={"input": EXAMPLE["input"], "model": canaries[1]}),
        secure_gw.request("POST", f"/infer/{canaries[0]}", token=token, body=EXAMPLE),
        secure_gw.request("POST", f"/infer?mrn={canaries[2]}", token=token, body={"input": canaries[2]}),
        secure_gw.request("POST", "/infer", token=token, body=("{\"input\": \"" + canaries[2]).encode()),
        secure_gw.request("POST", "/infer", token=canaries[2], body=EXAMPLE),
        secure_gw.request("POST", "/infer", token=token, body=EXAMPLE, headers={"X-Request-ID": canaries[0]}),
    ]
    for reply in replies:
        bodies.append(reply.body.decode())
    assert {r.status for r in replies} <= {200, 400, 401, 404, 405, 413, 422}
    # The gateway's own log, then every audit column (the ledger is flushed before each response).
    log_text = secure_gw.log_path.read_text()
    audit_text = json.dumps(audit_rows(secure_gw))
    metrics = secure_gw.metrics()
    assert metrics.status == 200 and b"# TYPE" in metrics.body
    metrics_text = metrics.body.decode()
    for c in canaries:
        for where, text in (("error body", "\n".join(bodies)), ("log", log_text), ("audit", audit_text),
                            ("metrics", metrics_text)):
            assert c.lower() not in text.lower(), f"canary found in {where}"
    # The patient key is recorded only as a keyed digest, which accounting of disclosures can find.
    key = AuditKey.from_file(secure_gw.keys.audit_key_file)
    assert key.patient_digest(canaries[0]) in audit_text


def test_every_request_audited_and_chain_verifies(secure_gw, oidc_provider):
    """Independent of the other tests: its own mix of outcomes, each leaves exactly one record, and the chain holds."""
    token = oidc_provider.token("svc-infer")
    store = AuditStore(sqlite_url(secure_gw.home / "medinfer.db"), migrate=False)
    try:
        before = store.count()
        statuses = [
            secure_gw.request("POST", "/infer", token=token, body=EXAMPLE).status,
            secure_gw.request("POST", "/infer", token=None, body=EXAMPLE).status,
            secure_gw.request("POST", "/infer", token=token, body=b"{not json").status,
            secure_gw.request("POST", "/infer", token=token, body=b"{" + b" " * 70000 + b"}").status,
            secure_gw.request("GET", "/no/such/route", token=token).status,
        ]
        assert statuses == [200, 401, 400, 413, 404]
        assert store.count() - before == len(statuses)
        res = verify_ledger(store, [AuditKey.from_file(secure_gw.keys.audit_key_file)])
        assert res.ok and res.checked == store.count()
    finally:
        store.dispose()


# -- gRPC (tritonclient.grpc through the gateway) ------------------------------------------------------

def _grpc(gw: GatewayProcess):
    import tritonclient.grpc as grpcclient

    return grpcclient.InferenceServerClient(f"127.0.0.1:{gw.grpc_port}", ssl=True,
                                            root_certificates=str(gw.tls.ca_file))


def _grpc_infer(gw: GatewayProcess, token: str | None):
    import numpy as np
    import tritonclient.grpc as grpcclient

    client = _grpc(gw)
    inp = grpcclient.InferInput("features", [1, 30], "FP32")
    inp.set_data_from_numpy(np.full((1, 30), 1.0, dtype=np.float32))
    headers = {"authorization": f"Bearer {token}"} if token else None
    try:
        return client.infer("breast_cancer", [inp], headers=headers, client_timeout=15)
    finally:
        client.close()


def test_grpc_needs_a_token_and_the_infer_scope(secure_gw, oidc_provider):
    from tritonclient.utils import InferenceServerException

    n_before = len(audit_rows(secure_gw))
    assert _grpc_infer(secure_gw, oidc_provider.token("svc-infer")).as_numpy("probability").shape == (1, 1)
    for token, status in ((None, "UNAUTHENTICATED"), ("not-a-jwt", "UNAUTHENTICATED"),
                          (oidc_provider.token("svc-readonly"), "PERMISSION_DENIED")):
        with pytest.raises(InferenceServerException) as info:
            _grpc_infer(secure_gw, token)
        assert status in str(info.value.status())
    rows = audit_rows(secure_gw)[n_before:]
    grpc_rows = [r for r in rows if r["action"] == "grpc ModelInfer"]
    assert [r["status"] for r in grpc_rows] == [200, 401, 401, 403]
    assert grpc_rows[0]["sub"] == "svc-infer" and grpc_rows[0]["model"] == "breast_cancer"


def test_grpc_canaries_stay_out_of_the_audit(secure_gw, oidc_provider):
    import numpy as np
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    canary = "CANARY-MRN-55821"
    client = _grpc(secure_gw)
    inp = grpcclient.InferInput("features", [1, 30], "FP32")
    inp.set_data_from_numpy(np.ones((1, 30), dtype=np.float32))
    headers = {"authorization": f"Bearer {oidc_provider.token('svc-infer')}", "x-request-id": canary}
    with pytest.raises(InferenceServerException):
        client.infer(canary, [inp], headers=headers, client_timeout=15)
    client.close()
    text = json.dumps(audit_rows(secure_gw)) + secure_gw.log_path.read_text()
    assert canary.lower() not in text.lower()


def test_smart_configuration_publishes_the_providers_endpoints(secure_gw, oidc_provider):
    for path in ("/.well-known/smart-configuration", "/fhir/r4/.well-known/smart-configuration"):
        reply = secure_gw.request("GET", path)  # public, like the CapabilityStatement
        assert reply.status == 200 and reply.headers["content-type"].startswith("application/json")
        doc = reply.json()
        assert doc["issuer"].rstrip("/") == oidc_provider.issuer.rstrip("/")
        assert doc["token_endpoint"].startswith(oidc_provider.issuer) and doc["token_endpoint"].endswith("/token")
        assert doc["jwks_uri"].startswith(oidc_provider.issuer)
        assert "client_credentials" in doc["grant_types_supported"]
        assert {"permission-v1", "permission-v2"} <= set(doc["capabilities"])
        assert "system/*.read" in doc["scopes_supported"] and "S256" in doc["code_challenge_methods_supported"]


def test_every_403_says_insufficient_scope(secure_gw):
    """RFC 6750 section 3.1 on every route that refuses a token for its scopes."""
    token = mint_dev_token(secure_gw.keys, "models:read", ttl_s=60, client_id="dev-403")
    for method, path, body in (("POST", "/infer", EXAMPLE), ("GET", "/audit/records", None),
                               ("POST", "/admin/models/breast_cancer/promote", {"version": 1})):
        reply = secure_gw.request(method, path, token=token, body=body)
        assert reply.status == 403, path
        challenge = reply.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="medinfer", error="insufficient_scope"'), (path, challenge)
