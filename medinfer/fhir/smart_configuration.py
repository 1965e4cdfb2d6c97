"""``/.well-known/smart-configuration`` (SMART App Launch 2.x, section "SMART configuration").

SMART clients read it to find the authorization server. medinfer is a resource
server for backend services: it publishes its OpenID Provider's endpoints and
authentication methods (taken from the provider's own discovery document, so
the two never disagree), the scopes this gateway understands, and the
capabilities that follow (``client-confidential-asymmetric`` when the provider
accepts ``private_key_jwt``, SMART v1 and v2 permissions). No launch flows:
``authorization_endpoint`` is passed on only when the provider has one.
"""

from __future__ import annotations

from typing import Any

__all__ = ["smart_configuration", "SCOPES_SUPPORTED"]

SCOPES_SUPPORTED = ("system/*.read", "system/*.rs", "user/*.read", "user/*.rs", "infer", "models:read",
                    "models:write", "audit:read")
_PASS_THROUGH = ("issuer", "jwks_uri", "token_endpoint", "authorization_endpoint", "introspection_endpoint",
                 "revocation_endpoint", "token_endpoint_auth_methods_supported",
                 "token_endpoint_auth_signing_alg_values_supported", "grant_types_supported",
                 "code_challenge_methods_supported", "response_types_supported")


def smart_configuration(discovery: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {k: discovery[k] for k in _PASS_THROUGH if k in discovery}
    doc.setdefault("grant_types_supported", ["client_credentials"])
    doc.setdefault("code_challenge_methods_supported", ["S256"])
    methods = set(doc.get("token_endpoint_auth_methods_supported") or [])
    capabilities = ["permission-v1", "permission-v2"]
    if "private_key_jwt" in methods:
        capabilities.insert(0, "client-confidential-asymmetric")
    if methods & {"client_secret_basic", "client_secret_post"}:
        capabilities.insert(0, "client-confidential-symmetric")
    doc["capabilities"] = capabilities
    doc["scopes_supported"] = list(SCOPES_SUPPORTED)
    return doc
