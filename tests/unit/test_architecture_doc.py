"""docs/ARCHITECTURE.md's package layout is true: every module and subpackage it names exists, and
every package under medinfer/ is named (a new package must be added to the picture)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
_PACKAGE = re.compile(r"^(medinfer/[\w/]*)")
_NAME = re.compile(r"(?<![\w./<`*])([A-Za-z_][\w.]*\.(?:py|tsv|yaml)|[a-z_]+/)(?![\w<])")


def _layout() -> list[tuple[str, str]]:
    """(package, text of its lines) from the layout code block."""
    text = DOC.read_text()
    block = text.split("## Package layout", 1)[1].split("```", 2)[1]
    entries: list[tuple[str, str]] = []
    for line in block.splitlines():
        m = _PACKAGE.match(line)
        if m:
            entries.append((m.group(1), line[m.end():]))
        elif entries and line.startswith(" "):
            entries[-1] = (entries[-1][0], entries[-1][1] + " " + line)
    return entries


def _named_paths() -> set[Path]:
    paths = set()
    for package, rest in _layout():
        base = ROOT / package
        paths.add(base)
        # drop parenthesised descriptions: they may mention files elsewhere (<home>/run/gateway.json)
        rest = re.sub(r"\([^()]*\)", "", rest)
        for name in _NAME.findall(rest):
            paths.add(base / name.rstrip("/"))
    return paths


def test_every_named_module_exists() -> None:
    missing = sorted(str(p.relative_to(ROOT)) for p in _named_paths() if not p.exists())
    assert missing == [], f"docs/ARCHITECTURE.md names paths that do not exist: {missing}"


def test_every_package_is_named() -> None:
    named = {p for p in _named_paths() if p.is_dir()}
    packages = {d for d in (ROOT / "medinfer").rglob("*")
                if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py"))}
    packages.add(ROOT / "medinfer")
    unnamed = sorted(str(p.relative_to(ROOT)) for p in packages - named)
    assert unnamed == [], f"packages missing from docs/ARCHITECTURE.md: {unnamed}"


def test_the_parser_sees_the_layout() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _named_paths()}
    assert {"medinfer/gateway/app.py", "medinfer/registry/contract.py", "medinfer/stack.py"} <= names
