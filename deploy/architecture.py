"""Render deploy/architecture.png from architecture.dot and record what it came from.

``architecture.png.sha256`` records the SHA-256 of the source and of the PNG and
the graphviz version that drew it. The tests fail when the source changed since
the last render (stale picture) or the PNG was replaced by hand; with the same
graphviz they also re-render and compare bytes. ``make architecture`` runs this.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

__all__ = ["DOT", "PNG", "STAMP", "dot_version", "read_stamp", "render", "write"]

HERE = Path(__file__).resolve().parent
DOT = HERE / "architecture.dot"
PNG = HERE / "architecture.png"
STAMP = HERE / "architecture.png.sha256"


def dot_version() -> str:
    out = subprocess.run(["dot", "-V"], capture_output=True, text=True, check=True)
    return (out.stderr or out.stdout).strip()


def render(source: Path = DOT) -> bytes:
    """The PNG graphviz draws for ``source`` (graphviz's output carries no timestamp)."""
    return subprocess.run(["dot", "-Tpng", str(source)], capture_output=True, check=True).stdout


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_stamp() -> dict[str, str]:
    fields = {}
    for line in STAMP.read_text().splitlines():
        key, _, value = line.partition(": ")
        fields[key] = value
    return fields


def write() -> None:
    png = render()
    PNG.write_bytes(png)
    STAMP.write_text(
        f"source: {_sha(DOT.read_bytes())}\npng: {_sha(png)}\ngraphviz: {dot_version()}\n"
    )


if __name__ == "__main__":
    write()
    sys.exit(0)
