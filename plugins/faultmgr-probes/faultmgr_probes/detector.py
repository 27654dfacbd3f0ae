"""The ``probe`` detector: many targets, one check per distinct real server, events on hard transitions."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from faultmgr.component import Detector
from faultmgr.config.types import check_private_file, format_duration
from faultmgr.event import Severity
from faultmgr.runtime import Runtime
from faultmgr_probes.checks import build_check
from faultmgr_probes.deadlines import Attempt, Deadlines
from faultmgr_probes.latency import LatencyHistogram, LatencySnapshot
from faultmgr_probes.maintenance import Maintenance
from faultmgr_probes.result import CheckResult, ProbeFn, Status
from faultmgr_probes.schedule import ConcurrencyLimit, LatenessHistogram, SlotSchedule
from faultmgr_probes.settings import ProbeSettings
from faultmgr_probes.state import CheckState, Health, Transition
from faultmgr_probes.target import TargetBase


@dataclass(eq=False)
class Alias:
    """One target name; several names may share a :class:`Check`."""

    target: TargetBase
    maintenance: str | None = None  # why it is in maintenance, None when in service
    announced: str | None = None  # the last hard state told to the engine for this name ("up"/"down")


@dataclass(eq=False)
class Check:
    """One distinct check (type, host, port, options) and the names that point at it."""

    target: TargetBase
    probe: ProbeFn
    state: CheckState
    aliases: list[Alias] = field(default_factory=list)
    running: bool = False
    overruns: int = 0
    attempt: Attempt = field(default_factory=Attempt)
    #: The histogram of this check's type (shared by every check of the type).
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    #: False when every name of this check is in maintenance (kept up to date by the detector, since the
    #: schedule looks at it for every launch).
    active: bool = True


class ProbeDetector(Detector):
    """ldirectord-style service checks of many real servers."""

    Settings = ProbeSettings
    summary = "checks real servers (TCP, HTTP(S), DNS, SMTP, SIP, ICMP, Nagios plugins, filesystems)"
    events: ClassVar[dict[str, str]] = {
        "probe.failed": "a target failed `failurecount` consecutive checks (critical)",
        "probe.ok": "a target that was down passed `rise` consecutive checks (recovery)",
        "probe.soft_failed": "a check failed, not yet `failurecount` times (info; only with emit_soft)",
        "probe.maintenance": "a target was put in maintenance (info); it is no longer checked",
        "probe.active": "a target left maintenance (info); checks resume",
    }

    def __init__(self, name: str, settings: ProbeSettings, runtime: Runtime) -> None:  # type: ignore[override]
        super().__init__(name, settings, runtime)
        self.settings: ProbeSettings = settings
        self.checks: list[Check] = []
        self.aliases: dict[str, Alias] = {}
        by_identity: dict[str, Check] = {}
        #: Every attempt's latency by check type (see :meth:`latency_histograms`).
        self.latency: dict[str, LatencyHistogram] = {}
        for target in settings.targets:
            if target.name in self.aliases:
                continue  # the same target listed twice under one name
            identity = target.identity()
            check = by_identity.get(identity)
            if check is None:
                check = Check(target, build_check(target), CheckState(settings.failurecount, settings.rise),
                              latency=self.latency.setdefault(target.type, LatencyHistogram()))
                by_identity[identity] = check
                self.checks.append(check)
            alias = Alias(target)
            check.aliases.append(alias)
            self.aliases[target.name] = alias
        self._check_of = {alias.target.name: check for check in self.checks for alias in check.aliases}
        self.maintenance = Maintenance(runtime.store, f"probe.maintenance.{name}", settings.maintenancedir)
        self.schedule = SlotSchedule(self.checks, settings.checkinterval, settings.slot, self._launch,
                                     f"probe:{name}")
        self.lateness = LatenessHistogram()
        self.started_checks = 0
        self._limit = ConcurrencyLimit(settings.concurrency)
        self._deadlines = Deadlines(settings.checktimeout)
        self._tasks: set[asyncio.Task[CheckResult]] = set()
        self._scheduler: AsyncIOScheduler | None = None
        self._own_scheduler = False

    # -- life cycle ---------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Client keys must be private files; certificate and CA files must exist."""
        problems = []
        for check in self.checks:
            target = check.target
            key = getattr(target, "key_file", None)
            if key is not None:
                try:
                    check_private_file(key, f"target {target.name}: key_file")
                except ValueError as exc:
                    problems.append(str(exc))
            for option in ("cert_file", "ca_file"):
                path = getattr(target, option, None)
                if path is not None and not path.is_file():
                    problems.append(f"target {target.name}: {option} {path} does not exist")
        return problems

    async def start(self) -> None:
        """Load maintenance switches and install the slot jobs (on the daemon's scheduler, or our own)."""
        problems = self.check()
        if problems:
            raise ValueError("; ".join(problems))
        self.maintenance.load()
        await self.refresh_maintenance()
        scheduler = self.runtime.scheduler
        if scheduler is None:
            scheduler = AsyncIOScheduler(timezone="UTC")
            scheduler.start()
            self._own_scheduler = True
        self._scheduler = scheduler
        self.schedule.install(scheduler)
        if self.settings.maintenancedir is not None:
            scheduler.add_job(self.refresh_maintenance, "interval", seconds=self.settings.maintenance_poll,
                              id=f"probe:{self.name}:maintenance", coalesce=True, max_instances=1)

    async def stop(self) -> None:
        """Remove the jobs and cancel checks in flight (external plugins are killed with their group)."""
        if self._scheduler is not None:
            self.schedule.remove(self._scheduler)
            job = self._scheduler.get_job(f"probe:{self.name}:maintenance")
            if job is not None:
                job.remove()
            if self._own_scheduler:
                self._scheduler.shutdown(wait=False)
            self._scheduler = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._deadlines.close()

    # -- running checks -----------------------------------------------------------------------------

    def _launch(self, check: Check, due: float) -> None:
        if check.running:
            check.overruns += 1  # still busy from the last round: never stack checks of one target
            return
        if not check.active:
            return
        check.running = True
        self._tasks.add(asyncio.create_task(self.run_check(check, due)))  # run_check removes it

    async def run_check(self, check: Check, due: float | None = None) -> CheckResult:
        """Run one check of ``check`` (with its retries), record it and announce any transition."""
        settings, limit = self.settings, self._limit
        try:
            if not limit.try_acquire():  # the common case needs no await (no coroutine) for the limit
                await limit.acquire()
            try:
                if due is not None:
                    self.lateness.add(time.time() - due)
                self.started_checks += 1
                attempt = 1
                while True:
                    result = await self.attempt(check)
                    if result.passed or attempt > settings.retries:
                        break
                    attempt += 1
                    await asyncio.sleep(settings.delay_before_retry)
            finally:
                limit.release()
            self._record(check, result, attempt)
            return result
        finally:
            check.running = False
            # Cheaper than a done-callback per task (one fewer loop callback per check).
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def attempt(self, check: Check) -> CheckResult:
        """One attempt under ``checktimeout``; an exception from a check becomes an UNKNOWN result."""
        timeout = self.settings.checktimeout
        started = time.perf_counter()
        deadline = check.attempt
        self._deadlines.arm(deadline)
        try:
            result = await check.probe(timeout)
        except asyncio.CancelledError:
            if not deadline.expired:
                raise  # stop(), not our timeout
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            result = CheckResult.critical(f"timed out after {format_duration(timeout)}")
        except Exception as exc:  # a bug in one check type must not stop the others
            self.log.exception("check failed with an error")
            result = CheckResult(Status.UNKNOWN, f"check error: {exc}")
        finally:
            self._deadlines.disarm(deadline)
        result.latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
        check.latency.add(result.latency_ms)
        return result

    def _record(self, check: Check, result: CheckResult, attempt: int) -> None:
        transition = check.state.record(result, time.time(), attempt)
        if transition is Transition.NONE:
            return
        for alias in check.aliases:
            if alias.maintenance is not None:
                continue
            if transition is Transition.SOFT_FAILED:
                if self.settings.emit_soft:
                    self._announce("probe.soft_failed", Severity.INFO, alias, result, attempt)
            elif transition is Transition.FAILED:
                alias.announced = "down"
                self._announce("probe.failed", Severity.CRITICAL, alias, result, attempt)
            elif alias.announced == "down":  # RECOVERED, or FIRST_UP after a restart of the counts
                alias.announced = "up"
                self._announce("probe.ok", Severity.OK, alias, result, attempt)
            else:
                alias.announced = "up"

    def _announce(self, kind: str, severity: Severity, alias: Alias, result: CheckResult, attempt: int) -> None:
        target = alias.target
        port = target.effective_port
        labels = {"target": target.name, "check": target.type, "host": target.host}
        if port is not None:
            labels["port"] = str(port)
        payload = {"latency_ms": result.latency_ms, "reason": result.reason, "check": target.type,
                   "attempt": attempt, "status": result.status.value, **result.payload}
        verb = {"probe.failed": "is down", "probe.ok": "is up again", "probe.soft_failed": "failed a check"}
        self.emit(kind, target.name, severity, labels=labels, payload=payload,
                  message=f"{target.type} check of {target.name} {verb.get(kind, kind)}: {result.reason}")

    # -- maintenance --------------------------------------------------------------------------------

    def set_maintenance(self, target: str, on: bool) -> None:
        """Put ``target`` in maintenance or take it out; the switch is kept in the store across restarts."""
        if target not in self.aliases:
            known = ", ".join(sorted(self.aliases)[:10])
            raise KeyError(f"no target {target!r} in probe {self.name} (targets: {known})")
        self.maintenance.switch(target, on)
        self._apply_maintenance()

    async def refresh_maintenance(self) -> None:
        """Re-read ``maintenancedir`` (in a thread: it may sit on a slow filesystem) and apply it."""
        if self.maintenance.directory is not None:
            self.maintenance.files = await asyncio.to_thread(self.maintenance.scan)
        self._apply_maintenance()

    def _apply_maintenance(self) -> None:
        for check in self.checks:
            check.active = any(self._maintenance_reason(alias) is None for alias in check.aliases)
        for name, alias in self.aliases.items():
            target = alias.target
            reason = self._maintenance_reason(alias)
            if reason == alias.maintenance:
                continue
            was, alias.maintenance = alias.maintenance, reason
            labels = {"target": name, "check": target.type, "host": target.host}
            if reason is not None and was is None:
                self.emit("probe.maintenance", name, Severity.INFO, labels=labels,
                          payload={"maintenance": True, "by": reason},
                          message=f"{name} is in maintenance ({reason})")
            elif reason is None:
                self.emit("probe.active", name, Severity.INFO, labels=labels,
                          payload={"maintenance": False, "by": was},
                          message=f"{name} left maintenance; checks resume")
                self._resume(alias, self._check_of[name])

    def _maintenance_reason(self, alias: Alias) -> str | None:
        target = alias.target
        return self.maintenance.reason(target.name, target.host, target.effective_port)

    def _resume(self, alias: Alias, check: Check) -> None:
        """Bring a name back from maintenance.

        When the check kept running for the other names sharing it, its state is current: tell this name
        what it missed. Otherwise its streaks are stale and start again from zero.
        """
        state, last = check.state, check.state.last
        others_active = any(a.maintenance is None for a in check.aliases if a is not alias)
        if not others_active or last is None:
            state.restart_counts()
        elif state.health is Health.DOWN and alias.announced != "down":
            alias.announced = "down"
            self._announce("probe.failed", Severity.CRITICAL, alias, last, state.last_attempt)
        elif state.health is Health.UP and alias.announced == "down":
            alias.announced = "up"
            self._announce("probe.ok", Severity.OK, alias, last, state.last_attempt)

    # -- status -------------------------------------------------------------------------------------

    def latency_histograms(self) -> dict[str, LatencySnapshot]:
        """Latency of every attempt since start (retries and timeouts included), by check type: what a
        metrics exporter reads at scrape time (events carry latency only on state changes)."""
        return {check_type: histogram.snapshot() for check_type, histogram in sorted(self.latency.items())}

    def status(self) -> dict[str, Any]:
        """Per-target state, the deduplication done, and how the schedule keeps up."""
        targets: dict[str, Any] = {}
        for check in self.checks:
            state, last = check.state, check.state.last
            names = [alias.target.name for alias in check.aliases]
            for alias in check.aliases:
                target = alias.target
                targets[target.name] = {
                    "check": target.type, "host": target.host, "port": target.effective_port,
                    "state": "maintenance" if alias.maintenance else state.label,
                    "maintenance": alias.maintenance, "failures": state.failures, "successes": state.successes,
                    "runs": state.runs, "last_checked": state.last_time or None,
                    "last_status": last.status.value if last else None,
                    "last_reason": last.reason if last else None,
                    "last_latency_ms": last.latency_ms if last else None,
                    "shared_with": [n for n in names if n != target.name],
                }
        declared = len(self.settings.targets)
        shared = [[a.target.name for a in c.aliases] for c in self.checks if len(c.aliases) > 1]
        return {
            "targets": targets,
            "checks": len(self.checks),
            "deduplicated": {"declared": declared, "checked": len(self.checks),
                             "saved_per_interval": declared - len(self.checks), "shared": shared},
            "schedule": {"interval_s": self.settings.checkinterval, "slots": len(self.schedule.slots),
                         "checks_started": self.started_checks, "in_flight": len(self._tasks),
                         "overruns": sum(c.overruns for c in self.checks),
                         "lateness_p50_ms": self.lateness.percentile(0.5),
                         "lateness_p99_ms": self.lateness.percentile(0.99)},
            "maintenance": {"switches": sorted(self.maintenance.switched), "files": sorted(self.maintenance.files),
                            "persistent": self.runtime.store is not None},
        }
