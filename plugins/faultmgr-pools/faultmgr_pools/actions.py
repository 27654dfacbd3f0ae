"""The ``pool.*`` actions: reweight, quiesce, remove and add a real server when an alert fires.

Each acts on the alert's subject (the probe target's name, which is the real server's name) unless the
``server`` setting names one. When the alert resolves, the server goes back to what the rule file declares.
The sorry server and the quorum need no action of their own: every change re-reckons them (see
:mod:`faultmgr_pools.controller`).
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any, ClassVar

from pydantic import Field

from faultmgr.alert import AlertView
from faultmgr.component import Action, ActionResult
from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration
from faultmgr.event import Event
from faultmgr.runtime import Runtime
from faultmgr_pools.backend import BackendError
from faultmgr_pools.controller import PoolController, Report
from faultmgr_pools.model import PoolsModel
from faultmgr_pools.nodes import NotHealthy, PoolDirectory, PoolError, add_server, drain_server

#: One directory per config in force, shared by every pool action built from it, so that the actions of a
#: pool serialise their changes through one controller. Weak: a reload's new config gets a new directory
#: and the old one goes with the old config.
_directories: weakref.WeakKeyDictionary[Any, PoolDirectory] = weakref.WeakKeyDictionary()


def directory_for(runtime: Runtime) -> PoolDirectory:
    """The :class:`PoolDirectory` of the config in force (``runtime.config.sections["pools"]``)."""
    config = runtime.config
    try:
        directory = _directories.get(config) if config is not None else None
    except TypeError:  # a config object that takes no weak reference: no sharing, still correct
        directory = None
    if directory is not None:
        # An action left running across a reload (its settings did not change) acts on the pools in force.
        return directory.current()
    raw = (getattr(config, "sections", None) or {}).get("pools")
    pools = raw if isinstance(raw, PoolsModel) else PoolsModel.model_validate(raw or {})
    directory = PoolDirectory(pools, runtime.store, runtime.emit, runtime.clock.now, dry_run=runtime.dry_run)
    if config is not None:
        with contextlib.suppress(TypeError):
            _directories[config] = directory
    return directory


class PoolActionSettings(PluginSettings):
    pool: str = Field(description="name of the pool (a key of the `pools:` section)")
    server: str | None = Field(None, description="real server to act on (default: the alert's subject)")


class PoolAction(Action):
    """What every ``pool.*`` action shares: finding the pool, the server, and reporting."""

    Settings: ClassVar[type[PluginSettings]] = PoolActionSettings
    settings: PoolActionSettings

    def controller(self) -> PoolController:
        return directory_for(self.runtime).controller(self.settings.pool)

    def check(self) -> list[str]:
        if self.runtime.config is None:
            return []  # `faultmgr check` builds instances without a config: faultmgr_validate_config checks
        try:
            pools = directory_for(self.runtime).pools.pools
        except ValueError as exc:
            return [f"pools: {exc}"]
        if self.settings.pool not in pools:
            return [f"pool {self.settings.pool!r} is not declared in the `pools:` section "
                    f"(declared: {', '.join(sorted(pools)) or 'none'})"]
        return []

    async def start(self) -> None:
        # Reconcile at start (and after a reload, which starts changed instances again): a no-op when the
        # pool is already right, and it never touches servers that are.
        problems = self.check()
        if problems:
            raise ValueError(problems[0])
        report = await self.controller().reconcile()
        for error in report.errors:
            self.log.error("pool %s: %s", self.settings.pool, error)

    async def run(self, alert: AlertView, event: Event | None, resolved: bool = False) -> ActionResult:
        controller = self.controller()
        server = self.settings.server or alert.subject
        if controller.target(server) is None and not self.accepts_new_servers:
            return ActionResult(True, f"skipped: {server!r} is not a server of pool {self.settings.pool}")
        try:
            report = await (self.restore(controller, server) if resolved else self.act(controller, server))
        except (BackendError, PoolError) as exc:
            return ActionResult(False, str(exc))
        return self.result(server, report)

    #: ``pool.add`` may name a server the pool does not know yet (it then fails with a clear message).
    accepts_new_servers: ClassVar[bool] = False

    async def act(self, controller: PoolController, server: str) -> Report:
        """The alert fired."""
        raise NotImplementedError

    async def restore(self, controller: PoolController, server: str) -> Report:
        """The alert resolved: back to the declared state."""
        return await controller.override(server, None)

    def result(self, server: str, report: Report) -> ActionResult:
        detail = (f"pool {self.settings.pool}, {server}: {'; '.join(report.changes) or 'no change'}; "
                  f"{report.serving} serving (quorum {report.quorum})"
                  + (", sorry server on" if report.sorry_active else ""))
        if report.errors:
            detail += "; errors: " + "; ".join(report.errors)
        data: dict[str, Any] = {"pool": self.settings.pool, "server": server, **report.as_dict()}
        return ActionResult(not report.errors, detail, data)


class ReweightSettings(PoolActionSettings):
    weight: int = Field(ge=0, description="weight to give the server while the alert fires")


class ReweightAction(PoolAction):
    """Sets a real server's weight; restores the declared weight when the alert resolves."""

    Settings = ReweightSettings
    settings: ReweightSettings
    summary = "set a real server's weight in a pool (IPVS or HAProxy)"

    async def act(self, controller: PoolController, server: str) -> Report:
        return await controller.override(server, {"weight": self.settings.weight})


class QuiesceAction(PoolAction):
    """Weight 0: the server takes no new connections and its open ones finish; restored on resolve."""

    summary = "quiesce a real server (weight 0, connections drain)"

    async def act(self, controller: PoolController, server: str) -> Report:
        return await controller.override(server, {"weight": 0})


class RemoveSettings(PoolActionSettings):
    drain: bool = Field(False, description="quiesce first and wait (up to the pool's drain_timeout) for "
                                           "connections to end before removing")


class RemoveAction(PoolAction):
    """Takes a real server out of the pool; puts it back (declared weight) when the alert resolves."""

    Settings = RemoveSettings
    settings: RemoveSettings
    summary = "remove a real server from a pool (optionally draining it first)"

    async def act(self, controller: PoolController, server: str) -> Report:
        if self.settings.drain:
            return (await drain_server(controller, server)).report
        return await controller.override(server, {"removed": True})


class AddSettings(PoolActionSettings):
    weight: int | None = Field(None, ge=0, description="weight (default: the declared one)")
    rise: int = Field(1, ge=1, description="consecutive passing TCP checks before the server is added")
    check_timeout: Duration = Field(30.0, description="give up when the server is not healthy within this")


class AddAction(PoolAction):
    """Brings a declared (typically ``standby``) server into the pool once it answers; drains it out again
    when the alert resolves."""

    Settings = AddSettings
    settings: AddSettings
    summary = "add a declared standby server to a pool once it is healthy"
    accepts_new_servers = True

    async def act(self, controller: PoolController, server: str) -> Report:
        report = await add_server(controller, server, weight=self.settings.weight, rise=self.settings.rise,
                                  timeout=self.settings.check_timeout)
        if report is None:
            raise NotHealthy(f"{server} did not pass its health check within "
                                f"{self.settings.check_timeout:g}s; not added")
        return report

    async def restore(self, controller: PoolController, server: str) -> Report:
        declared = controller.pool.server(server)
        if declared is not None and not declared.standby:
            return await controller.override(server, None)
        report = (await drain_server(controller, server)).report
        # A standby server's declared state is "out": the drain got it there, forget the override.
        return await controller.override(server, None) if declared is not None else report
