"""``medinfer deid``: files and stdin; bad files are reported by name, never by content."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from medinfer.cli.main import app


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDINFER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEDINFER_PREPROCESS_DEID_SECRET", "c" * 40)
    return tmp_path


def test_files_are_deidentified_consistently_for_one_patient(env) -> None:
    a = env / "a.txt"
    b = env / "b.txt"
    bad = env / "bad.txt"
    a.write_text("Mr. Zebulon Quixley seen 03/14/2021, MRN 00987123.\n")
    b.write_text("Mr. Quixley returned 03/20/2021.\n")
    bad.write_bytes(b"Quixley \xff\xfe")
    out = env / "out"
    result = CliRunner().invoke(app, ["deid", str(a), str(b), str(bad), "-o", "surrogate", "-p", "pk",
                                      "--out-dir", str(out)])
    assert result.exit_code == 1
    assert "bad.txt" in result.output and "UTF-8" in result.output and "Quixley" not in result.output
    ta, tb = (out / "a.txt.deid.txt").read_text(), (out / "b.txt.deid.txt").read_text()
    assert "Quixley" not in ta + tb and "00987123" not in ta
    assert ta.split()[2] == tb.split()[1]          # same surname surrogate in both notes
    assert not (out / "bad.txt.deid.txt").exists()


def test_stdin_json(env) -> None:
    result = CliRunner().invoke(app, ["deid", "--json"], input="Dr. Jane Roe, 03/14/2021.")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    # the title is part of the NAME span (as in Safe Harbor gold standards)
    assert body["text"] == "[NAME], [DATE]." and [e["label"] for e in body["entities"]] == ["NAME", "DATE"]


def test_unknown_operator_exits_2(env) -> None:
    result = CliRunner().invoke(app, ["deid", "-o", "shred"], input="x")
    assert result.exit_code == 2 and "operator" in result.output


def test_a_file_in_another_language_is_refused_by_name_and_the_rest_are_written(env) -> None:
    en, es = env / "en.txt", env / "es.txt"
    en.write_text("Mr. Zebulon Quixley seen 03/14/2021 for chest pain.\n")
    es.write_text("El paciente Zebulon Quixley refiere dolor torácico desde ayer, sin fiebre ni disnea.\n")
    result = CliRunner().invoke(app, ["deid", str(en), str(es)])
    assert result.exit_code == 1
    assert "es.txt" in result.output and "'es'" in result.output and "Quixley" not in result.output
    assert "torácico" not in result.output
    assert (env / "en.txt.deid.txt").exists() and not (env / "es.txt.deid.txt").exists()
    stdin = CliRunner().invoke(app, ["deid"], input="Le patient se plaint de douleurs thoraciques depuis hier soir.")
    assert stdin.exit_code == 1 and "'fr'" in stdin.output and "douleurs" not in stdin.output
