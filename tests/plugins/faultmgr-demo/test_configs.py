"""The demo's packaged rule files, filled in for each way the demo runs, are valid faultmgr configs: a change
to a plugin's settings that breaks them fails here, in a second, rather than in the middle of ``make demo``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from faultmgr_demo.configs import Configs
from faultmgr_demo.portal import api_available
from faultmgr_demo.topology import Layout

from faultmgr.config.build import load
from faultmgr.plugin.manager import load_plugins


@pytest.mark.parametrize("mode", ["namespaces", "loopback", "loopback-without-pool"])
def test_rule_files_pass_the_loader(tmp_path: Path, mode: str) -> None:
    layout = Layout.namespaces() if mode == "namespaces" else Layout.loopback()
    layout.pool = not mode.endswith("without-pool")
    configs = Configs(layout, tmp_path)
    configs.write(api=api_available())
    plugins = load_plugins()
    for node in ("head-a", "head-b", "watcher"):
        config = load([str(configs.rule_file(node))], plugins)
        assert set(config.receivers) == {"pager", "station"}
        if node != "watcher":
            vip = config.actions["vip"]
            assert vip.type == ("demo.vip" if layout.dry_run else "vip.takeover")
            assert ("web-out" in config.actions) is layout.pool
    for secret in (configs.key_file, *([configs.tokens_file] if api_available() else [])):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "@" not in configs.haproxy_config("head-a").read_text()  # every placeholder filled
