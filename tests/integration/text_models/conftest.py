"""One real tritonserver for the text-model tests, with only ``note_embedding`` and ``ner`` loaded.

Both models come from the session's ``model_repository_template`` (built from
their installed packages by ``ensure_shipped_models``, as ``medinfer up`` does)
and are copied into a repository of their own, Triton
listens on OS-chosen ports on 127.0.0.1, and it is stopped after the last test
of this package.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import tritonclient.http as httpclient

from medinfer.triton.server import TritonPorts, TritonServer
from tests.support.ports import free_ports

TEXT_MODELS = ("note_embedding", "ner")


@pytest.fixture(scope="package")
def text_triton(
    tmp_path_factory: pytest.TempPathFactory, model_repository_template: Path
) -> Iterator[TritonServer]:
    root = tmp_path_factory.mktemp("text-models")
    for name in TEXT_MODELS:
        shutil.copytree(model_repository_template / name, root / "models" / name)
    server = TritonServer(
        root / "models",
        root / "home",
        TritonPorts(*free_ports(3)),
        models=TEXT_MODELS,
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
