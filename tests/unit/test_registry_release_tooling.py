"""The release workflow passes actionlint (with shellcheck) and runs real CLI commands;
the blue-green patch applies to the Service as kubectl itself computes it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from medinfer.cli.main import app as cli_app
from medinfer.registry.bluegreen import SLOT_LABEL, plan_switch

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "model-release.yml"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing: install requirements.txt")
    return str(path)


def _actionlint(path: Path) -> subprocess.CompletedProcess:
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is missing: .ci/apt-packages.txt installs it")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [_tool("actionlint"), "-no-color", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )


def test_model_release_workflow_passes_actionlint():
    done = _actionlint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('medinfer models validate "$MODEL_PATH"', "medinfer models validate $MODEL_PATH", "SC2086"),
        ("${{ inputs.model_path }}", "${{ inputs.model_file }}", "model_file"),
    ],
)
def test_actionlint_would_catch_mistakes(tmp_path, old, new, expected):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    text = WORKFLOW.read_text()
    assert old in text
    bad.write_text(text.replace(old, new))
    done = _actionlint(bad)
    assert done.returncode != 0 and expected in done.stdout


def test_workflow_runs_validate_publish_promote_in_order_with_real_commands():
    wf = yaml.safe_load(WORKFLOW.read_text())
    assert list(wf["jobs"]) == ["validate", "publish", "promote"]
    assert wf["jobs"]["publish"]["needs"] == "validate" and wf["jobs"]["promote"]["needs"] == "publish"
    assert set(wf[True]["workflow_dispatch"]["inputs"]) >= {
        "model_path",
        "name",
        "reason",
    }  # YAML 'on' -> True
    commands = set()
    for job in wf["jobs"].values():
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                if line.strip().startswith("medinfer models"):
                    commands.add(shlex.split(line)[2])
                elif "(models publish" in line:
                    commands.add("publish")
    assert commands == {"validate", "publish", "promote", "show"}
    for cmd in commands:
        res = CliRunner().invoke(cli_app, ["models", cmd, "--help"])
        assert res.exit_code == 0, res.output


@pytest.mark.parametrize("to", ["green", "blue"])
def test_bluegreen_patch_moves_the_service_selector(tmp_path, to):
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "triton",
            "namespace": "medinfer",
            "labels": {"app.kubernetes.io/name": "triton"},
        },
        "spec": {
            "selector": {
                "app.kubernetes.io/name": "triton",
                SLOT_LABEL: "blue" if to == "green" else "green",
            },
            "ports": [{"name": "http", "port": 8000, "targetPort": "http"}],
        },
    }
    path = tmp_path / "svc.yaml"
    path.write_text(yaml.safe_dump(service))
    plan = plan_switch(to)
    done = subprocess.run(
        [
            _tool("kubectl"),
            "patch",
            "--local",
            "-f",
            str(path),
            "--type",
            "merge",
            "-p",
            plan.patch_json,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    patched = json.loads(done.stdout)
    assert patched["spec"]["selector"] == {"app.kubernetes.io/name": "triton", SLOT_LABEL: to}
    assert patched["spec"]["ports"] == service["spec"]["ports"]
    out = CliRunner().invoke(cli_app, ["models", "bluegreen", "switch", "--to", to])
    assert out.exit_code == 0 and out.stdout.strip() == plan.command()
    assert shlex.split(out.stdout)[-1] == plan.patch_json
