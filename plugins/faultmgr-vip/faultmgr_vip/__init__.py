"""faultmgr-vip: the ``vip.takeover`` and ``vip.release`` actions (HA-OSCAR's service address failover)."""

from __future__ import annotations

from faultmgr.component import Action
from faultmgr.hookspecs import hookimpl
from faultmgr.plugin.registry import TypeRegistry
from faultmgr_vip.actions import VipRelease, VipTakeover
from faultmgr_vip.settings import ReleaseSettings, TakeoverSettings


@hookimpl
def faultmgr_register_actions(registry: TypeRegistry[Action]) -> None:
    """Register ``vip.takeover`` and ``vip.release``."""
    registry.register("vip.takeover", VipTakeover)
    registry.register("vip.release", VipRelease)


__all__ = ["ReleaseSettings", "TakeoverSettings", "VipRelease", "VipTakeover", "faultmgr_register_actions"]
