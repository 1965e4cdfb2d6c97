"""``medinfer deid FILE...``: de-identify text files (or stdin) with the preprocessor's engine."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from medinfer.common.errors import MedinferError

__all__ = ["deid", "register"]

_CHUNK = 16


def _engine():
    # Imported here: loading spaCy takes seconds and `medinfer --help` should not pay for it.
    from medinfer.preprocess.app import build_deid_engine
    from medinfer.preprocess.settings import PreprocessSettings

    return build_deid_engine(PreprocessSettings())


def deid(
    files: list[Path] = typer.Argument(None, help="Text files (UTF-8). None or '-' reads stdin, writes stdout."),
    operator: str = typer.Option("tag", "--operator", "-o", help="redact | mask | tag | surrogate"),
    patient_key: str = typer.Option(None, "--patient-key", "-p",
                                    help="Same key -> same surrogates and date shift across these notes."),
    out_dir: Path = typer.Option(None, "--out-dir", "-d", help="Write results here (default: beside each input)."),
    suffix: str = typer.Option(".deid.txt", help="Suffix of the output files."),
    as_json: bool = typer.Option(False, "--json", help="Write {text, entities} JSON instead of plain text."),
) -> None:
    """De-identify clinical notes. Errors name the file and the problem, never its content."""
    err = Console(stderr=True)
    try:
        from medinfer.preprocess.deid import DeidEngine

        DeidEngine.check_operator(operator)
        DeidEngine.check_patient_key(patient_key)
    except MedinferError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(2) from None
    if not files or [str(f) for f in files] == ["-"]:
        engine = _engine()
        try:
            result = engine.deidentify(sys.stdin.buffer.read(), operator, patient_key)
        except MedinferError as exc:
            err.print(f"error: stdin: {exc.detail}")
            raise typer.Exit(1) from None
        sys.stdout.write(orjson.dumps(result.to_dict()).decode() + "\n" if as_json else result.text)
        return
    engine = _engine()
    failed = 0
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    progress = Progress(TextColumn("de-identifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=err, disable=len(files) < 2)
    with progress:
        task = progress.add_task("deid", total=len(files))
        for i in range(0, len(files), _CHUNK):
            chunk: list[tuple[Path, str]] = []
            for path in files[i:i + _CHUNK]:
                try:
                    text = engine.check_text(path.read_bytes(), str(path.name))
                    engine.check_language(text, str(path.name))   # refused files are reported, the rest go on
                    chunk.append((path, text))
                except OSError as exc:
                    err.print(f"error: {path}: cannot read ({type(exc).__name__})")
                    failed += 1
                    progress.advance(task)
                except MedinferError as exc:
                    err.print(f"error: {path}: {exc.detail}")
                    failed += 1
                    progress.advance(task)
            if not chunk:
                continue
            try:
                results = engine.deidentify_batch(
                    [{"text": text, "operator": operator, "patient_key": patient_key} for _, text in chunk])
            except MedinferError as exc:   # the chunk's time budget ran out: nothing of it is written
                for path, _ in chunk:
                    err.print(f"error: {path}: {exc.detail}")
                failed += len(chunk)
                progress.advance(task, len(chunk))
                continue
            for (path, _), result in zip(chunk, results):
                target = (out_dir or path.parent) / (path.name + suffix)
                payload = orjson.dumps(result.to_dict()) + b"\n" if as_json else result.text.encode("utf-8")
                target.write_bytes(payload)
                progress.advance(task)
    err.print(f"{len(files) - failed} de-identified, {failed} failed")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("deid")(deid)
