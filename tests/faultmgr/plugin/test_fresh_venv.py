"""contrib/example-plugin installed from its directory into a fresh virtualenv is discovered and runs,
with no change to faultmgr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_example_plugin_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, str(ROOT)], check=True, timeout=600)
    subprocess.run([*pip, str(ROOT / "contrib" / "example-plugin")], check=True, timeout=600)
    faultmgr = str(venv / "bin" / "faultmgr")
    listing = json.loads(subprocess.run([faultmgr, "plugins", "--json"], check=True, capture_output=True,
                                        text=True, timeout=60).stdout)
    example = next(p for p in listing if p["name"] == "example")
    assert example["distribution"] == "faultmgr-example" and example["status"] == "loaded"
    assert example["registers"] == {"detectors": ["example.load"], "notifiers": ["example.textfile"]}
    # and it runs: a daemon with its detector reading a fake loadavg pages through its notifier
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("9.0 1 1 1/1 1\n")
    pages = tmp_path / "pages.txt"
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""
daemon: {{state_dir: {tmp_path / 'state'}}}
detectors: {{load: {{type: example.load, threshold: 2, interval: 100ms, loadavg_file: {loadavg}, node: n1}}}}
receivers: {{pager-log: {{type: example.textfile, path: {pages}, group_wait: 0s}}}}
rules: {{loaded: {{match: {{kind: load.high, source: load}}, notify: [pager-log]}}}}
""")
    check = subprocess.run([faultmgr, "check", str(rules)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    daemon = subprocess.Popen([faultmgr, "run", "-c", str(rules)], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            if pages.exists() and "loaded n1" in pages.read_text():
                break
            subprocess.run(["sleep", "0.1"], check=True)
        else:
            pytest.fail("the example plugin's notifier never wrote the page")
    finally:
        daemon.terminate()
        _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    assert "firing loaded n1" in pages.read_text()
