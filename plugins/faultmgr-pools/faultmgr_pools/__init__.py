"""faultmgr-pools: load-balancer pools for faultmgr.

A ``pools:`` rule-file section declares virtual services and their real servers; the ``pool.*`` actions
reweight, quiesce, remove and add real servers when alerts fire, on IPVS (netlink) or HAProxy (runtime
API); :mod:`faultmgr_pools.nodes` drains and adds servers while traffic flows, which operators do with
``faultmgr pool drain/add/weight`` (:mod:`faultmgr_pools.cli`, asking the daemon through
:mod:`faultmgr_pools.control`).
"""

from faultmgr_pools.backend import Backend, BackendError, ServerState, Target
from faultmgr_pools.controller import PoolController, Report, make_backend
from faultmgr_pools.model import Pool, PoolsModel, RealServer
from faultmgr_pools.nodes import (
    DrainResult,
    NotHealthy,
    PoolDirectory,
    PoolError,
    UnknownServer,
    add_server,
    drain_server,
    tcp_check,
)

__all__ = [
    "Backend",
    "BackendError",
    "DrainResult",
    "NotHealthy",
    "Pool",
    "PoolController",
    "PoolDirectory",
    "PoolError",
    "PoolsModel",
    "RealServer",
    "Report",
    "ServerState",
    "Target",
    "UnknownServer",
    "add_server",
    "drain_server",
    "make_backend",
    "tcp_check",
]
