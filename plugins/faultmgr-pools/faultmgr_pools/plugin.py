"""Hook implementations of faultmgr-pools: the ``pools:`` section and the ``pool.*`` actions."""

from __future__ import annotations

from faultmgr.component import Action
from faultmgr.config.sections import SectionRegistry
from faultmgr.hookspecs import hookimpl
from faultmgr.plugin.registry import TypeRegistry
from faultmgr_pools.actions import AddAction, QuiesceAction, RemoveAction, ReweightAction
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
