"""Running actions: in the order the rule lists them, each with a timeout and its outcome journalled, a
fallback for a failed one, and never twice for one alert firing (the run is claimed in the journal before it
starts, so a restart does not repeat it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from faultmgr.alert import AlertView
from faultmgr.clock import Clock
from faultmgr.component import Action, ActionResult
from faultmgr.engine.journal import Journal
from faultmgr.event import Event, Severity
from faultmgr.logs import fields

log = logging.getLogger("faultmgr.actions")


class ActionRunner:
    """Runs action sequences as tasks; one sequence at a time per alert, so fire and resolve never interleave."""

    def __init__(self, journal: Journal, clock: Clock, emit: Callable[[Event], None],
                 on_outcome: Callable[[str, bool], None] | None = None) -> None:
        self.journal = journal
        self.clock = clock
        self.emit = emit
        self.on_outcome = on_outcome or (lambda *_: None)
        self.instances: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, alert: AlertView, names: list[str], event: Event | None, resolved: bool) -> None:
        if not names:
            return
        task = asyncio.get_running_loop().create_task(self._sequence(alert, list(names), event, resolved))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def _sequence(self, alert: AlertView, names: list[str], event: Event | None, resolved: bool) -> None:
        lock = self._locks.setdefault(alert.fingerprint, asyncio.Lock())
        async with lock:
            for name in names:
                await self._run_with_fallback(alert, name, event, resolved, seen=set())
        if not lock.locked():
            self._locks.pop(alert.fingerprint, None)

    async def _run_with_fallback(self, alert: AlertView, name: str, event: Event | None, resolved: bool,
                                 seen: set[str]) -> bool:
        seen.add(name)
        entry = self.instances.get(name)
        if entry is None:
            log.error("action %s is not defined (any more); skipped for alert #%d", name, alert.id)
            return False
        instance, settings = entry
        phase = "resolve" if resolved else "fire"
        if not self.journal.claim_action(alert.fingerprint, alert.firing, name, phase, self.clock.now()):
            log.info("action %s already ran for alert #%d firing %d (%s); not repeated", name, alert.id,
                     alert.firing, phase, extra=fields(action=name, alert_id=alert.id, rule=alert.rule,
                                                       fingerprint=alert.fingerprint, firing=alert.firing,
                                                       phase=phase, outcome="not repeated"))
            return True
        result = await self._run_one(instance, settings.timeout, alert, event, resolved)
        state = "ok" if result.ok else ("timeout" if result.detail.startswith("timed out") else "failed")
        self.journal.finish_action(alert.fingerprint, alert.firing, name, phase, state, result.detail,
                                   self.clock.now())
        self.on_outcome(name, result.ok)
        log.log(logging.INFO if result.ok else logging.WARNING, "action %s for alert #%d (%s): %s %s", name,
                alert.id, phase, state, result.detail,
                extra=fields(action=name, alert_id=alert.id, rule=alert.rule, fingerprint=alert.fingerprint,
                             firing=alert.firing, phase=phase, outcome=state, detail=result.detail[:500]))
        if result.ok:
            return True
        self.emit(Event(kind="action.failed", source="faultmgr", subject=alert.subject, severity=Severity.WARNING,
                        labels={"action": name, "rule": alert.rule}, payload={"detail": result.detail,
                        "alert_id": alert.id, "phase": phase}, time=self.clock.now(),
                        message=f"action {name} failed: {result.detail}"))
        fallback = settings.fallback
        if fallback and fallback not in seen:
            return await self._run_with_fallback(alert, fallback, event, resolved, seen)
        return False

    @staticmethod
    async def _run_one(instance: Action, timeout: float, alert: AlertView, event: Event | None,
                       resolved: bool) -> ActionResult:
        try:
            result = await asyncio.wait_for(instance.run(alert, event, resolved), timeout)
        except TimeoutError:
            return ActionResult(False, f"timed out after {timeout:g}s")
        except Exception as exc:  # an action's bug is its failure, not the daemon's
            log.exception("action %s raised", instance.name)
            return ActionResult(False, f"{type(exc).__name__}: {exc}")
        if not isinstance(result, ActionResult):
            return ActionResult(False, f"returned {type(result).__name__}, not ActionResult")
        return result
