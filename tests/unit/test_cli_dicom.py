"""``medinfer dicom deid IN_DIR OUT_DIR``."""

from __future__ import annotations

import pydicom
import typer
from typer.testing import CliRunner

from medinfer.cli.dicom import register
from tests.support.dicom_factory import ct_slice, make_dicom


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """root"""

    register(app)
    return app


def test_deid_tree(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDINFER_PREPROCESS_DICOM_DEID_SECRET", "cli-test-secret-0123456789")
    monkeypatch.setenv("MEDINFER_HOME", str(tmp_path / "home"))
    src = tmp_path / "in" / "Doe_Jane"
    src.mkdir(parents=True)
    study = pydicom.uid.generate_uid()
    for i in range(3):
        (src / f"slice{i}.dcm").write_bytes(make_dicom(ct_slice(16, seed=i), study_uid=study))
    (src / "burned.dcm").write_bytes(make_dicom(ct_slice(16), burned_in="YES"))
    (src / "notes.txt").write_text("not dicom")
    (src / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 10)
    out = tmp_path / "out"
    result = CliRunner().invoke(_app(), ["dicom", "deid", str(tmp_path / "in"), str(out), "--no-progress",
                                         "--skip-burned-in"])
    assert result.exit_code == 2, result.output  # one broken file
    assert "written: 3" in result.output and "skipped_not_dicom: 1" in result.output
    assert "skipped_burned_in: 1" in result.output and "error:corrupt-image: 1" in result.output
    written = sorted(out.rglob("*.dcm"))
    assert len(written) == 3
    studies = {p.relative_to(out).parts[0] for p in written}
    assert len(studies) == 1 and study not in studies  # one study, under its new UID
    for p in written:
        raw = p.read_bytes()
        assert b"Doe^Jane" not in raw and b"Doe_Jane" not in str(p).encode()
        assert pydicom.dcmread(p).PatientIdentityRemoved == "YES"
    assert not list(out.rglob(".deid-*"))
