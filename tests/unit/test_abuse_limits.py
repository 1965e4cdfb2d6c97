"""Rate limit, JSON shape limits, security headers, production settings refusal."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from medinfer.common.edge import EdgeMiddleware
from medinfer.common.errors import RateLimited, ValidationFailed
from medinfer.security import JsonLimits, TokenBucketLimiter, check_json_shape, security_headers
from medinfer.security.settings import SecuritySettings


def test_token_bucket_burst_then_retry_after():
    now = [1000.0]
    lim = TokenBucketLimiter(rate=2, burst=3, clock=lambda: now[0])
    for _ in range(3):
        lim.check("a")
    with pytest.raises(RateLimited) as ei:
        lim.check("a")
    assert ei.value.status == 429 and ei.value.headers["Retry-After"] == "1"
    lim.check("b")  # buckets are per client
    now[0] += 0.5
    lim.check("a")  # one token refilled
    with pytest.raises(RateLimited):
        lim.check("a")


def test_token_bucket_bounds_its_memory():
    lim = TokenBucketLimiter(rate=1, burst=1, max_clients=10)
    for i in range(100):
        lim.check(f"c{i}")
    assert len(lim._buckets) == 10


@pytest.mark.parametrize("doc,limit", [
    ({"a": [[[[1]]]]}, JsonLimits(max_depth=4)),
    ([0] * 11, JsonLimits(max_array_len=10)),
    ({str(i): i for i in range(11)}, JsonLimits(max_object_keys=10)),
    ({"note": "x" * 11}, JsonLimits(max_string_len=10)),
])
def test_json_shape_rejections(doc, limit):
    with pytest.raises(ValidationFailed) as ei:
        check_json_shape(doc, limit)
    assert ei.value.status == 422 and "x" * 11 not in ei.value.detail


def test_json_shape_accepts_normal_payloads_and_survives_hostile_nesting():
    check_json_shape({"input": {"data": [[0.1] * 30] * 4, "shape": [4, 30], "datatype": "FP32"}})
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValidationFailed):
        check_json_shape(deep)


def _headers_for(scheme: str) -> dict[bytes, bytes]:
    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"cache-control", b"max-age=5")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(msg):
        sent.append(msg)

    mw = EdgeMiddleware(app, max_body_bytes=100, https_headers=security_headers(600), http_headers=security_headers(None))
    asyncio.run(mw({"type": "http", "scheme": scheme, "headers": []}, None, send))
    return dict(sent[0]["headers"])


def test_security_headers():
    https = _headers_for("https")
    assert https[b"strict-transport-security"] == b"max-age=600; includeSubDomains"
    assert https[b"x-content-type-options"] == b"nosniff" and https[b"x-frame-options"] == b"DENY"
    assert https[b"cache-control"] == b"max-age=5"  # the route's own header wins
    assert b"strict-transport-security" not in _headers_for("http")


def test_production_refuses_unsafe_settings(tmp_path):
    with pytest.raises(ValidationError) as ei:
        SecuritySettings(environment="production", home=tmp_path, trust_dev_key=True, auth_enabled=False)
    msg = str(ei.value)
    for part in ("auth_enabled", "development signing key", "oidc_issuer is required", "audit_key_file"):
        assert part in msg
    with pytest.raises(ValidationError, match="https"):
        SecuritySettings(environment="production", home=tmp_path, oidc_issuer="http://idp", audit_key_file=tmp_path / "k")
    with pytest.raises(ValidationError, match="development key"):
        SecuritySettings(environment="production", home=tmp_path, oidc_issuer="https://idp",
                         audit_key_file=tmp_path / "keys" / "audit-hmac.key")
    with pytest.raises(ValidationError, match="audit_checkpoint_file must be set"):
        SecuritySettings(environment="production", home=tmp_path, oidc_issuer="https://idp",
                         audit_key_file=tmp_path / "secret.key")
    with pytest.raises(ValidationError, match="audit_checkpoint_key_file may not be the development key"):
        SecuritySettings(environment="production", home=tmp_path, oidc_issuer="https://idp",
                         audit_key_file=tmp_path / "secret.key", audit_checkpoint_file=tmp_path / "cp.jsonl",
                         audit_checkpoint_key_file=tmp_path / "keys" / "audit-checkpoint.pem")
    ok = SecuritySettings(environment="production", home=tmp_path, oidc_issuer="https://idp",
                          audit_key_file=tmp_path / "secret.key", audit_checkpoint_file=tmp_path / "cp.jsonl",
                          audit_checkpoint_key_file=tmp_path / "cp.pem")
    assert not ok.dev_key_trusted
    assert SecuritySettings(home=tmp_path).dev_key_trusted


def test_production_refusal_reaches_gateway_settings(tmp_path):
    from medinfer.gateway.settings import GatewaySettings

    with pytest.raises(ValidationError, match="development signing key"):
        GatewaySettings(environment="production", home=tmp_path, trust_dev_key=True)
