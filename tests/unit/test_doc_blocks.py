"""Every shell block in README.md and docs/*.md says whether the tests run it: ``bash test`` (run as
written against a real stack by tests/e2e/test_journey.py) or ``bash not-run: <why>``."""

from __future__ import annotations

from tests.support.doc_blocks import SHELL_LANGUAGES, doc_blocks


def test_every_block_is_fenced_with_a_language() -> None:
    bad = [b.where for b in doc_blocks() if not b.fenced or not b.language]
    assert bad == [], f"use a fenced block with a language (text, json, bash test, ...): {bad}"


def test_every_shell_block_is_run_or_says_why_not() -> None:
    bad = []
    for b in doc_blocks():
        if b.language not in SHELL_LANGUAGES:
            continue
        if b.flags == "test":
            continue
        if b.flags.startswith("not-run:") and len(b.flags.split(":", 1)[1].strip()) >= 10:
            continue
        bad.append(f"{b.where} [{b.language} {b.flags}]")
    assert bad == [], f"mark each shell block 'test' or 'not-run: <reason>': {bad}"


def test_the_docs_have_runnable_blocks() -> None:
    runnable = {b.where.split(":")[0] for b in doc_blocks() if b.runnable}
    assert {"README.md", "docs/registry.md", "docs/fhir.md", "docs/security.md", "docs/text_models.md",
            "models/breast_cancer/README.md"} <= runnable
