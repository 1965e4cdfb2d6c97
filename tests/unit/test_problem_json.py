from medinfer.common.errors import BackendUnavailable, RateLimited, Unauthorized, ValidationFailed


def test_problem_document_has_rfc9457_members() -> None:
    doc = ValidationFailed("feature 'x' must be a number", field="x").to_problem(instance="rid")
    assert doc["type"] == "urn:medinfer:problem:validation-failed"
    assert doc["status"] == 422 and doc["title"] and doc["detail"] and doc["instance"] == "rid"
    assert doc["field"] == "x"


def test_errors_carry_their_protocol_headers() -> None:
    assert BackendUnavailable(retry_after=3).headers["Retry-After"] == "3"
    assert RateLimited().headers["Retry-After"] == "1"
    assert Unauthorized().headers["WWW-Authenticate"].startswith("Bearer ")
