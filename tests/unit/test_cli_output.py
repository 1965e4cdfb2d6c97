"""kubectl-style output: ``list``/``history`` print tables for people, ``-o json`` for scripts;
long work reports progress on stderr (stdout stays parseable)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from medinfer.cli.main import app
from medinfer.shipped_models import ensure_shipped_models
from medinfer.triton.repository import ModelRepository
from tests.support.onnx_models import linear, write_folder


def _cli(env: dict[str, str], *args: str):
    r = CliRunner().invoke(app, list(args), env=env)
    assert r.exit_code == 0, r.output
    return r


def test_list_and_history_tables_and_json(tmp_path: Path) -> None:
    env = {"MEDINFER_HOME": str(tmp_path / "home"), "MEDINFER_REGISTRY_DRAIN_GRACE_S": "0"}
    src = write_folder(tmp_path / "m", linear)
    published = _cli(env, "models", "--actor", "ci", "publish", str(src), "--name", "demo", "--reason", "first")
    assert json.loads(published.stdout)["version"] == 1
    assert "published demo version 1" in published.stderr and "validating" in published.stderr
    _cli(env, "models", "--actor", "ci", "promote", "demo", "1", "--reason", "go")
    _cli(env, "models", "--actor", "ci", "publish", str(src), "--name", "demo")

    table = _cli(env, "models", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "CURRENT", "PREVIOUS", "CANARY", "TAGS", "VERSIONS"]
    assert table[1].split() == ["demo", "1", "-", "-", "-", "1,2"]
    assert len(table) == 2
    listed = json.loads(_cli(env, "models", "list", "-o", "json").stdout)
    assert [m["name"] for m in listed] == ["demo"] and listed[0]["current"] == 1

    history = _cli(env, "models", "history", "demo").stdout.splitlines()
    assert history[0].split()[:4] == ["AT", "(UTC)", "KIND", "TAG"]
    kinds = [line.split()[2] for line in history[1:]]
    assert kinds == ["publish", "promote", "publish"]
    assert "go" in history[2] and "- -> 1" in history[2]
    events = json.loads(_cli(env, "models", "history", "demo", "--output", "json").stdout)
    assert [e["kind"] for e in events] == kinds
    shown = _cli(env, "models", "show", "demo", "-o", "table").stdout
    assert shown.splitlines()[1].split()[0] == "demo"


def test_model_builds_report_progress(tmp_path: Path) -> None:
    lines: list[str] = []
    ensure_shipped_models(ModelRepository(tmp_path / "models"), names=["breast_cancer"], report=lines.append)
    assert lines[0].startswith("building model breast_cancer (1/1") and lines[1].startswith("built breast_cancer in")
    ensure_shipped_models(ModelRepository(tmp_path / "models"), names=["breast_cancer"], report=lines.append)
    assert len(lines) == 2, "nothing to build, nothing said"
