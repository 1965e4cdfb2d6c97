"""checkov on the rendered Kubernetes manifests (every overlay, plus the loader pod)
and the Dockerfiles: zero failed checks except the skips listed, with reasons, in
deploy/checkov-skips.yaml. One checkov run without skips serves every test here (it
is the slow tool), so the report also proves each listed skip is still needed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, run

SKIPS: dict[str, str] = yaml.safe_load((DEPLOY / "checkov-skips.yaml").read_text())


@pytest.fixture(scope="module")
def report(checkov: str, rendered: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    scan = tmp_path_factory.mktemp("checkov")
    for name, path in rendered.items():  # one file per overlay keeps findings attributable
        (scan / f"{name}.yaml").write_text(path.read_text())
    # The one-off loader pod, checked together with the NetworkPolicies that cover it.
    shutil.copy(DEPLOY / "model-loader.yaml", scan / "model-loader.yaml")
    for dockerfile in DEPLOY.glob("*.Dockerfile"):
        shutil.copy(dockerfile, scan / dockerfile.name)
    out = run([checkov, "-d", str(scan), "--framework", "kubernetes", "dockerfile", "--skip-download",
               "--quiet", "--compact", "-o", "json"], timeout=900)
    assert out.returncode in (0, 1), out.stderr[-2000:]
    data = json.loads(out.stdout)
    return {r["check_type"]: r for r in (data if isinstance(data, list) else [data])}


def _failed(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["check_id"], f"{f['check_name']} in {f.get('file_path')} ({f.get('resource')})")
            for f in result["results"]["failed_checks"]]


def test_every_skip_has_a_reason() -> None:
    assert SKIPS, "checkov-skips.yaml lists no skips: then drop the file"
    for check, reason in SKIPS.items():
        assert check.startswith("CKV"), check
        assert isinstance(reason, str) and len(reason.split()) >= 8, f"{check} needs a real reason"


def test_kubernetes_manifests_pass(report: dict[str, Any]) -> None:
    k8s = report["kubernetes"]
    assert [f for f in _failed(k8s) if f[0] not in SKIPS] == []
    assert k8s["summary"]["parsing_errors"] == 0
    assert k8s["summary"]["resource_count"] >= 4 * 20  # every overlay was scanned
    assert k8s["summary"]["passed"] > 500


def test_dockerfiles_pass(report: dict[str, Any]) -> None:
    docker = report["dockerfile"]
    assert [f for f in _failed(docker) if f[0] not in SKIPS] == []
    assert docker["summary"]["resource_count"] == 3


@pytest.mark.parametrize("check", sorted(SKIPS))
def test_each_skip_is_still_needed(report: dict[str, Any], check: str) -> None:
    fired = {cid for r in report.values() for cid, _ in _failed(r)}
    assert check in fired, f"{check} no longer fails: remove it from deploy/checkov-skips.yaml"
