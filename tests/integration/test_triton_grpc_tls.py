"""Triton's gRPC endpoint with TLS and mutual TLS, from ``TritonSettings.grpc_ssl_args()``."""

from __future__ import annotations

import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from medinfer.common.devpki import ensure_dev_tls
from medinfer.triton.repository import ModelRepository
from medinfer.triton.server import TritonPorts, TritonServer
from medinfer.triton.settings import TritonSettings
from tests.support.ports import free_ports

pytestmark = pytest.mark.integration


def test_grpc_mutual_tls(tmp_path):
    tls = ensure_dev_tls(tmp_path)
    settings = TritonSettings(home=tmp_path, grpc_ssl_cert_file=str(tls.cert_file), grpc_ssl_key_file=str(tls.key_file),
                              grpc_ssl_root_cert_file=str(tls.ca_file))
    (tmp_path / "models").mkdir()
    server = TritonServer(ModelRepository(tmp_path / "models").root, tmp_path,
                          TritonPorts(*free_ports(3)), extra_args=settings.grpc_ssl_args())
    server.start()
    try:
        server.wait_ready(120)
        url = f"127.0.0.1:{server.ports.grpc}"
        ok = grpcclient.InferenceServerClient(url, ssl=True, root_certificates=str(tls.ca_file),
                                              private_key=str(tls.key_file), certificate_chain=str(tls.cert_file))
        assert ok.is_server_live()
        ok.close()
        for kw in ({"ssl": True, "root_certificates": str(tls.ca_file)}, {}):  # no client cert; plaintext
            bad = grpcclient.InferenceServerClient(url, **kw)
            with pytest.raises(InferenceServerException):
                bad.is_server_live(client_timeout=5)
            bad.close()
    finally:
        server.stop()


def test_grpc_ssl_args_need_a_key(tmp_path):
    assert TritonSettings(home=tmp_path).grpc_ssl_args() == ()
    with pytest.raises(ValueError):
        TritonSettings(home=tmp_path, grpc_ssl_cert_file="c.pem").grpc_ssl_args()
