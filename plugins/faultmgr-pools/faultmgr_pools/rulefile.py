"""Real servers added to or removed from the rule file: drained out, or let in once healthy.

On a reload (and at start-up, after an edit made while the daemon was stopped) the pool controller compares
the rule file's servers with the ones it last reconciled to and marks the difference in its overrides (see
:meth:`~faultmgr_pools.controller.PoolController._follow_rule_file`): a server gone from the file is
``retiring`` and keeps serving as it is, a new one is ``joining`` and is held out of the load balancer. The
marks are durable, so a restart in the middle resumes the work. This module does the work, in the
background, with the same code as ``faultmgr pool drain`` and ``faultmgr pool add``:

- retiring: :func:`~faultmgr_pools.nodes.drain_server` (weight 0, wait for the active connections to end
  or the pool's ``drain_timeout``, counted from the reload, then remove), after which the server is
  forgotten;
- joining: :func:`~faultmgr_pools.nodes.wait_healthy` with the daemon's probe of the server (its ``rise``,
  ``checkinterval``, ``checktimeout``), or a TCP check when no probe watches it; then the hold is lifted
  and the server enters at its declared weight. It waits as long as it takes.

Both are logged and written to the journal (``faultmgr history --what control``) as by ``rule file``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from faultmgr_pools.backend import BackendError
from faultmgr_pools.controller import JOINING, RETIRING, CalledOff, PoolController, Report
from faultmgr_pools.health import HealthCheck
from faultmgr_pools.nodes import DrainResult, PoolDirectory, PoolError, drain_server, wait_healthy

log = logging.getLogger("faultmgr.pools")

#: Who the journal names for these changes.
WHO = "rule file"
#: Seconds between two log lines about a new server that is still not healthy.
JOIN_LOG_EVERY_S = 30.0
#: Seconds before a drain or join that failed on a load-balancer error is tried again.
RETRY_S = 10.0

#: ``journal(action, controller, server, detail)``.
Journal = Callable[[str, PoolController, str, str], None]


def _no_journal(action: str, controller: PoolController, server: str, detail: str) -> None:
    return None


async def retire(controller: PoolController, server: str, journal: Journal = _no_journal) -> DrainResult | None:
    """Drain ``server`` (gone from the rule file) and remove it; forget it once it is out of the table.
    ``None`` when the drain was called off (the server is back in the file, or a reload took over)."""
    since = float(controller.overrides().get(server, {}).get("since", controller.now()))
    # The drain time counts from the reload that removed the server, not from this (possibly resumed) task.
    left = max(0.0, controller.pool.drain_timeout - (controller.now() - since))
    timeout = 0.0 if controller.dry_run else left
    log.info("pool %s: draining %s (removed from the rule file), up to %.1fs", controller.name, server, timeout)
    journal("pool.drain", controller, server, f"started: removed from the rule file, timeout={timeout:.1f}s")
    try:
        result = await drain_server(controller, server, timeout, mark={RETIRING: True, "since": since})
    except CalledOff:
        log.info("pool %s: the drain of %s is called off", controller.name, server)
        journal("pool.drain", controller, server, "called off")
        return None
    detail = (f"drained={result.drained} active_left={result.active_left} waited={result.waited:.1f}s; "
              f"{'; '.join(result.report.changes) or 'no change'}")
    log.info("pool %s: %s drained and removed: %s", controller.name, server, detail)
    for error in result.report.errors:
        log.error("pool %s: %s", controller.name, error)
    journal("pool.drain", controller, server, detail)
    target = controller.target(server)
    if not controller.dry_run and target is not None and await controller.backend.find(target) is None:
        await controller.clear_mark(server, RETIRING)  # out of the table and of the file: nothing to keep
    return result


async def join(controller: PoolController, server: str, check: HealthCheck,
               journal: Journal = _no_journal) -> Report | None:
    """Wait until ``check`` has passed ``check.rise`` times in a row, then let ``server`` (new in the rule
    file) into the pool at its declared weight. ``None`` when its hold was lifted by someone else meanwhile."""
    target = controller.target(server)
    if target is None:
        raise PoolError(f"pool {controller.name} has no server {server!r}")
    log.info("pool %s: %s (new in the rule file) joins once %s has passed %d time(s) in a row",
             controller.name, server, check.what, check.rise)
    journal("pool.add", controller, server, f"started: new in the rule file, waits for {check.what} "
                                            f"rise={check.rise}")
    while not await wait_healthy(target, check, check.rise, check.interval, JOIN_LOG_EVERY_S):
        log.warning("pool %s: %s is not healthy yet (%s, last: %s); still held out", controller.name, server,
                    check.what, check.last_reason)
    report = await controller.clear_mark(server, JOINING)
    if report is None:
        log.info("pool %s: %s passed %s, but its hold was changed meanwhile: left as it is",
                 controller.name, server, check.what)
        return None
    detail = (f"passed {check.what} {check.rise} time(s); weight={controller.declared_weight(server)}; "
              f"{'; '.join(report.changes) or 'no change'}")
    log.info("pool %s: %s joined: %s", controller.name, server, detail)
    for error in report.errors:
        log.error("pool %s: %s", controller.name, error)
    journal("pool.add", controller, server, detail)
    return report


class Transitions:
    """The drains and joins in flight for one daemon, one background task per server."""

    def __init__(self) -> None:
        self.tasks: dict[tuple[str, str], asyncio.Task[Any]] = {}

    def stop(self) -> None:
        """Call every task off (a reload starts them again on the new config's controllers; the marks in the
        store say where they were)."""
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()

    def resume(self, directory: PoolDirectory, journal: Journal,
               check_of: Callable[[str], HealthCheck]) -> None:
        """Start a task for every server the directory's pools mark ``retiring`` or ``joining``."""
        for pool in directory.pools.pools:
            controller = directory.controller(pool)
            for server in controller.in_transit(RETIRING):
                self._start(controller, server, functools.partial(retire, controller, server, journal))
            for server in controller.in_transit(JOINING):
                self._start(controller, server,
                            functools.partial(join, controller, server, check_of(server), journal))

    def _start(self, controller: PoolController, server: str,
               work: Callable[[], Coroutine[Any, Any, object]]) -> None:
        key = (controller.name, server)
        if key in self.tasks and not self.tasks[key].done():
            return

        async def run() -> None:
            while True:
                try:
                    await work()
                    return
                except (BackendError, PoolError, OSError) as exc:  # an unreachable load balancer: try again
                    log.error("pool %s: %s: %s; trying again in %.0fs", controller.name, server, exc, RETRY_S)
                    await asyncio.sleep(RETRY_S)

        task = asyncio.get_running_loop().create_task(run(), name=f"faultmgr-pools {controller.name}/{server}")
        self.tasks[key] = task
        task.add_done_callback(lambda done: self.tasks.pop(key, None) if self.tasks.get(key) is done else None)
