"""The code stays as the style guide asks: ruff clean and mypy --strict clean (the core, every first-party
plugin and the example plugin)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["faultmgr", *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("plugins/*/faultmgr_*")
                                if p.is_dir() and not p.name.endswith(".egg-info")),
            "contrib/example-plugin/faultmgr_example"]


def test_ruff() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "faultmgr", "plugins", "bench", "tests",
                             "contrib"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", *PACKAGES], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
