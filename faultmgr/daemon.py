"""The daemon: builds the instances a config declares, feeds their events to the engine, delivers through
the outbox, runs actions, and reloads, drains and stops cleanly.

Hooks called here: ``faultmgr_startup``, ``faultmgr_reloaded``, ``faultmgr_shutdown`` (and, through the
engine, ``faultmgr_event`` and ``faultmgr_alert_changed``).
"""

from __future__ import annotations

import asyncio
import gc
import grp
import logging
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from faultmgr import systemd
from faultmgr.alert import AlertView, Notification
from faultmgr.clock import SystemClock
from faultmgr.component import Component
from faultmgr.config.build import Config, Instance, load
from faultmgr.config.errors import ConfigError
from faultmgr.control import ControlError, ControlServer
from faultmgr.control_commands import ControlCommands
from faultmgr.engine.actions import ActionRunner
from faultmgr.engine.engine import Engine
from faultmgr.engine.journal import Journal
from faultmgr.engine.outbox import Channel, Outbox
from faultmgr.event import Event, Severity
from faultmgr.plugin.manager import Plugins
from faultmgr.runtime import Runtime

log = logging.getLogger("faultmgr.daemon")

KINDS = ("detector", "action", "receiver")


def on_loop(func: Callable[..., object], *args: object) -> Callable[[], Coroutine[Any, Any, None]]:
    """``func(*args)`` as a coroutine function, so that APScheduler runs it on the event loop, not in a thread."""

    async def job() -> None:
        func(*args)

    job.__qualname__ = job.__name__ = getattr(func, "__name__", "job")
    return job


class StartupError(Exception):
    """The daemon cannot start with this config (a refused key file, an unusable state directory)."""


