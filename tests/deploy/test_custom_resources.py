"""Custom resources (cert-manager Certificate, prometheus-operator monitors and rules,
KEDA ScaledObject) checked against their CRD schemas, which kubernetes-validate lacks.

The validators are the ones the ``@kubernetes-models/*`` npm packages generate from
each project's CRDs (pinned in tests/deploy/crd/package-lock.json, ``make
crd-validators``); they check types, required fields and enums.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT, run, system_tool
from tests.deploy.test_manifest_tools import CRD_KINDS

CRD_DIR = ROOT / "tests" / "deploy" / "crd"


@pytest.fixture(scope="module")
def validator() -> list[str]:
    node = system_tool("node")
    if not (CRD_DIR / "node_modules" / ".installed").exists():
        out = run(["make", "--no-print-directory", "crd-validators"], timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
    return [node, str(CRD_DIR / "validate.mjs")]


def test_every_custom_kind_has_a_validator() -> None:
    script = (CRD_DIR / "validate.mjs").read_text()
    covered = set(re.search(r"const kinds = \{([^}]*)\}", script).group(1).replace(" ", "").split(","))
    assert covered == CRD_KINDS


@pytest.mark.parametrize("overlay", ["base", "prod", "prod-gpu"])
def test_custom_resources_match_their_crds(validator: list[str], rendered: dict[str, Path], overlay: str) -> None:
    out = run([*validator, str(rendered[overlay])], cwd=CRD_DIR)
    assert out.returncode == 0, out.stdout + out.stderr
    checked = {line.split()[1].split("/")[0] for line in out.stdout.splitlines() if line.startswith("ok ")}
    expected = {"base": {"Certificate"}, "prod": CRD_KINDS - {"ScaledObject"}, "prod-gpu": CRD_KINDS}[overlay]
    assert checked == expected


def test_validator_rejects_a_wrong_type(validator: list[str], rendered: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(rendered["prod-gpu"].read_text().replace("minReplicaCount: 2", "minReplicaCount: two"))
    out = run([*validator, str(broken)], cwd=CRD_DIR)
    assert out.returncode == 1 and "FAIL ScaledObject/triton-blue" in out.stdout
