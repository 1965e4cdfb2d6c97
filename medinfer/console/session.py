"""The console's session: an encrypted, authenticated cookie (Fernet) holding the person's access token.

The cookie is ``__Host-`` prefixed, Secure, HttpOnly, SameSite=Strict, Path=/; the browser never sees the
token in clear. Every request re-verifies the token with the gateway's own verifier, so a session lasts no
longer than its token and carries exactly the token's scopes. A login in progress (state, PKCE verifier,
nonce) lives in a second, short-lived cookie that is SameSite=Lax: the provider's redirect back is a
cross-site navigation, which a Strict cookie would not survive.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["SessionCodec", "ConsoleSession", "SESSION_COOKIE", "LOGIN_COOKIE", "load_session_key"]

SESSION_COOKIE = "__Host-medinfer-console"
LOGIN_COOKIE = "__Host-medinfer-console-login"
LOGIN_TTL_S = 600


def load_session_key(path: Path, *, create: bool) -> bytes:
    """The Fernet key at ``path``; created (mode 0600) when ``create`` (development) and missing."""
    if not path.is_file():
        if not create:
            raise FileNotFoundError(f"console session key {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
    return path.read_bytes().strip()


@dataclass(frozen=True)
class ConsoleSession:
    token: str
    csrf: str
    created_at: float

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf.encode(), str(presented).encode())


class SessionCodec:
    def __init__(self, key: bytes, max_age_s: int = 12 * 3600) -> None:
        self._fernet = Fernet(key)
        self.max_age_s = max_age_s

    def _seal(self, payload: dict) -> str:
        return self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode()).decode()

    def _open(self, value: str | None, ttl: int) -> dict | None:
        if not value or len(value) > 16384:
            return None
        try:
            data = json.loads(self._fernet.decrypt(value.encode(), ttl=ttl))
        except (InvalidToken, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def new_session(self, token: str) -> tuple[ConsoleSession, str]:
        s = ConsoleSession(token=token, csrf=secrets.token_urlsafe(32), created_at=time.time())
        return s, self._seal({"t": s.token, "c": s.csrf, "at": s.created_at})

    def session(self, cookie: str | None) -> ConsoleSession | None:
        data = self._open(cookie, self.max_age_s)
        if data is None or not isinstance(data.get("t"), str) or not isinstance(data.get("c"), str):
            return None
        return ConsoleSession(token=data["t"], csrf=data["c"], created_at=float(data.get("at", 0)))

    def login_state(self, state: str, verifier: str, nonce: str) -> str:
        return self._seal({"s": state, "v": verifier, "n": nonce})

    def pending_login(self, cookie: str | None) -> dict | None:
        data = self._open(cookie, LOGIN_TTL_S)
        if data is None or not all(isinstance(data.get(k), str) for k in ("s", "v", "n")):
            return None
        return data
