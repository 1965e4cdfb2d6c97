"""The shell blocks of README.md, docs/*.md and the model cards, and how the tests run them.

Blocks are found with markdown-it-py (CommonMark, so fences inside list items count). The fence's
info string says what a block is for:

* ````` ```bash test ````` — a command sequence a user is told to run: ``tests/e2e/test_journey.py``
  runs it, as written, in ``bash -euo pipefail`` against a real stack;
* ````` ```bash not-run: <why> ````` — not runnable here (a Kubernetes cluster, a Docker engine);
  the reason says what checks it offline instead;
* any other language (``text``, ``json``, ``python``...) — not a command.

Running "as written" means: in a folder laid out like a checkout (``examples/``, ``.venv``, the
stack's ``.medinfer/``) with the venv's ``bin`` on ``PATH``; the only rewrite is the stack's
ephemeral ports for the documented defaults (8443-8445, 8080-8081, 8000-8002), and curl fails on an
HTTP error (``--fail-with-body`` from a ``.curlrc``) so a 4xx cannot pass for a success.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

__all__ = ["DocBlock", "doc_blocks", "DOC_FILES", "SHELL_LANGUAGES", "run_block", "ROOT"]

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "models").glob("*/README.md")))
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console", "zsh"})
_PORT = re.compile(r"\b(127\.0\.0\.1|localhost):(8443|8444|8445|8080|8081|8000|8001|8002)\b")


@dataclass(frozen=True)
class DocBlock:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    flags: str  # the info string after the language
    body: str
    fenced: bool = True

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.language in SHELL_LANGUAGES and self.flags.split(":")[0].strip() == "test"


def doc_blocks(paths: tuple[Path, ...] = DOC_FILES) -> list[DocBlock]:
    md = MarkdownIt("commonmark")
    found = []
    for path in paths:
        for tok in md.parse(path.read_text()):
            if tok.type not in ("fence", "code_block"):
                continue
            language, _, flags = tok.info.strip().partition(" ")
            found.append(DocBlock(path, tok.map[0] + 1, language, flags.strip(), tok.content, tok.type == "fence"))
    return found


def run_block(block: DocBlock, *, cwd: Path, env: dict[str, str], ports: dict[int, int],
              timeout: float = 300) -> subprocess.CompletedProcess:
    """Run one ``test`` block; ``ports`` maps each documented default port to the stack's port."""
    script = _PORT.sub(lambda m: f"{m.group(1)}:{ports.get(int(m.group(2)), int(m.group(2)))}", block.body)
    curl_home = cwd / ".doc-tests-curl"
    curl_home.mkdir(exist_ok=True)
    (curl_home / ".curlrc").write_text("fail-with-body\n")
    run_env = {**env, "CURL_HOME": str(curl_home)}
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=run_env, capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"{block.where} failed with {r.returncode}:\n--- script\n{script}\n--- stdout\n"
                             f"{r.stdout[-4000:]}\n--- stderr\n{r.stderr[-4000:]}")
    return r


def checkout_like(folder: Path) -> Path:
    """A working folder laid out like the repository's root for the docs' relative paths."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("examples", ".venv", "models", "bench", "deploy"):
        link = folder / name
        if not link.exists():
            os.symlink(ROOT / name, link)
    return folder
