"""The deployment samples in contrib/ pass `faultmgr check` (with their secret files present, mode 0600)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [ROOT / "contrib" / "etc" / "faultmgr", *sorted((ROOT / "contrib" / "deploy" / "two-heads").glob("*/"))]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_sample_passes_check(sample: Path, tmp_path: Path) -> None:
    (tmp_path / "heartbeat.keys").write_text("1 " + os.urandom(32).hex() + "\n")
    (tmp_path / "twilio.credentials").write_text("TWILIO_ACCOUNT_SID=AC" + "0" * 32 + "\nTWILIO_AUTH_TOKEN=" +
                                                 "0" * 32 + "\n")
    for path in tmp_path.iterdir():
        path.chmod(0o600)
    result = subprocess.run([sys.executable, "-m", "faultmgr", "check", str(sample)],
                            env={**os.environ, "FAULTMGR_SECRETS": str(tmp_path)}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
