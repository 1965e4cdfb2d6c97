"""One real tritonserver for the text-model tests, with only ``note_embedding`` and ``ner`` loaded.

Both models are built from their installed packages into a temporary model
repository (the same ``build_version`` path ``medinfer up`` uses), Triton
listens on OS-chosen ports on 127.0.0.1, and it is stopped after the last test
of this package.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import tritonclient.http as httpclient

from medinfer.shipped_models import build_version
from medinfer.triton.repository import ModelRepository
from medinfer.triton.server import TritonPorts, TritonServer
from tests.support.ports import free_port

TEXT_MODELS = ("note_embedding", "ner")


@pytest.fixture(scope="package")
def text_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = tmp_path_factory.mktemp("text-models")
    repo = ModelRepository(root / "models")
    for name in TEXT_MODELS:
        build_version(repo, name, 1)
    server = TritonServer(
        repo.root, root / "home", TritonPorts(free_port(), free_port(), free_port()), models=TEXT_MODELS,
    )
    server.start()
    try:
        server.wait_ready(180)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def triton_client(text_triton: TritonServer) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(f"127.0.0.1:{text_triton.ports.http}", concurrency=16)
    yield client
    client.close()


@pytest.fixture(scope="package")
def model_repo(text_triton: TritonServer) -> Path:
    return Path(text_triton.repository)
