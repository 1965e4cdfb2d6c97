"""The running gateway follows an OpenID Provider's key rotation (refetch on unknown ``kid``, rate-limited)
and fails closed (503) while its audit store cannot be written."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from medinfer.common.errors import Unauthorized
from medinfer.security import OIDCKeySource, TokenVerifier, TrustedIssuer
from tests.support.oidc_provider import OIDCProvider
from tests.support.secure_gateway import GatewayProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_provider():
    op = OIDCProvider()
    op.start()
    yield op
    op.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, own_provider):
    gw = GatewayProcess(tmp_path_factory.mktemp("rot-gw"), {
        "MEDINFER_GATEWAY_OIDC_ISSUER": own_provider.issuer,
        "MEDINFER_GATEWAY_OIDC_AUDIENCE": own_provider.audience,
        "MEDINFER_GATEWAY_JWKS_MIN_REFETCH_S": "0",
        # every 401 here is written on its own (the outage test needs a write per request); aggregation of
        # failed-auth records is tested in test_failed_auth_flood.py
        "MEDINFER_GATEWAY_AUDIT_FAILURE_WINDOW_S": "0.000001",
        "MEDINFER_GATEWAY_AUTH_FAILURE_BURST": "100000",
    })
    gw.start()
    yield gw
    gw.stop()


def test_rotated_key_is_fetched_and_retired_key_refused(gateway, own_provider):
    # Past authentication the empty body is a 422; a 401 means the token was refused.
    before = own_provider.token("svc-infer")
    unused_old = own_provider.token("svc-infer")
    assert gateway.request("POST", "/infer", token=before, body=b"{}").status == 422
    own_provider.rotate()  # same issuer URL, new signing key and kid
    after = own_provider.token("svc-infer")
    assert gateway.request("POST", "/infer", token=after, body=b"{}").status == 422
    # A token signed by the retired key and never seen before is refused (its kid is gone from the JWKS).
    reply = gateway.request("POST", "/infer", token=unused_old, body=b"{}")
    assert reply.status == 401 and "unknown key" in reply.json()["detail"]
    # A token verified before rotation stays valid from the cache until it expires.
    assert gateway.request("POST", "/infer", token=before, body=b"{}").status == 422


def test_unknown_kid_refetch_is_rate_limited(own_provider):
    async def run():
        src = OIDCKeySource(own_provider.issuer, min_refetch_s=60)
        v = TokenVerifier([TrustedIssuer(own_provider.issuer, own_provider.audience, src)])
        await v.verify(own_provider.token("svc-infer"))
        fetched = src.fetch_count
        forged = own_provider.token("svc-infer").split(".")
        import base64
        import json
        header = json.dumps({"alg": "RS256", "kid": "garbage"}).encode()
        bad = base64.urlsafe_b64encode(header).rstrip(b"=").decode() + "." + forged[1] + "." + forged[2]
        for _ in range(20):
            with pytest.raises(Unauthorized):
                await v.verify(bad)
        await v.aclose()
        return src.fetch_count - fetched

    assert asyncio.run(run()) <= 1


def test_audit_outage_fails_closed_with_503(gateway):
    token_ok = gateway.request("POST", "/infer", token=None, body=b"{}")
    assert token_ok.status == 401
    con = sqlite3.connect(gateway.home / "medinfer.db")
    try:
        con.execute("ALTER TABLE audit_ledger RENAME TO audit_ledger_offline")
        con.commit()
        reply = gateway.request("POST", "/infer", token=None, body=b"{}")
        assert reply.status == 503 and reply.json()["code"] == "audit-unavailable"
        assert "retry-after" in reply.headers
    finally:
        con.execute("ALTER TABLE audit_ledger_offline RENAME TO audit_ledger")
        con.commit()
        con.close()
    assert gateway.request("POST", "/infer", token=None, body=b"{}").status == 401
    metrics = gateway.metrics().body.decode()
    failures = [ln for ln in metrics.splitlines() if ln.startswith("medinfer_audit_write_failures_total ")]
    assert failures and float(failures[0].split()[1]) >= 1
    waits = [ln for ln in metrics.splitlines() if ln.startswith("medinfer_audit_write_duration_seconds_count ")]
    assert waits and float(waits[0].split()[1]) >= 3  # every append is timed, failed ones too
