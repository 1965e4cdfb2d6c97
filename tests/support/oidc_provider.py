"""A real OpenID Provider (npm ``oidc-provider``, pinned in tests/support/oidc/) on 127.0.0.1.

``oidc_provider`` starts ``node server.mjs`` once per session (``npm ci`` first when
node_modules is missing) and yields an :class:`OIDCProvider` that obtains access
tokens with the OAuth2 client-credentials grant, exactly as a service client would.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["OIDCProvider", "oidc_provider", "CLIENTS"]

HERE = Path(__file__).resolve().parent / "oidc"

CLIENTS = {
    "svc-infer": ("svc-infer-secret-0123456789abcdef", "infer models:read"),
    "svc-readonly": ("svc-readonly-secret-0123456789abcd", "models:read"),
    "svc-one-model": ("svc-one-model-secret-0123456789abc", "infer:breast_cancer"),
    "svc-auditor": ("svc-auditor-secret-0123456789abcde", "audit:read"),
}


def _npm_ci() -> None:
    if (HERE / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: .ci/run installs Debian's 'nodejs' and 'npm'")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, capture_output=True, timeout=300)


class OIDCProvider:
    def __init__(self) -> None:
        _npm_ci()
        self.proc: subprocess.Popen | None = None
        self.issuer = ""
        self.audience = ""
        self.kid = ""

    def start(self, port: int = 0, redirect_uris: list[str] | None = None) -> None:
        """Start on ``port`` (0: OS-chosen). Every start signs with a fresh RSA key (new ``kid``).
        ``redirect_uris``: register the web console as a public authorization-code client (PKCE) with the
        provider's development login pages (any user name and password sign in)."""
        env = dict(os.environ)
        env["MEDINFER_OIDC_PORT"] = str(port)
        self.redirect_uris = list(redirect_uris if redirect_uris is not None else getattr(self, "redirect_uris", []))
        env["MEDINFER_OIDC_REDIRECT_URIS"] = json.dumps(self.redirect_uris)
        env["MEDINFER_OIDC_CLIENTS"] = json.dumps(
            [{"client_id": c, "client_secret": s, "scope": sc} for c, (s, sc) in CLIENTS.items()])
        self.proc = subprocess.Popen(["node", "server.mjs"], cwd=HERE, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("oidc-provider did not start")
        info = json.loads(line)
        self.issuer, self.audience, self.kid = info["issuer"], info["audience"], info["kid"]

    @property
    def port(self) -> int:
        return int(self.issuer.rsplit(":", 1)[1])

    def rotate(self) -> None:
        """Restart on the same issuer URL with a new signing key, as a provider rotating its key would."""
        port = self.port
        self.stop()
        self.start(port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None

    def token(self, client_id: str, scope: str | None = None) -> str:
        secret, default_scope = CLIENTS[client_id]
        data = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope or default_scope,
                                       "resource": self.audience}).encode()
        req = urllib.request.Request(self.issuer + "/token", data=data, method="POST")
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode())
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)["access_token"]


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OIDCProvider]:
    op = OIDCProvider()
    op.start()
    try:
        yield op
    finally:
        op.stop()