class Daemon:
    """One running faultmgr."""

    def __init__(self, paths: Sequence[str], plugins: Plugins, config: Config, *, dry_run: bool = False) -> None:
        self.paths = list(paths)
        self.plugins = plugins
        self.config = config
        self.dry_run = dry_run
        self.clock = SystemClock()
        self.node = config.daemon.node or socket.gethostname()
        self.instances: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        self.stopping = asyncio.Event()
        self.started_at = time.time()
        self.last_reload: dict[str, Any] = {"time": None, "ok": None, "errors": []}
        self.loop_lag_ms = 0.0
        self.loop_lag_max_ms = 0.0
        #: callables ``(kind, data)`` told of every ``event``, ``alert``, ``notification`` and ``action``
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        #: state plugins keep on the daemon, by plugin name (the API plugin's server, say)
        self.extensions: dict[str, Any] = {}
        self.counters: dict[str, int] = {"events": 0, "notifications_sent": 0, "notifications_failed": 0,
                                         "actions_ok": 0, "actions_failed": 0}
        self._loop: asyncio.AbstractEventLoop | None = None
        #: one reload at a time: a SIGHUP and `faultmgr reload` together must not interleave their stops,
        #: builds and starts (each awaits), or both would start their own copy of a changed instance
        self._reload_lock = asyncio.Lock()
        self._loop_thread: int | None = None

    # -- the effects sink the engine talks to ---------------------------------------------------------
    def notify(self, notification: Notification, subject_key: str) -> None:
        self.outbox.enqueue(notification, subject_key)

    def run_actions(self, alert: AlertView, actions: list[str], event: Event | None, resolved: bool) -> None:
        self.runner.submit(alert, actions, event, resolved)

    def alert_changed(self, alert: AlertView, change: str) -> None:
        if self.listeners:  # the dict is built only for someone (the API's event stream) who reads it
            self._publish("alert", {"change": change, **alert.to_dict()})

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(kind, data)
            except Exception:
                log.exception("a listener failed")

    # -- events ---------------------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        """Hand an event to the engine; safe from any thread, keeps arrival order."""
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            loop.call_soon(self._ingest, event)
        else:
            loop.call_soon_threadsafe(self._ingest, event)

    def _ingest(self, event: Event) -> None:
        if not event.labels.get("node"):
            event.labels.setdefault("node", self.node)
        source = self.config.detectors.get(event.source)
        if source is not None:
            for key, value in source.settings.labels.items():
                event.labels.setdefault(key, value)
        self.counters["events"] += 1
        try:
            self.engine.ingest(event)
        except Exception:
            log.exception("engine failed on event %s %s", event.kind, event.subject)
        if self.listeners:
            self._publish("event", event.to_dict())

    # -- building -------------------------------------------------------------------------------------
    def _runtime(self) -> Runtime:
        return Runtime(emit=self.emit, clock=self.clock, scheduler=self.scheduler, state_dir=self.state_dir,
                       store=self.journal.store, config=self.config, components=self.instances,
                       dry_run=self.dry_run, hook=self.plugins.hook)

    def _build(self, inst: Instance) -> Component:
        runtime = self._runtime()
        runtime.state_dir = self.state_dir / inst.kind / inst.name
        runtime.state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        component = inst.cls(inst.name, inst.settings, runtime)
        problems = component.check()
        if problems:
            raise StartupError("; ".join(f"{inst.kind} {inst.name!r}: {p}" for p in problems))
        return component

    def _tables(self, config: Config) -> dict[str, dict[str, Instance]]:
        return {"detector": config.detectors, "action": config.actions, "receiver": config.receivers}

    def _wire(self) -> None:
        self.runner.instances = {name: (self.instances["action"][name], inst.settings)
                                 for name, inst in self.config.actions.items() if name in self.instances["action"]}
        channels = {name: Channel(name, self.instances["receiver"][name],  # type: ignore[arg-type]
                                  inst.settings.retry, inst.settings.fallback)
                    for name, inst in self.config.receivers.items() if name in self.instances["receiver"]}
        self.outbox.start(channels)

    async def _start_component(self, kind: str, component: Component) -> None:
        try:
            await component.start()
        except Exception as exc:
            log.exception("%s %s failed to start", kind, component.name)
            self.emit(Event(kind="faultmgr.component.failed", source="faultmgr", subject=component.name,
                            severity=Severity.CRITICAL, labels={"component": kind},
                            payload={"error": f"{type(exc).__name__}: {exc}"},
                            message=f"{kind} {component.name} failed to start: {exc}"))

    # -- life -----------------------------------------------------------------------------------------
    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.state_dir = Path(self.config.daemon.state_dir)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
            mode = stat.S_IMODE(self.state_dir.stat().st_mode)
            if mode & 0o027:  # made by hand or by an older package: the journal must not be reachable by all
                os.chmod(self.state_dir, mode & ~0o027)
                log.warning("state_dir %s was mode %04o; now %04o (no group write, nothing for others)",
                            self.state_dir, mode, mode & ~0o027)
            if self.config.daemon.control_group:
                # The control group's members reach the socket through this directory (0750: they can list
                # it, not read the journal, which is 0600).
                os.chown(self.state_dir, -1, grp.getgrnam(self.config.daemon.control_group).gr_gid)
        except KeyError:
            raise StartupError(f"control_group {self.config.daemon.control_group!r}: no such group") from None
        except OSError as exc:
            raise StartupError(f"state_dir {self.state_dir}: {exc.strerror}") from None
        os.umask(0o027)
        self.journal = Journal(self.state_dir / "journal.db")
        if not self.journal.incremental and self.config.daemon.retention_bytes:
            log.warning("journal %s was made without incremental vacuum: retention_bytes bounds what it holds "
                        "and freed space is reused, but the file does not shrink; to convert it, stop faultmgr "
                        "and run: sqlite3 %s 'PRAGMA auto_vacuum=INCREMENTAL; VACUUM;'", self.journal.path,
                        self.journal.path)
        interrupted = self.journal.interrupted_actions()
        if interrupted:
            log.warning("%d action run(s) were interrupted by the last stop; not repeated", interrupted)
        self.scheduler = AsyncIOScheduler(event_loop=self._loop)
        self.outbox = Outbox(self.journal, self.clock, self._outcome)
        resent = self.outbox.recover()
        if resent:
            log.warning("%d notification(s) were being sent when the last run stopped; sending again", resent)
        self.runner = ActionRunner(self.journal, self.clock, self.emit, self._action_outcome)
        for kind, table in self._tables(self.config).items():
            for name, inst in table.items():
                self.instances[kind][name] = self._build(inst)
        self.engine = Engine(self.config, self.journal, self, self.clock, self.plugins.hook)
        self._wire()
        self.control = ControlServer(self.state_dir / "control.sock", ControlCommands(self).handle,
                                     self.config.daemon.control_group)
        try:
            await self.control.start()
        except ControlError as exc:
            raise StartupError(str(exc)) from None
        self._signals()
        self.plugins.hook.faultmgr_startup(daemon=self)
        for kind in KINDS:
            for component in self.instances[kind].values():
                await self._start_component(kind, component)
        self._schedule()
        self.scheduler.start()
        systemd.notify("READY=1")
        log.info("faultmgr running: %d detector(s), %d rule(s), %d receiver(s), state in %s",
                 len(self.config.detectors), len(self.config.rules), len(self.config.receivers), self.state_dir)
        lag_task = asyncio.get_running_loop().create_task(self._measure_lag())
        self._freeze_long_lived()  # everything loaded so far lives as long as the daemon
        await self.stopping.wait()
        lag_task.cancel()
        await self._shutdown()
        return 0

    def _schedule(self) -> None:
        # Every job is a coroutine function: APScheduler's asyncio scheduler runs a plain function in a worker
        # thread, and the engine and the journal's pending events belong to the event loop (a tick in a thread
        # raced the ingest of events; a watchdog ping from a thread kept coming while the loop was stuck).
        daemon = self.config.daemon
        self.scheduler.add_job(on_loop(self.engine.tick), "interval", seconds=daemon.tick, id="engine-tick",
                               max_instances=1, coalesce=True, misfire_grace_time=None)
        self.scheduler.add_job(on_loop(self.journal.flush_events), "interval", seconds=1, id="journal-flush",
                               coalesce=True, misfire_grace_time=None)
        self.scheduler.add_job(self._retention, "interval", minutes=10, id="retention", coalesce=True,
                               misfire_grace_time=None)
        self.scheduler.add_job(self._size_bound, "interval", seconds=30, id="journal-size", coalesce=True,
                               misfire_grace_time=None)
        interval = systemd.watchdog_interval()
        if interval:
            self.scheduler.add_job(on_loop(systemd.notify, "WATCHDOG=1"), "interval", seconds=interval,
                                   id="watchdog", coalesce=True, misfire_grace_time=None)

    async def _retention(self) -> None:
        daemon = self.config.daemon
        self.journal.flush_events()  # here, on the loop that records events; the deleting in a thread
        deleted = await asyncio.to_thread(self.journal.apply_retention, self.clock.now(), daemon.retention_age,
                                          daemon.retention_events, daemon.retention_bytes, False)
        if deleted:
            log.info("retention: %d old event(s) deleted", deleted)

    async def _size_bound(self) -> None:
        """Between the ten-minute retention passes: a flood of events must not outgrow ``retention_bytes``."""
        limit = self.config.daemon.retention_bytes
        if not limit:
            return
        self.journal.flush_events()
        deleted = await asyncio.to_thread(self.journal.bound_size, limit, True, False)
        if deleted:
            used, size = self.journal.size()
            log.info("retention: %d old event(s) deleted to keep the journal under %d bytes (now %d in use, "
                     "file %d)", deleted, limit, used, size)

    async def _measure_lag(self) -> None:
        """How late the loop runs a callback scheduled 100 ms ahead: the event loop's lag, exported."""
        while True:
            start = time.monotonic()
            await asyncio.sleep(0.1)
            lag = max(0.0, (time.monotonic() - start - 0.1) * 1000)
            self.loop_lag_ms = lag
            self.loop_lag_max_ms = max(self.loop_lag_max_ms, lag)

    def _signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload("signal SIGHUP")))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)

    async def _shutdown(self) -> None:
        systemd.notify("STOPPING=1")
        log.info("stopping")
        # A job handed to the loop a moment ago finishes in a step or two: let it, so that shutdown has nothing
        # to cancel (APScheduler logs a cancelled job as an error with a traceback).
        self.scheduler.pause()
        for _ in range(3):
            await asyncio.sleep(0)
        self.scheduler.shutdown(wait=False)
        for component in self.instances["detector"].values():
            await self._stop_component(component)
        await self.runner.drain(self.config.daemon.shutdown_timeout)
        left = await self.outbox.stop(self.config.daemon.shutdown_timeout)
        if left:
            log.warning("%d notification(s) still queued; they are sent at the next start", left)
        for kind in ("action", "receiver"):
            for component in self.instances[kind].values():
                await self._stop_component(component)
        self.plugins.hook.faultmgr_shutdown(daemon=self)
        await self.control.stop()
        self.journal.close()

    @staticmethod
    async def _stop_component(component: Component) -> None:
        try:
            await asyncio.wait_for(component.stop(), 10)
        except Exception:
            log.exception("%s did not stop cleanly", component.name)

    # -- reload ---------------------------------------------------------------------------------------
    async def reload(self, who: str) -> dict[str, Any]:
        """Validate the config again; refuse a bad one (the old keeps running); apply a good one, restarting
        only the instances whose settings changed. Reloads asked for at once run one after the other."""
        async with self._reload_lock:
            return await self._reload(who)

    async def _reload(self, who: str) -> dict[str, Any]:
        now = self.clock.now()
        try:
            config = load(self.paths, self.plugins)
        except ConfigError as exc:
            errors = [str(i) for i in exc.errors]
            for line in errors:
                log.error("reload refused: %s", line)
            self.last_reload = {"time": now, "ok": False, "errors": errors, "by": who}
            self.journal.record_control(who, "reload", "config", f"refused: {len(errors)} error(s)", now)
            return {"ok": False, "error": f"config refused ({len(errors)} error(s)); the old one keeps running",
                    "errors": errors}
        changed: list[str] = []
        new_instances: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        try:
            for kind, table in self._tables(config).items():
                old_table = self._tables(self.config)[kind]
                for name, inst in table.items():
                    old = old_table.get(name)
                    if old is not None and old.type == inst.type and old.settings == inst.settings:
                        new_instances[kind][name] = self.instances[kind][name]
                    else:
                        new_instances[kind][name] = self._build(inst)
                        changed.append(f"{kind}:{name}")
                changed += [f"{kind}:{n}" for n in old_table if n not in table]
        except StartupError as exc:
            self.last_reload = {"time": now, "ok": False, "errors": [str(exc)], "by": who}
            log.error("reload refused: %s", exc)
            return {"ok": False, "error": f"config refused: {exc}"}
        for kind in KINDS:
            for name, component in self.instances[kind].items():
                if new_instances[kind].get(name) is not component:
                    await self._stop_component(component)
        self.config = config
        self.instances.update(new_instances)
        self.engine.configure(config)
        self._wire()
        for kind in KINDS:
            for name in [c.split(":", 1)[1] for c in changed if c.startswith(kind + ":")]:
                if name in self.instances[kind]:
                    await self._start_component(kind, self.instances[kind][name])
        self.last_reload = {"time": now, "ok": True, "errors": [], "by": who, "changed": changed}
        self.journal.record_control(who, "reload", "config", f"applied; changed: {', '.join(changed) or 'none'}",
                                    now)
        log.info("reloaded (by %s); changed: %s", who, ", ".join(changed) or "nothing")
        self.plugins.hook.faultmgr_reloaded(daemon=self, changed=changed)
        if changed:
            self._freeze_long_lived()
        return {"ok": True, "changed": changed}

    @staticmethod
    def _freeze_long_lived() -> None:
        """Move what is loaded (plugins, MIBs, models, component instances) out of the collector's reach, so
        full collections stay short and do not delay pages or probes (measured: 100-250 ms at 10,000 probe
        targets). After a reload the old instances are garbage: unfreeze, collect them, freeze the new ones."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    # -- outcomes -------------------------------------------------------------------------------------
    def _outcome(self, receiver: str, notification: Notification, outcome: str, detail: str) -> None:
        if outcome == "sent":
            self.counters["notifications_sent"] += 1
        elif outcome in ("dead", "forwarded"):
            self.counters["notifications_failed"] += 1
        self._publish("notification", {"receiver": receiver, "outcome": outcome, "detail": detail,
                                       "title": notification.title, "id": notification.id})

    def _action_outcome(self, name: str, ok: bool) -> None:
        self.counters["actions_ok" if ok else "actions_failed"] += 1
        inst = self.config.actions.get(name)
        self._publish("action", {"action": name, "type": inst.type if inst else "", "ok": ok})

    def status(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "pid": os.getpid(),
            "started_at": self.started_at,
            "config": self.config.files,
            "last_reload": self.last_reload,
            "loop_lag_ms": round(self.loop_lag_ms, 2),
            "loop_lag_max_ms": round(self.loop_lag_max_ms, 2),
            "counters": dict(self.counters),
            "outbox_depth": self.outbox.depth(),
            "alerts": {"firing": len(self.engine.alerts.firing())},
            "components": {kind: {name: {"type": self._tables(self.config)[kind][name].type, **c.status()}
                                  for name, c in self.instances[kind].items()} for kind in KINDS},
        }
