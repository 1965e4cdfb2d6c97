"""docs/deploy.md's commands name files, targets and objects that exist."""

from __future__ import annotations

import re
from typing import Any

from tests.deploy.conftest import ROOT

DOC = (ROOT / "docs" / "deploy.md").read_text()


def test_paths_exist() -> None:
    paths = set(re.findall(r"\b((?:deploy|examples|tests/deploy|docs)/[\w./-]*[\w])", DOC))
    assert len(paths) > 15
    missing = [p for p in paths if not (ROOT / p).exists() and not (ROOT / "deploy" / p).exists()]
    assert not missing, missing


def test_make_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"`make ([\w-]+)", DOC)) | set(re.findall(r"^make ([\w-]+)", DOC, re.MULTILINE))
    assert {"deploy-check", "architecture", "deploy-generate", "checkov-venv"} <= targets
    for t in targets:
        assert re.search(rf"^{re.escape(t)}:", makefile, re.MULTILINE), t


def test_kubectl_objects_exist(rendered_docs: dict[str, list[dict[str, Any]]]) -> None:
    objects = {(d["kind"].lower(), d["metadata"]["name"]) for docs in rendered_docs.values() for d in docs}
    objects.add(("pod", "model-loader"))
    named = re.findall(r"\b(deployment|service|svc|secret|pod)/([\w-]+)", DOC)
    assert len(named) >= 6
    for kind, name in named:
        kind = {"svc": "service"}.get(kind, kind)
        if kind == "secret":
            continue
        assert (kind, name) in objects, f"{kind}/{name}"
    for overlay in re.findall(r"kubectl apply -k (\S+)", DOC):
        assert (ROOT / overlay / "kustomization.yaml").exists()
    assert "gateway-secrets" in (ROOT / "deploy" / "base" / "gateway.yaml").read_text()
    assert "medinfer.io/slot" in DOC and "medinfer-internal-ca" in (ROOT / "deploy" / "base" / "gateway.yaml").read_text()
