"""Hook implementations of faultmgr-pools: the ``pools:`` section, the ``pool.*`` actions, the ``pool.*``
control requests and the ``faultmgr pool`` commands."""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any

import click

from faultmgr.component import Action
from faultmgr.config.sections import SectionRegistry
from faultmgr.hookspecs import hookimpl
from faultmgr.plugin.registry import TypeRegistry
from faultmgr_pools.actions import AddAction, PoolAction, QuiesceAction, RemoveAction, ReweightAction
from faultmgr_pools.cli import pool_group
from faultmgr_pools.control import COMMANDS, directory_of
from faultmgr_pools.controller import PoolController, Report
from faultmgr_pools.health import health_check
from faultmgr_pools.model import PoolsModel
from faultmgr_pools.nodes import PoolDirectory
from faultmgr_pools.rulefile import WHO, Journal, Transitions

log = logging.getLogger("faultmgr.pools")
#: Reconciliations in flight (the event loop keeps only weak references to tasks).
_tasks: set[asyncio.Task[dict[str, Report]]] = set()


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


@dataclass
class _Following:
    """Per daemon: the pools directory in force and the drains and joins of rule-file changes."""

    directory: PoolDirectory | None = None
    transitions: Transitions = field(default_factory=Transitions)


_following: weakref.WeakKeyDictionary[Any, _Following] = weakref.WeakKeyDictionary()


def _journal(daemon: Any) -> Journal:
    def record(action: str, controller: PoolController, server: str, detail: str) -> None:
        journal = getattr(daemon, "journal", None)
        if journal is not None:
            journal.record_control(WHO, action, f"pool {controller.name}/{server}", detail, daemon.clock.now())

    return record


def reconcile_in_background(daemon: Any) -> asyncio.Task[dict[str, Report]] | None:
    """Start reconciling every declared pool to the daemon's config, then drain the real servers the rule
    file no longer has and let in the new ones once healthy; errors are logged, never raised."""
    config = getattr(daemon, "config", None)
    if not isinstance(getattr(config, "sections", {}).get("pools"), PoolsModel):
        return None
    directory = directory_of(daemon)
    try:
        following = _following.setdefault(daemon, _Following())
    except TypeError:  # a daemon stand-in without weak references: no state kept across reloads
        following = _Following()
    # Drains and joins of the previous config act through its controllers: call them off before anything
    # reconciles the new one; they resume below on the new controllers, where the store's marks left them.
    following.transitions.stop()
    if following.directory is not None and following.directory is not directory:
        following.directory.supersede(directory)
    following.directory = directory

    async def reconcile() -> dict[str, Report]:
        reports: dict[str, Report] = {}
        for name in directory.pools.pools:
            try:
                reports[name] = report = await directory.controller(name).reconcile()
            except Exception as exc:  # one unreachable load balancer must not stop the other pools
                log.error("pool %s: reconciliation failed: %s", name, exc)
                continue
            for line in report.errors:
                log.error("pool %s: %s", name, line)
        if following.directory is directory:  # not replaced by another reload meanwhile
            following.transitions.resume(directory, _journal(daemon),
                                         lambda server: health_check(daemon, server, None))
        return reports

    task = asyncio.get_running_loop().create_task(reconcile(), name="faultmgr-pools reconcile")
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


@hookimpl
def faultmgr_startup(daemon: Any) -> None:
    """Bring every pool to its declared state (plus the overrides of alerts still open)."""
    reconcile_in_background(daemon)


@hookimpl
def faultmgr_reloaded(daemon: Any, changed: list[str]) -> None:
    """A reload may have added, removed or reweighted servers: reconcile every pool again; removed servers
    are drained first, new ones wait for their health check."""
    reconcile_in_background(daemon)


@hookimpl
def faultmgr_shutdown(daemon: Any) -> None:
    """Call off the drains and joins in flight (their marks are durable: the next start resumes them)."""
    try:
        following = _following.pop(daemon, None)
    except TypeError:
        return
    if following is not None:
        following.transitions.stop()


@hookimpl
def faultmgr_control_commands(commands: dict[str, Any]) -> None:
    """``pool.list``, ``pool.drain``, ``pool.add``, ``pool.weight`` on the daemon's control socket."""
    commands.update(COMMANDS)


@hookimpl
def faultmgr_cli_commands(cli: click.Group) -> None:
    """``faultmgr pool list|drain|add|weight``."""
    cli.add_command(pool_group)
