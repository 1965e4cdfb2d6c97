"""mTLS on the gateway -> preprocessor hop: the preprocessor (a real process) requires a client certificate
signed by the CA it trusts; the gateway's upstream session presents the one its settings name."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import aiohttp
import pytest

from medinfer.common.devpki import ensure_dev_tls
from medinfer.gateway.clients.upstream import make_session
from tests.support.ports import free_port

pytestmark = pytest.mark.integration


def _get(url: str, **session_kw) -> int | str:
    async def run():
        session = make_session(url, connections=2, timeout_s=5, **session_kw)
        try:
            async with session.get("healthz") as resp:
                return resp.status
        except aiohttp.ClientError as exc:
            return type(exc).__name__
        finally:
            await session.close()

    return asyncio.run(run())


@pytest.fixture
def mtls_preprocessor(tmp_path):
    tls = ensure_dev_tls(tmp_path)
    port, ops_port = free_port(), free_port()
    env = {**os.environ, "MEDINFER_HOME": str(tmp_path), "MEDINFER_PREPROCESS_PORT": str(port),
           "MEDINFER_PREPROCESS_METRICS_PORT": str(ops_port),
           "MEDINFER_PREPROCESS_TLS_CERT_FILE": str(tls.cert_file), "MEDINFER_PREPROCESS_TLS_KEY_FILE": str(tls.key_file),
           "MEDINFER_PREPROCESS_TLS_CLIENT_CA_FILE": str(tls.ca_file)}
    with open(tmp_path / "pre.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "medinfer.preprocess"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _get(url, ca_file=tls.ca_file, client_cert=(tls.cert_file, tls.key_file)) != 200:
            assert proc.poll() is None, (tmp_path / "pre.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "preprocessor did not start"
            time.sleep(0.2)
        yield url, tls, f"http://127.0.0.1:{ops_port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_preprocessor_requires_the_gateway_client_certificate(mtls_preprocessor):
    url, tls, ops = mtls_preprocessor
    assert _get(url, ca_file=tls.ca_file, client_cert=(tls.cert_file, tls.key_file)) == 200
    assert _get(url, ca_file=tls.ca_file) != 200  # no client certificate: the handshake is refused
    assert _get(url) != 200  # the development CA is not a system root


def test_probes_and_metrics_use_the_operations_port(mtls_preprocessor):
    """Kubelet probes carry no client certificate: they go to the operations port, which serves only health
    and metrics; /metrics is not on the mTLS API port."""
    url, tls, ops = mtls_preprocessor
    assert _get(ops) == 200  # plain HTTP, no client certificate
    import urllib.request

    with urllib.request.urlopen(ops + "/metrics", timeout=5) as resp:
        assert b"# TYPE" in resp.read()

    async def api_metrics() -> int:
        session = make_session(url, connections=1, timeout_s=5, ca_file=tls.ca_file,
                               client_cert=(tls.cert_file, tls.key_file))
        try:
            async with session.get("metrics") as resp:
                return resp.status
        finally:
            await session.close()

    assert asyncio.run(api_metrics()) == 404
