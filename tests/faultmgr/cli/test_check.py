"""`faultmgr check`: exit 0 when clean, 1 with warnings only, 2 with errors; and `plugins: {disable: [...]}`
in a rule file really keeps a plugin out (its types are unknown to that config)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BASE = """\
daemon: {{state_dir: {state}}}
detectors: {{ext: {{type: external}}}}
actions: {{fix: {{type: command, argv: [/bin/true]}}}}
receivers: {{ops: {{type: log}}}}
rules:
  down: {{match: {{kind: service.down, source: ext}}, notify: [ops], actions: [fix]}}
"""


def check(tmp: Path, text: str) -> subprocess.CompletedProcess[str]:
    rules = tmp / "rules.yaml"
    rules.write_text(text.format(state=tmp / "state"))
    return subprocess.run([sys.executable, "-m", "faultmgr", "check", str(rules)], capture_output=True, text=True,
                          timeout=60)


def test_clean_is_0_warnings_only_is_1_errors_are_2(tmp_path: Path) -> None:
    clean = check(tmp_path, BASE)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.startswith("ok: 1 file(s), 1 rule(s)")
    warned = check(tmp_path, BASE + "  quiet: {{match: {{kind: disk.full, source: ext}}}}\n")
    assert warned.returncode == 1, warned.stderr
    assert "rule 'quiet' pages nobody and runs no action" in warned.stderr
    assert "ok: 1 file(s), 2 rule(s)" in warned.stdout  # the config is usable: it would run
    broken = check(tmp_path, BASE + "  typo: {{match: {{kind: disk.full, source: ext}}, notify: [opps]}}\n")
    assert broken.returncode == 2
    assert "Traceback" not in broken.stderr


def test_plugins_disable_in_a_rule_file_keeps_the_plugin_out(tmp_path: Path) -> None:
    disabled = check(tmp_path, "plugins: {{disable: [command]}}\n" + BASE)
    assert disabled.returncode == 2, disabled.stdout
    assert "unknown action type 'command'" in disabled.stderr, disabled.stderr
    # the same file without its command action is fine: the rest of the plugins still load
    without = check(tmp_path, "plugins: {{disable: [command]}}\n" + BASE.replace(
        "actions: {{fix: {{type: command, argv: [/bin/true]}}}}\n", "").replace(", actions: [fix]", ""))
    assert without.returncode == 0, without.stderr
