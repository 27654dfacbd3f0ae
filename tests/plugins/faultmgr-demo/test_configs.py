"""The demo's packaged rule files, filled in for each way the demo runs, are valid faultmgr configs: a change
to a plugin's settings that breaks them fails here, in a second, rather than in the middle of ``make demo``. They
run the rule files shipped with faultmgr (rules/), included unchanged: every shipped rule is in force on its node."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from faultmgr_demo.configs import SHIPPED, Configs
from faultmgr_demo.portal import api_available
from faultmgr_demo.topology import Layout

from faultmgr import shipped_rules
from faultmgr.config.build import load, read_all
from faultmgr.plugin.manager import load_plugins


@pytest.mark.parametrize("mode", ["namespaces", "loopback", "loopback-without-pool"])
def test_rule_files_pass_the_loader(tmp_path: Path, mode: str) -> None:
    layout = Layout.namespaces() if mode == "namespaces" else Layout.loopback()
    layout.pool = not mode.endswith("without-pool")
    configs = Configs(layout, tmp_path)
    configs.write(api=api_available())
    plugins = load_plugins()
    rules_dir = shipped_rules()
    assert rules_dir is not None
    for node in ("head-a", "head-b", "watcher"):
        config = load([str(configs.rule_file(node))], plugins)
        shipped = rules_dir / SHIPPED["watcher" if node == "watcher" else "head"]
        docs, _ = read_all([configs.rule_file(node)])
        assert [Path(doc.file) for doc in docs] == [configs.rule_file(node), shipped]
        shipped_rule_names = set(yaml.safe_load(shipped.read_text())["rules"])
        assert shipped_rule_names <= set(config.rules)
        assert {"oncall-email", "oncall-sms", "nms", "security-team", "oncall-log"} <= set(config.receivers)
        if node != "watcher":
            vip = config.actions["vip"]
            assert vip.type == ("demo.vip" if layout.dry_run else "vip.takeover")
            assert ("web-out" in config.actions) is layout.pool
    for secret in (configs.key_file, *([configs.tokens_file] if api_available() else [])):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "@" not in configs.haproxy_config("head-a").read_text()  # every placeholder filled
