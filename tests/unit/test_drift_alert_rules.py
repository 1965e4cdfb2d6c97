"""The drift/OOD alert rules are valid and fire (and stay quiet) as their promtool unit tests say."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

RULES = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"


def test_promtool_checks_and_unit_tests_the_drift_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with the Debian 'prometheus' package (.ci/apt-packages.txt)"
    subprocess.run([promtool, "check", "rules", "drift-rules.yaml"], cwd=RULES, check=True, capture_output=True)
    res = subprocess.run([promtool, "test", "rules", "drift-rules.test.yaml"], cwd=RULES, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
