"""The CapabilityStatement validates as R4(B) and carries the OAuth token endpoint only when it is known."""

from __future__ import annotations

import datetime as dt

from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from medinfer.fhir.capability import INFER_OPERATION, capability_statement

WHEN = dt.datetime(2026, 11, 28, 1, 2, 3, tzinfo=dt.timezone.utc)


def test_statement_without_an_oidc_provider():
    doc = capability_statement(WHEN)
    CapabilityStatement.model_validate(doc)
    assert doc["date"] == "2026-11-28T01:02:03+00:00"
    assert doc["rest"][0]["operation"] == [{"name": "infer", "definition": INFER_OPERATION}]
    assert "extension" not in doc["rest"][0]["security"]


def test_statement_names_the_discovered_token_endpoint():
    doc = capability_statement(WHEN, token_endpoint="https://idp.example/oauth/token")
    CapabilityStatement.model_validate(doc)
    (uris,) = doc["rest"][0]["security"]["extension"]
    assert uris["extension"] == [{"url": "token", "valueUri": "https://idp.example/oauth/token"}]
