"""`faultmgr check` names the file and line of the instance whose own check fails, whichever file that is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_components_problem_is_reported_where_the_component_is_written(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("1 " + os.urandom(32).hex() + "\n")
    keys.chmod(0o644)
    # "a-rules.yaml" sorts first; the detector with the problem is written in "b-site.yaml".
    (tmp_path / "a-rules.yaml").write_text("rules:\n  x: {match: {kind: 'heartbeat.*', source: hb}, notify: [o]}\n")
    (tmp_path / "b-site.yaml").write_text(
        "receivers: {o: {type: log}}\n"
        "detectors:\n"
        "  hb:\n"
        "    type: heartbeat\n"
        "    node: head-a\n"
        "    peers: [head-b]\n"
        f"    key_file: {keys}\n"
        "    paths: [{type: udp, name: lan, bind: '127.0.0.1:6940', targets: ['127.0.0.1:6941']}]\n")
    result = subprocess.run([sys.executable, "-m", "faultmgr", "check", str(tmp_path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{tmp_path}/b-site.yaml:3:3: detector 'hb' (heartbeat): heartbeat key file {keys} is readable or "
        f"writable by others (mode 0644); run: chmod 600 {keys}",
        "1 error(s)"]
