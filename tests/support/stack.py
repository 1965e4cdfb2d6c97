"""The running stack for integration and end-to-end tests.

``model_repository_template`` builds the shipped models once per session;
``stack`` starts tritonserver, the preprocessor and the gateway (HTTPS, dev CA)
on OS-chosen ports with a copy of that repository, the same ``Stack`` class
that ``medinfer up`` runs, and stops them all at the end of the session.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token
from medinfer.shipped_models import ensure_shipped_models
from medinfer.stack import Stack, StackPorts
from medinfer.triton.repository import ModelRepository
from medinfer.triton.server import TritonPorts
from tests.support.ports import free_ports

__all__ = ["model_repository_template", "stack", "gateway", "GatewayClient", "new_stack_ports", "copy_repository",
           "dev_auth_header"]


def dev_auth_header(home: Path, scope: str = "infer models:read") -> dict[str, str]:
    """A bearer token from the stack's development key (what ``medinfer token`` prints)."""
    return {"Authorization": "Bearer " + mint_dev_token(ensure_dev_keys(home), scope, ttl_s=6 * 3600)}


def new_stack_ports() -> StackPorts:
    gw, pre, http, grpc, metrics, gw_grpc, gw_metrics, pre_metrics = free_ports(8)
    return StackPorts(gw, pre, TritonPorts(http, grpc, metrics), gw_grpc, gateway_metrics=gw_metrics,
                      preprocessor_metrics=pre_metrics)


def copy_repository(template: Path, home: Path) -> None:
    shutil.copytree(template, home / "models")


@pytest.fixture(scope="session")
def model_repository_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("model-repo") / "models"
    ensure_shipped_models(ModelRepository(root))
    return root


class GatewayClient:
    """A requests session pointed at the gateway, trusting the dev CA."""

    def __init__(self, stack: Stack) -> None:
        self.base = stack.gateway_url
        self.metrics_url = stack.gateway_metrics_url + "/metrics"
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        self.session.verify = str(stack.home / "tls" / "ca.pem")
        self.session.headers["Authorization"] = dev_auth_header(stack.home)["Authorization"]

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.url(path), timeout=30, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.session.post(self.url(path), timeout=30, **kw)

    def metrics(self) -> str:
        """The gateway's Prometheus exposition, from its operations port (not served on the API port)."""
        resp = requests.get(self.metrics_url, timeout=30)
        resp.raise_for_status()
        return resp.text


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, model_repository_template: Path) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("stack-home")
    copy_repository(model_repository_template, home)
    s = Stack(home, new_stack_ports())
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def gateway(stack: Stack) -> GatewayClient:
    return GatewayClient(stack)
