"""One pool's controller: declared state + what alerts and operators changed = the state to reconcile to.

Changes made by actions and by ``faultmgr pool drain/add`` are *overrides* kept in the daemon's key/value
store, so a restart or a reload reconciles to "declared, except web2 is quiesced", never silently undoing an
open alert's action. Clearing an override (the alert resolved) brings the declared state back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from faultmgr.event import Event, Severity
from faultmgr.store import KeyValueStore
from faultmgr_pools.backend import Backend, ServerState, Target
from faultmgr_pools.haproxy import HaproxyPoolBackend
from faultmgr_pools.ipvs import IpvsPoolBackend
from faultmgr_pools.model import Pool, RealServer
from faultmgr_pools.reconcile import Wanted, apply, plan

#: Source of the ``pool.quorum.*`` events (one per process, so a recovery always matches its failure).
EVENT_SOURCE = "pools"
_QUORUM_KEY = "!quorum"
#: The rule file's servers as last reconciled (name -> [address, port]): what a reload is compared with.
_DECLARED_KEY = "!declared"
#: Override marks of servers in transit after a rule-file change (see :mod:`faultmgr_pools.rulefile`).
RETIRING, JOINING = "retiring", "joining"

log = logging.getLogger("faultmgr.pools")


def make_backend(pool: Pool) -> Backend:
    """The backend a pool declares."""
    if pool.backend.type == "ipvs":
        assert pool.service is not None
        return IpvsPoolBackend(pool.service, pool.backend)
    return HaproxyPoolBackend(pool.backend)


class CalledOff(Exception):
    """A change made on behalf of a mark that is gone (the server is back in the rule file, or a newer
    config took over the pool)."""


@dataclass
class Report:
    """What one reconciliation did and found."""

    changes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    serving: int = 0
    quorum: int = 0
    sorry_active: bool = False

    @property
    def quorum_ok(self) -> bool:
        return self.serving >= self.quorum

    def as_dict(self) -> dict[str, Any]:
        return {"changes": self.changes, "errors": self.errors, "serving": self.serving,
                "quorum": self.quorum, "quorum_ok": self.quorum_ok, "sorry_active": self.sorry_active}


class PoolController:
    """Holds one pool's overrides and reconciles its backend; serialises every change to the pool."""

    def __init__(self, name: str, pool: Pool, backend: Backend | None = None, store: KeyValueStore | None = None,
                 emit: Callable[[Event], None] | None = None, now: Callable[[], float] = time.time,
                 dry_run: bool = False) -> None:
        self.name = name
        self.pool = pool
        self.backend = backend or make_backend(pool)
        self.namespace = f"faultmgr-pools.{name}"
        self.dry_run = dry_run
        self.store = store if store is not None else KeyValueStore.memory()
        if dry_run:
            # ``faultmgr run --dry-run``: overrides live in a scratch copy and nothing reaches the backend.
            scratch = KeyValueStore.memory()
            for key, value in self.store.items(self.namespace).items():
                scratch.set(self.namespace, key, value)
            self.store = scratch
        self.emit = emit
        self.now = now
        self.lock = asyncio.Lock()
        #: Set when a newer config's controller took over this pool: it then leaves the rule-file record alone.
        self.stale = False

    # -- overrides -------------------------------------------------------------------------------------

    def overrides(self) -> dict[str, dict[str, Any]]:
        """Server name -> override (``{"weight": N}`` or ``{"removed": true}``, with address and port for
        servers the rule file does not declare)."""
        return {k: v for k, v in self.store.items(self.namespace).items() if not k.startswith("!")}

    def target(self, name: str) -> Target | None:
        """The address of server ``name``: declared, or remembered from ``pool add --address``."""
        declared = self.pool.server(name)
        if declared is not None:
            return Target(name, declared.address, self.pool.port_of(declared))
        override = self.overrides().get(name, {})
        if "address" in override:
            return Target(name, override["address"], int(override["port"]))
        return None

    def declared_weight(self, name: str) -> int:
        """The rule file's weight of ``name`` (1 for a server it does not declare)."""
        declared = self.pool.server(name)
        return declared.weight if declared is not None else 1

    async def override(self, name: str, value: dict[str, Any] | None,
                       expect: dict[str, Any] | None = None) -> Report:
        """Set (or with ``None`` clear) the override of ``name``, then reconcile. With ``expect``, only if
        the override still holds those items and this controller's config is still in force, else
        :class:`CalledOff` (a task's cancellation alone cannot promise that: it may land too late)."""
        async with self.lock:
            current = self.overrides().get(name, {})
            if expect is not None and (self.stale or any(current.get(k) != v for k, v in expect.items())):
                raise CalledOff(f"pool {self.name}: {name} was changed meanwhile")
            if value is None:
                self.store.delete(self.namespace, name)
            else:
                self.store.set(self.namespace, name, value)
            return await self._reconcile()

    async def clear_mark(self, name: str, mark: str) -> Report | None:
        """Clear the override of ``name`` if it still carries ``mark`` (nobody changed it meanwhile), then
        reconcile; ``None`` when it no longer does."""
        async with self.lock:
            if self.stale or not self.overrides().get(name, {}).get(mark):
                return None
            self.store.delete(self.namespace, name)
            return await self._reconcile()

    def in_transit(self, mark: str) -> dict[str, dict[str, Any]]:
        """The overrides carrying ``mark`` (:data:`RETIRING` or :data:`JOINING`)."""
        return {name: value for name, value in self.overrides().items() if value.get(mark)}

    # -- desired state -------------------------------------------------------------------------------------

    def wanted(self) -> tuple[list[Wanted], int, bool]:
        """The servers the pool should hold, how many real ones serve, and whether the sorry server is on."""
        overrides = self.overrides()
        wanted: list[Wanted] = []
        for server in self.pool.servers:
            override = overrides.pop(server.name, None)
            weight = self._weight(server, override)
            if weight is not None:
                wanted.append(Wanted(Target(server.name, server.address, self.pool.port_of(server)), weight))
        for name, override in overrides.items():
            if "address" in override and not override.get("removed"):
                wanted.append(Wanted(Target(name, override["address"], int(override["port"])),
                                     int(override.get("weight", 1))))
        serving = sum(1 for w in wanted if w.weight > 0)
        sorry = self.pool.sorry
        sorry_on = sorry is not None and serving == 0
        if sorry is not None:
            # The sorry server stays in the table at weight 0, so switching it on or off never cuts anything.
            wanted.append(Wanted(Target(sorry.name, sorry.address, self.pool.port_of(sorry)),
                                 sorry.weight if sorry_on else 0))
        return wanted, serving, sorry_on

    @staticmethod
    def _weight(server: RealServer, override: dict[str, Any] | None) -> int | None:
        if override is None:
            return None if server.standby else server.weight
        if override.get("removed"):
            return None
        return int(override.get("weight", server.weight))

    # -- reconciliation ------------------------------------------------------------------------------------

    def known(self) -> list[Target]:
        """Every server this pool declares or was given, wanted now or not."""
        names = [s.name for s in self.pool.servers] + list(self.overrides())
        targets = [self.target(name) for name in dict.fromkeys(names)]
        return [t for t in targets if t is not None]

    async def reconcile(self) -> Report:
        """Bring the backend to the wanted state (at start, on reload, after every override)."""
        async with self.lock:
            return await self._reconcile()

    async def _reconcile(self) -> Report:
        if not self.dry_run:
            await self.backend.ensure()
        before = await self.backend.servers()
        if not self.stale:
            self._follow_rule_file(before)
        wanted, serving, sorry_on = self.wanted()
        if isinstance(self.backend, IpvsPoolBackend):
            self.backend.names = {self.backend.key(w.target): w.target.name for w in wanted}
        if self.dry_run:
            changes = plan(self.backend, wanted, before, self.known(), self.pool.backend.prune)
            report = Report([f"would {c}" for c in changes], [], serving, self.pool.quorum, sorry_on)
            self._quorum_event(report)
            return report
        changes = plan(self.backend, wanted, before, self.known(), self.pool.backend.prune)
        errors = await apply(self.backend, changes)
        for change in changes:
            log.info("pool %s: %s", self.name, change)
        live = await self.backend.servers() if changes else None
        report = Report([str(c) for c in changes], errors, quorum=self.pool.quorum, sorry_active=sorry_on)
        report.serving = self._serving(live) if live is not None else self._serving(await self.backend.servers())
        self._quorum_event(report)
        return report

    def _follow_rule_file(self, live: list[ServerState]) -> None:
        """Compare the servers the rule file puts in service with the ones last reconciled to, and mark the
        difference.

        A real server gone from the file (or made ``standby``) but still in the load balancer keeps serving as
        it is, marked :data:`RETIRING` (with its address when it is no longer declared): it waits for a drain,
        never a plain removal. A new one (or one no longer ``standby``) that is not in the load balancer yet is
        held out, marked :data:`JOINING`, until its health check passes. A retiring server back in service in
        the file is restored at once; a joining one gone again is forgotten. A server with an override of
        another kind is left to it (an alert or an operator manages it). Nothing is marked the first time
        (no record yet): that is a fresh start.
        """
        in_service: dict[str, list[Any]] = {s.name: [s.address, self.pool.port_of(s)]
                                             for s in self.pool.servers if not s.standby}
        record: dict[str, list[Any]] | None = self.store.get(self.namespace, _DECLARED_KEY)
        if record != in_service:
            self.store.set(self.namespace, _DECLARED_KEY, in_service)
        overrides = self.overrides()
        for name, value in overrides.items():
            if value.get(RETIRING) and name in in_service:
                log.info("pool %s: %s is back in the rule file: restored, its drain is called off", self.name, name)
                self.store.delete(self.namespace, name)
            elif value.get(JOINING) and name not in in_service:
                log.info("pool %s: %s left the rule file before it joined", self.name, name)
                self.store.delete(self.namespace, name)
        if record is None or record == in_service:
            return
        have = {self.backend.state_key(state): state for state in live}
        keys = {self.backend.key(Target(s.name, s.address, self.pool.port_of(s))) for s in self.pool.servers
                if s.name not in record}
        for name, (address, port) in record.items():
            state = have.get(self.backend.key(Target(name, address, port)))
            if name in in_service or name in overrides or state is None or self.backend.state_key(state) in keys:
                continue  # still in service, managed by an override, not in the table, or renamed (IPVS key)
            weight = state.weight if state.state in ("ready", "down") else 0
            mark: dict[str, Any] = {RETIRING: True, "since": self.now(), "weight": weight}
            if self.pool.server(name) is None:
                mark.update(address=address, port=port)
            log.info("pool %s: %s %s: it keeps weight %d until drained", self.name, name,
                     "left the rule file" if self.pool.server(name) is None else "is standby now", weight)
            self.store.set(self.namespace, name, mark)
        for name, (address, port) in in_service.items():
            if name in record or name in overrides or self.backend.key(Target(name, address, port)) in have:
                continue
            log.info("pool %s: %s is new in the rule file: held out until its health check passes",
                     self.name, name)
            self.store.set(self.namespace, name, {JOINING: True, "removed": True})

    def _serving(self, live: list[ServerState]) -> int:
        sorry = self.pool.sorry.name if self.pool.sorry else None
        return sum(1 for s in live if s.serving and s.name != sorry)

    def _quorum_event(self, report: Report) -> None:
        was_ok = self.store.get(self.namespace, _QUORUM_KEY, True)
        if was_ok == report.quorum_ok:
            return
        self.store.set(self.namespace, _QUORUM_KEY, report.quorum_ok)
        if self.emit is None:
            return
        kind, severity = ("pool.quorum.ok", Severity.OK) if report.quorum_ok else ("pool.quorum.lost",
                                                                                    Severity.CRITICAL)
        self.emit(Event(kind=kind, source=EVENT_SOURCE, subject=self.name, severity=severity,
                        labels={"pool": self.name}, time=self.now(),
                        payload={"serving": report.serving, "quorum": report.quorum},
                        message=f"pool {self.name}: {report.serving} of {len(self.pool.servers)} real servers "
                                f"serving (quorum {report.quorum})"))

    async def live(self) -> list[ServerState]:
        """The backend's table as it is now."""
        return await self.backend.servers()
