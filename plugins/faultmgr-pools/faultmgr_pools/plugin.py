"""Hook implementations of faultmgr-pools: the ``pools:`` section and the ``pool.*`` actions."""

from __future__ import annotations

from typing import Any

from faultmgr.component import Action
from faultmgr.config.sections import SectionRegistry
from faultmgr.hookspecs import hookimpl
from faultmgr.plugin.registry import TypeRegistry
from faultmgr_pools.actions import AddAction, PoolAction, QuiesceAction, RemoveAction, ReweightAction
from faultmgr_pools.model import PoolsModel


@hookimpl
def faultmgr_register_sections(registry: SectionRegistry) -> None:
    registry.register("pools", PoolsModel, "load-balancer pools (IPVS or HAProxy): virtual service, real "
                                           "servers and weights, sorry server, quorum")


@hookimpl
def faultmgr_register_actions(registry: TypeRegistry[Action]) -> None:
    registry.register("pool.reweight", ReweightAction)
    registry.register("pool.quiesce", QuiesceAction)
    registry.register("pool.remove", RemoveAction)
    registry.register("pool.add", AddAction)


@hookimpl
def faultmgr_validate_config(config: Any) -> list[str] | None:
    """Every ``pool.*`` action names a declared pool, and its ``server`` (when given) is in that pool."""
    pools_section = getattr(config, "sections", {}).get("pools")
    pools = pools_section.pools if isinstance(pools_section, PoolsModel) else {}
    problems = []
    for name, instance in getattr(config, "actions", {}).items():
        if not (isinstance(instance.cls, type) and issubclass(instance.cls, PoolAction)):
            continue
        pool_name, server = instance.settings.pool, instance.settings.server
        if pool_name not in pools:
            declared = ", ".join(sorted(pools)) or "none; add a `pools:` section"
            problems.append(f"action {name!r}: pool {pool_name!r} is not declared (declared: {declared})")
        elif server is not None and pools[pool_name].server(server) is None and instance.type != "pool.add":
            problems.append(f"action {name!r}: pool {pool_name!r} has no server {server!r}")
    return problems or None
