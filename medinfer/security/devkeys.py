"""The local development signing key and the tokens ``medinfer token`` mints with it.

``medinfer up`` calls :func:`ensure_dev_keys`; the gateway then trusts the key
(as issuer :data:`DEV_ISSUER`) outside production. Production settings refuse
it: anyone with read access to ``<home>/keys/`` could mint tokens.
The same call creates the audit HMAC key used in development.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

__all__ = ["DEV_ISSUER", "DEFAULT_AUDIENCE", "DevKeys", "ensure_dev_keys", "mint_dev_token", "parse_ttl"]

DEV_ISSUER = "urn:medinfer:dev"
DEFAULT_AUDIENCE = "urn:medinfer:gateway"


@dataclass(frozen=True)
class DevKeys:
    private_key_file: Path
    jwks_file: Path
    audit_key_file: Path
    kid: str

    def jwks(self) -> dict:
        return json.loads(self.jwks_file.read_text())


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def ensure_dev_keys(home: Path) -> DevKeys:
    """Create (once) an ES256 signing key, its public JWKS and an audit HMAC key under ``<home>/keys``."""
    d = Path(home) / "keys"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    priv, pub, audit = d / "dev-signing-key.pem", d / "dev-jwks.json", d / "audit-hmac.key"
    if not audit.is_file():
        _write_private(audit, secrets.token_hex(32).encode())
    if priv.is_file() and pub.is_file():
        kid = json.loads(pub.read_text())["keys"][0]["kid"]
        return DevKeys(priv, pub, audit, kid)
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    kid = "dev-" + secrets.token_hex(6)
    jwk.update({"kid": kid, "use": "sig", "alg": "ES256"})
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_private(priv, pem)
    pub.write_text(json.dumps({"keys": [jwk]}, indent=2))
    return DevKeys(priv, pub, audit, kid)


def parse_ttl(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``1h``, ``1d`` -> seconds."""
    text = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    mult = units.get(text[-1:], None)
    number = text[:-1] if mult else text
    if not (number.isascii() and number.isdigit()) or int(number) <= 0:
        raise ValueError("ttl must look like 90s, 15m, 1h or 1d")
    return int(number) * (mult or 1)


def mint_dev_token(
    keys: DevKeys,
    scopes: list[str] | str,
    *,
    ttl_s: int = 3600,
    sub: str = "dev-user",
    client_id: str = "medinfer-cli",
    audience: str = DEFAULT_AUDIENCE,
) -> str:
    scope = scopes if isinstance(scopes, str) else " ".join(scopes)
    now = int(time.time())
    claims = {
        "iss": DEV_ISSUER, "aud": audience, "sub": sub, "client_id": client_id,
        "scope": " ".join(scope.split()), "iat": now, "nbf": now, "exp": now + int(ttl_s),
        "jti": secrets.token_hex(8),
    }
    key = serialization.load_pem_private_key(keys.private_key_file.read_bytes(), password=None)
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": keys.kid, "typ": "at+jwt"})
