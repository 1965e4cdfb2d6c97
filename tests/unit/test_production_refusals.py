"""Production start-up refuses what would put PHI or trust at risk: plain-HTTP backends, a missing client
certificate, a preprocessor without TLS and client CA, and development keys or certificates copied to other
paths (compared by content and issuer, not by path). The services' real entry points are run once each."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from medinfer.audit.checkpoint import ensure_checkpoint_key
from medinfer.common.devpki import development_certificate, ensure_dev_tls
from medinfer.gateway.settings import GatewaySettings
from medinfer.preprocess.settings import PreprocessSettings
from medinfer.security.devkeys import ensure_dev_keys


def _org_pki(d: Path) -> dict[str, Path]:
    """A CA and a certificate that are not development PKI (an organisation's, as far as the checks know)."""
    d.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Hospital internal CA")])
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256()))
    out = {"ca": d / "ca.crt", "cert": d / "tls.crt", "key": d / "tls.key"}
    out["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out["cert"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    return out


def _gateway_prod(tmp_path: Path, pki: dict[str, Path], **over) -> dict:
    (tmp_path / "audit.key").write_text("ab" * 32)
    (tmp_path / "console.key").write_bytes(Fernet.generate_key())
    kw = dict(
        environment="production", home=tmp_path, oidc_issuer="https://idp.example.org",
        audit_key_file=tmp_path / "audit.key", audit_checkpoint_file=tmp_path / "cps.jsonl",
        audit_checkpoint_key_file=ensure_checkpoint_key(tmp_path / "cp.pem"),
        tls_cert_file=pki["cert"], tls_key_file=pki["key"],
        preprocessor_url="https://preprocessor.medinfer.svc:443", preprocessor_ca_file=pki["ca"],
        preprocessor_client_cert_file=pki["cert"], preprocessor_client_key_file=pki["key"],
        triton_url="https://triton.medinfer.svc:8443", triton_ca_file=pki["ca"], triton_grpc_ca_file=pki["ca"],
        console_session_key_file=tmp_path / "console.key",
    )
    kw.update(over)
    return kw


def test_gateway_production_accepts_tls_everywhere(tmp_path):
    pki = _org_pki(tmp_path / "pki")
    assert GatewaySettings(**_gateway_prod(tmp_path, pki)).environment == "production"


@pytest.mark.parametrize("override,message", [
    ({"preprocessor_url": "http://preprocessor.medinfer.svc:80"}, "preprocessor_url must use https"),
    ({"triton_url": "http://triton.medinfer.svc:8000"}, "triton_url must use https"),
    ({"preprocessor_client_cert_file": None}, "mTLS"),
    ({"preprocessor_ca_file": None}, "preprocessor_ca_file is required"),
    ({"triton_grpc_ca_file": None}, "triton_grpc_ca_file is required"),
    ({"triton_ca_file": None}, "triton_ca_file is required"),
    ({"tls_cert_file": None}, "tls_cert_file"),
])
def test_gateway_production_refuses_plain_backends(tmp_path, override, message):
    pki = _org_pki(tmp_path / "pki")
    with pytest.raises(ValidationError, match=message):
        GatewaySettings(**_gateway_prod(tmp_path, pki, **override))


def test_copied_dev_certificate_and_keys_are_refused(tmp_path):
    """The development certificate, CA and keys copied to a path of their own are still recognised."""
    dev_home = tmp_path / "dev"
    tls = ensure_dev_tls(dev_home)
    keys = ensure_dev_keys(tmp_path)
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    for f in (tls.cert_file, tls.key_file, tls.ca_file):
        shutil.copy(f, elsewhere / f.name)
    pki = _org_pki(tmp_path / "pki")
    copied = {"cert": elsewhere / tls.cert_file.name, "key": elsewhere / tls.key_file.name, "ca": elsewhere / "ca.pem"}
    # another home, so no path and no fingerprint under it matches: the issuer still gives it away
    assert development_certificate(copied["cert"], tmp_path / "other-home")
    assert development_certificate(copied["ca"], tmp_path / "other-home")
    assert not development_certificate(pki["cert"], dev_home)
    for over, message in (
        ({"tls_cert_file": copied["cert"], "tls_key_file": copied["key"]}, "tls_cert_file is the development"),
        ({"preprocessor_ca_file": copied["ca"]}, "preprocessor_ca_file is development PKI"),
        ({"preprocessor_client_cert_file": copied["cert"]}, "preprocessor_client_cert_file is development PKI"),
        ({"triton_grpc_ca_file": copied["ca"]}, "triton_grpc_ca_file is development PKI"),
    ):
        with pytest.raises(ValidationError, match=message):
            GatewaySettings(**_gateway_prod(tmp_path, pki, **over))
    shutil.copy(keys.audit_key_file, elsewhere / "audit.key")
    with pytest.raises(ValidationError, match="audit_key_file may not be the development key"):
        GatewaySettings(**_gateway_prod(tmp_path, pki, audit_key_file=elsewhere / "audit.key"))
    dev_cp = ensure_checkpoint_key(tmp_path / "keys" / "audit-checkpoint.pem")
    shutil.copy(dev_cp, elsewhere / "cp.pem")
    with pytest.raises(ValidationError, match="audit_checkpoint_key_file may not be the development key"):
        GatewaySettings(**_gateway_prod(tmp_path, pki, audit_checkpoint_key_file=elsewhere / "cp.pem"))


def test_preprocessor_production_needs_tls_and_a_client_ca(tmp_path):
    pki = _org_pki(tmp_path / "pki")
    base = dict(environment="production", home=tmp_path, dicom_deid_secret="d" * 32)
    with pytest.raises(ValidationError, match="tls_cert_file/tls_key_file are required"):
        PreprocessSettings(**base)
    with pytest.raises(ValidationError, match="tls_client_ca_file is required"):
        PreprocessSettings(**base, tls_cert_file=pki["cert"], tls_key_file=pki["key"])
    tls = ensure_dev_tls(tmp_path / "dev")
    with pytest.raises(ValidationError, match="tls_client_ca_file is development PKI"):
        PreprocessSettings(**base, tls_cert_file=pki["cert"], tls_key_file=pki["key"], tls_client_ca_file=tls.ca_file)
    ok = PreprocessSettings(**base, tls_cert_file=pki["cert"], tls_key_file=pki["key"], tls_client_ca_file=pki["ca"])
    assert ok.tls_client_ca_file == pki["ca"]


@pytest.mark.parametrize("module,env,message", [
    ("medinfer.gateway", {"MEDINFER_GATEWAY_PREPROCESSOR_URL": "http://127.0.0.1:8080"},
     "preprocessor_url must use https"),
    ("medinfer.preprocess", {"MEDINFER_PREPROCESS_DICOM_DEID_SECRET": "d" * 32}, "tls_client_ca_file is required"),
])
def test_production_start_up_refuses(tmp_path, module, env, message):
    """The services' entry points exit before binding anything, naming the problem (not a value)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDINFER_")}
    clean.update({"MEDINFER_HOME": str(tmp_path), "MEDINFER_ENVIRONMENT": "production", **env})
    proc = subprocess.run([sys.executable, "-m", module], env=clean, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "d" * 32 not in proc.stderr and "Traceback" not in proc.stderr  # names settings, never values


def test_the_default_environment_is_production(tmp_path, monkeypatch):
    """A deployment that forgets MEDINFER_ENVIRONMENT gets production (no development key trusted); the local
    stack, the `medinfer` command and the test fixtures say development explicitly."""
    from typer.testing import CliRunner

    from medinfer.cli.main import app
    from medinfer.common.settings import ServiceSettings
    from medinfer.security.settings import SecuritySettings
    from medinfer.stack import Stack

    monkeypatch.delenv("MEDINFER_ENVIRONMENT", raising=False)
    assert ServiceSettings().environment == "production"
    with pytest.raises(ValidationError, match="oidc_issuer is required"):
        SecuritySettings(home=tmp_path)
    prod = SecuritySettings(home=tmp_path, oidc_issuer="https://idp.example.org", audit_key_file=tmp_path / "k",
                            audit_checkpoint_file=tmp_path / "c", audit_checkpoint_key_file=tmp_path / "ck")
    assert not prod.dev_key_trusted
    with pytest.raises(ValidationError):
        PreprocessSettings(home=tmp_path)
    assert Stack(tmp_path).env()["MEDINFER_ENVIRONMENT"] == "development"
    monkeypatch.setenv("MEDINFER_HOME", str(tmp_path))
    res = CliRunner().invoke(app, ["token", "--scope", "infer"])
    assert res.exit_code == 0 and res.stdout.count(".") == 2  # a JWT: the command works in development
    assert os.environ["MEDINFER_ENVIRONMENT"] == "development"
    monkeypatch.setenv("MEDINFER_ENVIRONMENT", "production")
    assert Stack(tmp_path).env()["MEDINFER_ENVIRONMENT"] == "production"  # an explicit choice is kept


def test_jwks_uri_must_be_https_in_production():
    """Discovery that points the keys at plain http is refused when require_https (production) is on."""
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from medinfer.common.errors import BackendUnavailable
    from medinfer.security.keys import OIDCKeySource

    async def run(require_https: bool):
        app = web.Application()
        server = TestServer(app, host="127.0.0.1")

        async def discovery(_):
            base = str(server.make_url("")).rstrip("/")
            return web.json_response({"issuer": base, "jwks_uri": base + "/jwks"})

        async def jwks(_):
            return web.json_response({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k", "use": "sig",
                                                 "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                                                 "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})

        app.router.add_get("/.well-known/openid-configuration", discovery)
        app.router.add_get("/jwks", jwks)
        await server.start_server()
        source = OIDCKeySource(str(server.make_url("")), require_https=require_https)
        try:
            return await source.get_key("k", "ES256")
        finally:
            await source.aclose()
            await server.close()

    assert asyncio.run(run(False)) is not None
    with pytest.raises(BackendUnavailable):
        asyncio.run(run(True))


@pytest.mark.parametrize("name", ["tab\n", "tab\r\n", "Tab", "tab-1", "", "t" * 65])
def test_model_names_must_match_entirely(name):
    from medinfer.common.errors import ValidationFailed
    from medinfer.registry.publishing import check_name

    with pytest.raises(ValidationFailed):
        check_name(name)
    check_name("tab_1")
