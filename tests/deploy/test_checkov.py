"""checkov on the rendered Kubernetes manifests (every overlay) and the Dockerfiles:
zero failed checks except the skips listed, with reasons, in deploy/checkov-skips.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, run

SKIPS: dict[str, str] = yaml.safe_load((DEPLOY / "checkov-skips.yaml").read_text())


def _results(stdout: str) -> list[dict]:
    data = json.loads(stdout)
    return data if isinstance(data, list) else [data]


def _failures(report: list[dict]) -> list[str]:
    return [
        f"{f['check_id']} {f['check_name']} in {f.get('file_path')} ({f.get('resource')})"
        for r in report for f in r["results"]["failed_checks"]
    ]


def test_every_skip_has_a_reason() -> None:
    assert SKIPS, "checkov-skips.yaml lists no skips: then drop the file"
    for check, reason in SKIPS.items():
        assert check.startswith("CKV"), check
        assert isinstance(reason, str) and len(reason.split()) >= 8, f"{check} needs a real reason"


def test_checkov_kubernetes_manifests(checkov: str, rendered: dict[str, Path], tmp_path: Path) -> None:
    # checkov scans a folder; one file per overlay keeps the findings attributable.
    for name, path in rendered.items():
        (tmp_path / f"{name}.yaml").write_text(path.read_text())
    # The one-off loader pod, checked together with the NetworkPolicies that cover it.
    (tmp_path / "model-loader.yaml").write_text((DEPLOY / "model-loader.yaml").read_text())
    out = run([checkov, "-d", str(tmp_path), "--framework", "kubernetes", "--skip-download", "--quiet",
               "--compact", "-o", "json", "--skip-check", ",".join(SKIPS)], timeout=600)
    assert out.returncode in (0, 1), out.stderr[-2000:]
    report = _results(out.stdout)
    assert _failures(report) == []
    summary = report[0]["summary"]
    assert summary["parsing_errors"] == 0
    # Every overlay's resources were scanned, not an empty folder.
    assert summary["resource_count"] >= sum(1 for _ in rendered) * 20
    assert summary["passed"] > 500


def test_checkov_dockerfiles(checkov: str) -> None:
    files = sorted(DEPLOY.glob("*.Dockerfile"))
    assert len(files) == 3
    args = [a for f in files for a in ("-f", str(f))]
    out = run([checkov, *args, "--framework", "dockerfile", "--skip-download", "--quiet", "--compact",
               "-o", "json"], timeout=600)
    assert out.returncode in (0, 1), out.stderr[-2000:]
    report = _results(out.stdout)
    assert _failures(report) == []
    assert report[0]["summary"]["resource_count"] == 3


@pytest.mark.parametrize("check", sorted(SKIPS))
def test_skipped_checks_still_fire_without_the_skip(checkov: str, rendered: dict[str, Path], check: str,
                                                     tmp_path: Path) -> None:
    """A listed skip must be needed: without it checkov reports that check (else remove it)."""
    (tmp_path / "prod.yaml").write_text(rendered["prod"].read_text())
    out = run([checkov, "-d", str(tmp_path), "--framework", "kubernetes", "--skip-download", "--quiet",
               "--compact", "-o", "json", "--check", check], timeout=600)
    fired = {f.split()[0] for f in _failures(_results(out.stdout))}
    assert fired == {check}
