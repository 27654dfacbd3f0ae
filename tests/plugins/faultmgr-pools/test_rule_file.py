"""The ``pools:`` section and the ``pool.*`` actions through the core's rule-file loader."""

from __future__ import annotations

from pathlib import Path

import faultmgr_pools.plugin
import pytest
from faultmgr_pools.actions import QuiesceAction, ReweightAction
from faultmgr_pools.model import PoolsModel

from faultmgr.config.build import load
from faultmgr.config.errors import ConfigError
from faultmgr.plugin.manager import load_plugins

RULES = """
pools:
  web:
    service: {address: 192.0.2.10, port: 80, scheduler: wrr}
    backend: {type: ipvs}
    quorum: 2
    servers:
      - {name: web1, address: 10.0.0.11, weight: 10}
      - {name: web2, address: 10.0.0.12, weight: 10}
      - {name: web3, address: 10.0.0.13, standby: true}
    sorry: {name: sorry, address: 10.0.0.99}
  api:
    backend: {type: haproxy, socket: /run/haproxy/admin.sock, backend: api}
    servers:
      - {name: api1, address: "2001:db8::1", port: 8080, weight: 100}
actions:
  quiesce-web:
    type: pool.quiesce
    pool: web
  slow-api:
    type: pool.reweight
    pool: api
    weight: 10
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def plugins():  # type: ignore[no-untyped-def]
    return load_plugins(entry_points=False, extra=[("pools", faultmgr_pools.plugin)])


def test_pools_and_actions_load(tmp_path: Path, plugins) -> None:  # type: ignore[no-untyped-def]
    config = load([write(tmp_path, RULES)], plugins)
    pools = config.sections["pools"]
    assert isinstance(pools, PoolsModel)
    web = pools.pools["web"]
    assert web.quorum == 2 and web.port_of(web.servers[0]) == 80 and web.sorry is not None
    assert pools.pools["api"].servers[0].address == "2001:db8::1"
    assert config.actions["quiesce-web"].cls is QuiesceAction
    assert config.actions["slow-api"].cls is ReweightAction
    assert config.actions["slow-api"].settings.weight == 10


@pytest.mark.parametrize(("change", "message"), [
    (("pool: web\n    weight: 10", "pool: nope\n    weight: 10"), "pool 'nope' is not declared"),
    (("backend: {type: ipvs}", "backend: {type: lvs}"), "lvs"),
    (("{name: web2, address: 10.0.0.12,", "{name: web1, address: 10.0.0.12,"), "unique"),
    (("quorum: 2", "quorum: 4"), "quorum 4"),
    (("weight: 100", "weight: 300"), "above haproxy's maximum 256"),
    (("address: 10.0.0.11", "address: 10.0.0.300"), "10.0.0.300"),
    (("    service: {address: 192.0.2.10, port: 80, scheduler: wrr}\n", ""), "needs `service`"),
])
def test_mistakes_are_reported(tmp_path: Path, plugins, change: tuple[str, str], message: str) -> None:  # type: ignore[no-untyped-def]
    text = RULES.replace("pool: api\n    weight: 10", "pool: web\n    weight: 10") if "nope" in change[1] else RULES
    assert change[0] in text
    with pytest.raises(ConfigError) as info:
        load([write(tmp_path, text.replace(change[0], change[1], 1))], plugins)
    assert message in str(info.value)
