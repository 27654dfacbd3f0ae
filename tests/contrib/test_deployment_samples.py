"""The deployment samples in contrib/ pass `faultmgr check` (with their secret files present, mode 0600): the
/etc/faultmgr sample, and each node of the two-heads sample with the receivers of the /etc/faultmgr sample (the
shipped rules its nodes include page them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ETC = ROOT / "contrib" / "etc" / "faultmgr"
SAMPLES = [ETC, *sorted((ROOT / "contrib" / "deploy" / "two-heads").glob("*/"))]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_sample_passes_check(sample: Path, tmp_path: Path) -> None:
    (tmp_path / "heartbeat.keys").write_text("1 " + os.urandom(32).hex() + "\n")
    (tmp_path / "twilio.credentials").write_text("TWILIO_ACCOUNT_SID=AC" + "0" * 32 + "\nTWILIO_AUTH_TOKEN=" +
                                                 "0" * 32 + "\n")
    for path in tmp_path.iterdir():
        path.chmod(0o600)
    files = [sample] if sample == ETC else [sample, ETC / "receivers.yaml"]
    result = subprocess.run([sys.executable, "-m", "faultmgr", "check", *map(str, files)],
                            env={**os.environ, "FAULTMGR_SECRETS": str(tmp_path)}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
