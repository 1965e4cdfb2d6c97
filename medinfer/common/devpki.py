"""Development PKI: a local CA and a server certificate for 127.0.0.1/localhost.

``make up`` calls ``ensure_dev_tls(home)``; files live in ``<home>/tls/`` and are
reused while valid. Production uses certificates from the operator's PKI
(cert-manager in Kubernetes); these are refused there by settings validation.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["DevTLS", "ensure_dev_tls", "DEV_CA_NAME", "development_certificate", "same_secret"]

DEV_CA_NAME = "medinfer development CA"


@dataclass(frozen=True)
class DevTLS:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def ensure_dev_tls(home: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")) -> DevTLS:
    d = Path(home) / "tls"
    d.mkdir(parents=True, exist_ok=True)
    tls = DevTLS(d / "ca.pem", d / "server.pem", d / "server-key.pem")
    now = dt.datetime.now(dt.timezone.utc)
    if tls.cert_file.is_file() and tls.key_file.is_file() and tls.ca_file.is_file():
        cert = x509.load_pem_x509_certificate(tls.cert_file.read_bytes())
        if cert.not_valid_after_utc > now + dt.timedelta(days=7):
            return tls

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEV_CA_NAME)])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tls.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_private(d / "ca-key.pem", _pem_key(ca_key))
    _write_private(tls.key_file, _pem_key(key))
    tls.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return tls


def _fingerprints(path: Path) -> set[bytes]:
    try:
        certs = x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError):
        return set()
    return {c.fingerprint(hashes.SHA256()) for c in certs}


def development_certificate(path: Path, home: Path) -> bool:
    """Whether the PEM certificate(s) at ``path`` are development PKI wherever the file was copied: any
    certificate whose SHA-256 fingerprint is one under ``<home>/tls/``, or that is (or was issued by) a
    medinfer development CA. A file that cannot be read here counts as not development (the service's
    own start-up then fails on it)."""
    try:
        certs = x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError):
        return False
    dev = set().union(*(_fingerprints(Path(home) / "tls" / n) for n in ("ca.pem", "server.pem")))
    for c in certs:
        if c.fingerprint(hashes.SHA256()) in dev:
            return True
        names = {a.value for n in (c.subject, c.issuer) for a in n.get_attributes_for_oid(NameOID.COMMON_NAME)}
        if DEV_CA_NAME in names:
            return True
    return False


def same_secret(a: Path, b: Path) -> bool:
    """Whether two key files hold the same secret (the development one copied elsewhere, say)."""
    try:
        return Path(a).read_bytes().strip() == Path(b).read_bytes().strip()
    except OSError:
        return False
