"""The shipped systemd unit: systemd itself finds nothing wrong with it, and it grants what the daemon was
measured with (real-time beats) and nothing more than the two capabilities it needs."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

from faultmgr_heartbeat.settings import HeartbeatSettings
from prereq import need_program

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "systemd" / "faultmgr.service"
FAULTMGR = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "faultmgr"


def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_systemd_analyze_verify_is_silent(tmp_path: Path) -> None:
    need_program("systemd-analyze", "systemd")
    faultmgr = shutil.which("faultmgr") or str(FAULTMGR)
    unit = tmp_path / "faultmgr.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/faultmgr", faultmgr))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and (result.stdout + result.stderr).strip() == "", result.stdout + result.stderr


def test_the_heartbeat_sender_may_go_real_time_and_nothing_else_is_granted() -> None:
    section = service()
    assert section["Type"] == "notify" and section["WatchdogSec"]
    assert section["RestrictRealtime"] == "no"
    default_priority = HeartbeatSettings.model_fields["realtime_priority"].default
    assert int(section["LimitRTPRIO"]) >= default_priority
    assert section["AmbientCapabilities"].split() == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
    assert section["CapabilityBoundingSet"].split() == ["CAP_NET_ADMIN", "CAP_NET_RAW"]
    assert section["ProtectSystem"] == "strict" and section["NoNewPrivileges"] == "yes"
