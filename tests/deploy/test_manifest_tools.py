"""Offline validation of deploy/: kustomize rendering, kubernetes-validate --strict,
hadolint, actionlint (with shellcheck), promtool, the generated files and the
architecture picture."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy.conftest import DEPLOY, K8S_VERSION, OVERLAYS, ROOT, run, system_tool, venv_tool

# Custom resources kubernetes-validate has no schema for (checked in test_custom_resources.py).
CRD_KINDS = {"Certificate", "ServiceMonitor", "PodMonitor", "PrometheusRule", "ScaledObject"}


def _import(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_kubernetes_validate_strict(overlay: str, rendered: dict[str, Path]) -> None:
    out = run([venv_tool("kubernetes-validate"), "--strict", "-k", K8S_VERSION, str(rendered[overlay])])
    assert out.returncode == 0, out.stdout + out.stderr
    passed = re.findall(r"^INFO .* passed for resource (\S+)", out.stdout, re.MULTILINE)
    assert len(passed) >= 20, out.stdout
    no_schema = set(re.findall(r"Couldn't find schema for kind (\w+)", out.stdout + out.stderr))
    assert no_schema <= CRD_KINDS, f"unexpected kinds without schema: {no_schema - CRD_KINDS}"


def test_kubernetes_validate_model_loader() -> None:
    out = run([venv_tool("kubernetes-validate"), "--strict", "-k", K8S_VERSION, str(DEPLOY / "model-loader.yaml")])
    assert out.returncode == 0 and "passed for resource pod/model-loader" in out.stdout, out.stdout + out.stderr


def test_kubernetes_validate_rejects_a_broken_manifest(rendered: dict[str, Path], tmp_path: Path) -> None:
    """The validator really validates: a misspelt field fails --strict."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(rendered["base"].read_text().replace("readinessProbe:", "readinesProbe:", 1))
    out = run([venv_tool("kubernetes-validate"), "--strict", "-k", K8S_VERSION, str(broken)])
    assert out.returncode != 0


def test_overlays_differ_where_they_should(rendered: dict[str, Path]) -> None:
    base, dev, prod, gpu = (rendered[n].read_text() for n in ("base", "dev", "prod", "prod-gpu"))
    assert "MEDINFER_ENVIRONMENT: development" in dev and "MEDINFER_ENVIRONMENT: production" in prod
    assert "triton-blue" in prod and "triton-blue" not in base
    assert "kind: ScaledObject" in gpu and "kind: ScaledObject" not in prod
    assert "nvidia.com/gpu" in gpu and "nvidia.com/gpu" not in prod


@pytest.mark.parametrize("dockerfile", sorted(p.name for p in DEPLOY.glob("*.Dockerfile")))
def test_hadolint(dockerfile: str) -> None:
    out = run([venv_tool("hadolint"), "--failure-threshold", "info", str(DEPLOY / dockerfile)])
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfiles_are_multistage_pinned_nonroot() -> None:
    for path in DEPLOY.glob("*.Dockerfile"):
        text = path.read_text()
        froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
        assert len(froms) >= 2, f"{path.name} is not multi-stage"
        for image in froms:
            assert re.search(r":\d[\w.-]*$", image), f"{path.name}: base {image} not pinned to a release"
        users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
        assert users and users[-1].split(":")[0] not in {"0", "root"}, f"{path.name} runs as root"
    assert "nvcr.io/nvidia/tritonserver:24.10-py3" in (DEPLOY / "triton.Dockerfile").read_text()


def test_actionlint_workflows() -> None:
    system_tool("shellcheck")  # actionlint runs it on every `run:` step when it is on PATH
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    out = run([venv_tool("actionlint"), "-shellcheck", system_tool("shellcheck"), *map(str, workflows)])
    assert out.returncode == 0, out.stdout + out.stderr


def test_actionlint_catches_shell_errors(tmp_path: Path) -> None:
    wf = tmp_path / ".github" / "workflows" / "bad.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo $FOO\n")
    out = run([venv_tool("actionlint"), "-shellcheck", system_tool("shellcheck"), str(wf)], cwd=tmp_path)
    assert out.returncode != 0 and "SC2086" in out.stdout


def test_promtool_check_config_and_rules() -> None:
    promtool = system_tool("promtool")
    mon = DEPLOY / "monitoring"
    out = run([promtool, "check", "config", "--syntax-only", str(mon / "prometheus.yml")])
    assert out.returncode == 0, out.stdout + out.stderr
    out = run([promtool, "check", "rules", str(mon / "alert-rules.yml"), str(mon / "drift-rules.yaml")])
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == 2


def test_promtool_test_rules() -> None:
    out = run([system_tool("promtool"), "test", "rules", "tests/alert-rules.test.yml"], cwd=DEPLOY / "monitoring")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_generated_files_are_current() -> None:
    gen = _import(DEPLOY / "generate.py")
    for path, text in gen.render_all().items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run `make deploy-generate`"


def test_architecture_png_is_current() -> None:
    arch = _import(DEPLOY / "architecture.py")
    import hashlib

    stamp = arch.read_stamp()
    assert stamp["source"] == hashlib.sha256(arch.DOT.read_bytes()).hexdigest(), (
        "deploy/architecture.dot changed since the PNG was drawn: run `make architecture`")
    assert stamp["png"] == hashlib.sha256(arch.PNG.read_bytes()).hexdigest(), (
        "deploy/architecture.png was not produced by `make architecture`")
    system_tool("dot")
    if arch.dot_version() == stamp["graphviz"]:
        assert arch.render() == arch.PNG.read_bytes(), "re-rendering the source gives another picture"


def test_architecture_staleness_is_detected(tmp_path: Path) -> None:
    """Editing the source changes what the stamp is compared with."""
    arch = _import(DEPLOY / "architecture.py")
    import hashlib

    edited = arch.DOT.read_text().replace("gateway\\n", "gateway (edited)\\n", 1)
    assert hashlib.sha256(edited.encode()).hexdigest() != arch.read_stamp()["source"]
    src = tmp_path / "a.dot"
    src.write_text(edited)
    assert arch.render(src) != arch.PNG.read_bytes()
