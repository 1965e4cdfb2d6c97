"""``medinfer dicom deid IN_DIR OUT_DIR``: batch DICOM de-identification with a progress bar.

Files are recognised by the ``DICM`` magic, never by extension; anything else is
skipped. Outputs are named by their *new* UIDs (``<study>/<series>/<instance>.dcm``)
so no input file or folder name (which often carries a patient name) is copied.
Each output is written to a temporary file and renamed, so a crash leaves no partial
file. The key comes from the preprocessor settings
(``MEDINFER_PREPROCESS_DICOM_DEID_SECRET``), so the CLI and the service produce the
same pseudonyms. The summary prints counts only.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections import Counter
from pathlib import Path

import pydicom
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from medinfer.common.errors import MedinferError
from medinfer.preprocess.app import build_deid_engine
from medinfer.preprocess.imaging.service import ImagingService, lazy
from medinfer.preprocess.settings import PreprocessSettings

__all__ = ["register", "dicom_app", "deidentify_tree"]

dicom_app = typer.Typer(help="DICOM utilities.", no_args_is_help=True)


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".deid-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _output_name(data: bytes) -> Path:
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    parts = [str(ds.get(k, "") or "unknown") for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")]
    return Path(parts[0]) / parts[1] / f"{parts[2]}.dcm"


def deidentify_tree(
    in_dir: Path, out_dir: Path, service: ImagingService, *, skip_burned_in: bool = False, progress: bool = True,
    burned_in: str | None = None,
) -> Counter:
    """De-identify every DICOM file under ``in_dir`` into ``out_dir``; returns outcome counts."""
    files = sorted(p for p in in_dir.rglob("*") if p.is_file() and not p.is_relative_to(out_dir))
    counts: Counter = Counter()
    limit = service.preprocessor.limits.max_input_bytes
    with Progress(TextColumn("de-identifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  disable=not progress, console=Console(stderr=True)) as bar:
        task = bar.add_task("deid", total=len(files))
        for path in files:
            bar.advance(task)
            if not _is_dicom(path):
                counts["skipped_not_dicom"] += 1
                continue
            if path.stat().st_size > limit:
                counts["error:payload-too-large"] += 1
                continue
            try:
                out, report, pixels = service.deidentify_dicom(path.read_bytes(), burned_in)
            except MedinferError as exc:
                counts[f"error:{exc.code}"] += 1
                continue
            if pixels.get("masked_boxes"):
                counts["pixels_masked"] += 1
            if report.burned_in_annotation == "YES":
                counts["burned_in_annotation"] += 1
                if skip_burned_in:
                    counts["skipped_burned_in"] += 1
                    continue
            _atomic_write(out_dir / _output_name(out), out)
            counts["written"] += 1
    return counts


@dicom_app.command("deid")
def deid(
    in_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="Folder to read (recursively)."),
    out_dir: Path = typer.Argument(..., file_okay=False, help="Folder to write <study>/<series>/<instance>.dcm to."),
    skip_burned_in: bool = typer.Option(False, help="Do not write images flagged BurnedInAnnotation=YES."),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    burned_in: str = typer.Option(None, "--burned-in", help="Burned-in text policy for every file: mask, refuse or off "
                                  "(default: per modality from the preprocessor settings)."),
) -> None:
    """De-identify a folder of DICOM files (PS3.15 Annex E Basic Profile, keyed UIDs and dates)."""
    in_dir, out_dir = in_dir.resolve(), out_dir.resolve()
    if out_dir == in_dir:
        raise typer.BadParameter("OUT_DIR must differ from IN_DIR")
    settings = PreprocessSettings()
    engine = lazy(lambda: build_deid_engine(settings)) if settings.deid_enabled else None
    service = ImagingService.from_settings(settings, text_engine=engine)
    if burned_in is not None:
        try:
            service.cleaner.policy.check_request(burned_in)  # a bad value fails before any file is read
        except MedinferError as exc:
            raise typer.BadParameter(str(exc.detail), param_hint="--burned-in") from None
    counts = deidentify_tree(in_dir, out_dir, service, skip_burned_in=skip_burned_in, progress=not no_progress,
                             burned_in=burned_in)
    for key in sorted(counts):
        typer.echo(f"{key}: {counts[key]}")
    if any(k.startswith("error:") for k in counts):
        raise typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    app.add_typer(dicom_app, name="dicom")
