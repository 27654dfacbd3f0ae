"""The ``probe`` type through the entry point and the core's rule-file loader."""

from __future__ import annotations

from pathlib import Path

import faultmgr_probes
import pytest
from faultmgr_probes import ProbeDetector

from faultmgr.config.build import load
from faultmgr.config.errors import ConfigError
from faultmgr.plugin.manager import load_plugins

RULES = """
detectors:
  web:
    type: probe
    checkinterval: 2s
    failurecount: 3
    rise: 2
    maintenancedir: /etc/faultmgr/maintenance
    targets:
      - {name: web1, type: http, host: 192.0.2.11, port: 80, path: /, receive: "ok"}
      - {name: web2, type: https, host: 192.0.2.12, virtualhost: www.example.org, verify: false}
      - {name: dns1, type: dns, host: 192.0.2.53, query: www.example.org}
      - {name: pbs, type: external, command: [/bin/true, "{host}"]}
      - {name: home, type: fs, path: /home, min_free_percent: 5}
"""


def test_entry_point_registers_probe() -> None:
    plugins = load_plugins()
    registered = plugins.detectors.get("probe")
    assert registered is not None and registered.cls is ProbeDetector


def test_rule_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    config = load([path], load_plugins(entry_points=False, extra=[("probe", faultmgr_probes)]))
    web = config.detectors["web"]
    assert web.cls is ProbeDetector
    assert web.settings.checkinterval == 2.0 and [t.type for t in web.settings.targets] == [
        "http", "https", "dns", "external", "fs"]


def test_option_of_another_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace("query: www.example.org", "query: www.example.org, path: /x"))
    with pytest.raises(ConfigError):
        load([path], load_plugins(entry_points=False, extra=[("probe", faultmgr_probes)]))
