"""The audit read API on a real gateway process: ``GET /audit/records`` (filters, pagination),
``POST /audit/verify`` (and where a tampered ledger broke), ``GET /audit/disclosures`` (JSON and CSV, as
``medinfer audit export``), all behind ``audit:read``; no response carries the patient key."""

from __future__ import annotations

import csv
import io
import secrets
import sqlite3
import urllib.parse

import pytest

from medinfer.security.devkeys import mint_dev_token
from tests.support.secure_gateway import GatewayProcess

pytestmark = pytest.mark.integration

MRN = "MRN-0042-CANARY"


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = GatewayProcess(tmp_path_factory.mktemp("audit-api"), {"MEDINFER_GATEWAY_AUDIT_CHECKPOINT_INTERVAL_S": "0"})
    g.start()
    g.reader = mint_dev_token(g.keys, "audit:read", sub="privacy-officer")
    g.caller = mint_dev_token(g.keys, "models:read", sub="svc-reader")
    g.rids = []
    for _ in range(3):
        rid = secrets.token_hex(12)
        r = g.request("GET", "/v2/models/no_such_model", token=g.caller,
                      headers={"X-Request-ID": rid, "X-Patient-Key": MRN})
        assert r.status == 404
        g.rids.append(rid)
    yield g
    g.stop()


def _get(gw, path, **query):
    return gw.request("GET", path + ("?" + urllib.parse.urlencode(query) if query else ""), token=gw.reader)


def test_audit_read_scope_is_required(gw):
    for method, path in (("GET", "/audit/records"), ("POST", "/audit/verify"), ("GET", "/audit/disclosures")):
        r = gw.request(method, path, token=gw.caller)
        assert r.status == 403
        assert r.headers["www-authenticate"] == \
            'Bearer realm="medinfer", error="insufficient_scope", scope="audit:read"'
        assert gw.request(method, path).status == 401


def test_search_by_request_id_principal_route_and_status(gw):
    r = _get(gw, "/audit/records", request_id=gw.rids[0])
    assert r.status == 200 and r.headers["content-type"].startswith("application/json")
    (rec,) = r.json()["records"]
    assert rec["request_id"] == gw.rids[0] and rec["sub"] == "svc-reader" and rec["status"] == 404
    assert rec["route"] == "/v2/models/{name}" or rec["route"].startswith("/v2/models/{")
    assert set(rec) >= {"seq", "ts", "action", "model", "version", "input_digest", "output_digest",
                        "patient_digest", "key_id", "prev_hash", "hash", "phi_counts", "ood_reason"}
    assert len(rec["patient_digest"]) == 64 and MRN not in r.body.decode()
    both = _get(gw, "/audit/records", sub="svc-reader", status=404, route=rec["route"]).json()
    assert {x["request_id"] for x in both["records"]} >= set(gw.rids)
    assert _get(gw, "/audit/records", since="2999-01-01").json()["records"] == []
    bad = _get(gw, "/audit/records", since="yesterday")
    assert bad.status == 422 and bad.headers["content-type"].startswith("application/problem+json")


def test_keyset_pagination(gw):
    first = _get(gw, "/audit/records", sub="svc-reader", limit=1).json()
    assert first["count"] == 1 and first["next_after_seq"] == first["records"][0]["seq"]
    second = _get(gw, "/audit/records", sub="svc-reader", limit=1, after_seq=first["next_after_seq"]).json()
    assert second["records"][0]["seq"] > first["records"][0]["seq"]


def test_disclosures_json_and_csv(gw):
    r = gw.request("GET", "/audit/disclosures?since=2020-01-01", token=gw.reader, headers={"X-Patient-Key": MRN})
    assert r.status == 200
    doc = r.json()
    assert doc["report"] == "accounting-of-disclosures" and doc["count"] == 3
    assert [d["request_id"] for d in doc["disclosures"]] == gw.rids
    assert all(d["recipient_sub"] == "svc-reader" for d in doc["disclosures"]) and MRN not in r.body.decode()
    r = _get(gw, "/audit/disclosures", patient_key=MRN, format="csv")
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.body.decode())))
    assert [row["request_id"] for row in rows[:3]] == gw.rids
    # reading a patient's accounting is itself an access to that patient, recorded like the others
    assert rows[3]["recipient_sub"] == "privacy-officer" and rows[3]["route"] == "/audit/disclosures"
    assert _get(gw, "/audit/disclosures").status == 422  # no patient key


def test_verify_reports_ok_then_where_it_broke(gw):
    r = gw.request("POST", "/audit/verify", token=gw.reader)
    report = r.json()
    assert r.status == 200 and report["ok"] is True and report["first_problem"] is None
    assert report["checked"] >= 3 and report["checkpoints"] >= 1 and report["anchored_seq"] >= 3
    seq = _get(gw, "/audit/records", request_id=gw.rids[1]).json()["records"][0]["seq"]
    con = sqlite3.connect(gw.home / "medinfer.db")
    with con:
        con.execute("UPDATE audit_ledger SET status = 200 WHERE seq = ?", (seq,))
    con.close()
    report = gw.request("POST", "/audit/verify", token=gw.reader).json()
    assert report["ok"] is False
    assert report["first_problem"]["seq"] == seq and report["first_problem"]["kind"] == "edited"
