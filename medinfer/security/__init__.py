"""Authentication, authorization and abuse limits for the gateway.

Logic (no FastAPI): :class:`TokenVerifier`, key sources, :class:`Principal`,
:class:`TokenBucketLimiter`, :func:`check_json_shape`, dev keys, settings,
:func:`build_security`. FastAPI glue lives in :mod:`medinfer.security.deps`;
:func:`security_headers` lists the response headers the edge middleware adds.
"""

from medinfer.security.devkeys import DEV_ISSUER, DevKeys, ensure_dev_keys, mint_dev_token
from medinfer.security.headers import security_headers
from medinfer.security.jsonlimits import JsonLimits, check_json_shape
from medinfer.security.keys import OIDCKeySource, StaticKeySource
from medinfer.security.principal import Principal, require_infer, require_scope, require_some_infer
from medinfer.security.ratelimit import TokenBucketLimiter
from medinfer.security.service import SecurityService, build_security
from medinfer.security.settings import SecuritySettings
from medinfer.security.smart import fhir_principal, may_use_fhir, smart_grants_infer, smart_read_types
from medinfer.security.tokens import TokenVerifier, TrustedIssuer, bearer_token

__all__ = [
    "DEV_ISSUER", "DevKeys", "ensure_dev_keys", "mint_dev_token", "security_headers", "JsonLimits",
    "check_json_shape", "OIDCKeySource", "StaticKeySource", "Principal", "require_infer", "require_scope",
    "require_some_infer",
    "TokenBucketLimiter", "SecurityService", "build_security", "SecuritySettings", "TokenVerifier",
    "TrustedIssuer", "bearer_token", "fhir_principal", "may_use_fhir", "smart_grants_infer", "smart_read_types",
]
