"""The ``vip.takeover`` and ``vip.release`` actions.

Every result's data says what the run did: ``operation`` is ``take`` (the address was added here),
``release`` (removed here), ``announce`` (held already: announced again) or ``none``; a takeover's data also
has ``refused`` (the split-brain guard, the circuit breaker or a failed fence said no) and ``changed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import time
from typing import Any

from pyroute2 import AsyncIPRoute

from faultmgr.alert import AlertView
from faultmgr.component import Action, ActionResult
from faultmgr.event import Event
from faultmgr_vip.address import (
    AddressError,
    Link,
    VirtualAddress,
    add_address,
    holds,
    lookup_link,
    remove_address,
)
from faultmgr_vip.announce import Announcer, arp_probe, mac_bytes
from faultmgr_vip.guard import (
    CircuitBreaker,
    PeerWatcher,
    arbiter_agrees,
    isolated_here,
    peer_dead_on_all_paths,
    peer_isolated,
    run_fence,
    unreachable_nodes,
)
from faultmgr_vip.publish import StatusPublisher, publish_held
from faultmgr_vip.settings import ReleaseSettings, TakeoverSettings

#: How often a takeover refused by the arbiter looks at its view again (a read of memory, no traffic).
ARBITER_POLL = 0.1


def outcome(ok: bool, detail: str, operation: str, changed: bool = False, **data: Any) -> ActionResult:
    """An ActionResult whose data says what was done (``operation``: take, release, announce or none)."""
    return ActionResult(ok, detail, {"changed": changed, "operation": operation, **data})


class VipTakeover(Action):
    """Adds the address to the interface and announces it, after the split-brain guard agrees.

    Holding already is success (the address is re-announced, nothing else). When the alert resolves (the
    peer is back) a standby with ``auto_failback`` releases the address so the preferred node can have it.

    With ``require_arbiter`` a takeover the arbiter refused (it still hears the peer, or is not heard) keeps
    watching its view while the peer stays dead on every path, and takes over once the arbiter agrees: the
    alert fires once, but the primary may die for good after a split brain that was refused.

    With ``connectivity_failover`` (Heartbeat's ipfail) a node that lost ping nodes while its live peer reaches
    them all releases the address when its alert fires, and the preferred node (with ``auto_failback``) claims
    it back when that alert resolves.
    """

    Settings = TakeoverSettings
    summary = "take over a virtual IP: netlink add, gratuitous ARP / unsolicited NA, split-brain guard"
    settings: TakeoverSettings

    def __init__(self, name: str, settings: Any, runtime: Any) -> None:
        super().__init__(name, settings, runtime)
        self.vip = VirtualAddress.parse(self.settings.vip)
        self.breaker = CircuitBreaker(self.settings.max_takeovers, self.settings.takeover_window,
                                      runtime.store, key=f"takeovers:{name}")
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._arbiter_watch: asyncio.Task[None] | None = None
        #: Set by the guard when the arbiter (not other evidence) refused the last takeover.
        self._arbiter_refused = False
        self._announcer_cache: Announcer | None = None
        self._state: dict[str, Any] = {"held": None, "last_change": None, "last_refusal": None,
                                       "announcements": 0}

    # -- life cycle --------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Reconcile: is the address already ours? If so re-announce it; the preferred node may claim it."""
        try:
            held = await holds(self.settings.interface, self.vip)
            self._announcer(await self._link()).open()
        except (AddressError, OSError) as exc:
            # Not fatal: the interface may appear later; takeover then reports the problem in its result.
            self.log.warning("%s: cannot reconcile %s at start: %s", self.name, self.vip, exc)
            self._state.update(held=False, start_problem=str(exc))
            self._publish()
            return
        self._state["held"] = held
        self._state["reconciled_at"] = time.time()
        self._publish()
        self.log.info("%s on %s at start: %s", self.vip, self.settings.interface,
                      "held here" if held else "not held here")
        if held:
            self._spawn(self._keep_or_yield())
        elif self.settings.preferred:
            self._spawn(self._claim_at_start())

    async def stop(self) -> None:
        for task in [*self._tasks, *([self._refresher] if self._refresher else [])]:
            task.cancel()
        for task in [*self._tasks, *([self._refresher] if self._refresher else [])]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._refresher = None
        if self._announcer_cache is not None:
            self._announcer_cache.close()
            self._announcer_cache = None

    def check(self) -> list[str]:
        problems = []
        fence = self.settings.fence
        if fence and not (shutil.which(fence[0]) or os.access(fence[0], os.X_OK)):
            problems.append(f"fence program not found or not executable: {fence[0]}")
        return problems

    def status(self) -> dict[str, Any]:
        return {"vip": str(self.vip), "interface": self.settings.interface, **self._state,
                "circuit_breaker": self.breaker.status(),
                "refreshing": self._refresher is not None and not self._refresher.done()}

    # -- the action --------------------------------------------------------------------------------------

    async def run(self, alert: AlertView, event: Event | None, resolved: bool = False) -> ActionResult:
        async with self._lock:
            peer = self.settings.peer or alert.labels.get("peer") or alert.subject
            if resolved:
                self._stop_arbiter_watch()
                if self._state.pop("released_for_connectivity", None):
                    return await self._connectivity_back()
                return await self._on_peer_back()
            isolated = self._isolated_here(peer)
            if isolated:
                return await self._release_for_connectivity(isolated)
            result = await self.take_over(peer=peer)
            if not result.ok and self._arbiter_refused:
                self._watch_arbiter(peer)
                result.detail += "; watching the arbiter while the peer stays dead"
            return result

    async def take_over(self, peer: str | None = None, guarded: bool = True) -> ActionResult:
        """The takeover itself: guard, fence, add, announce. Safe to repeat.

        ``guarded=False`` is the preferred node claiming its own address at start: its peer may well be
        alive (as the standby), so the split-brain guard and the fence do not apply; the circuit breaker does.
        """
        try:
            if await holds(self.settings.interface, self.vip):
                self._state["held"] = True
                self._publish()
                self._spawn(self._announce())
                self._start_refresh()
                return outcome(True, f"{self.vip} already held on {self.settings.interface}; re-announced",
                               "announce", refused=False)
            if self.breaker.is_open():
                return self._refuse(f"circuit open: {len(self.breaker.times)} takeovers within "
                                    f"{self.settings.takeover_window:g}s (max {self.settings.max_takeovers}); "
                                    "automatic takeover refused")
            refusal = await self._guard(peer) if guarded else None
            if refusal:
                return self._refuse(refusal)
            if self.runtime.dry_run:
                fencing = f"fence {peer} and " if self.settings.fence and guarded else ""
                return outcome(True, f"dry run: would {fencing}take over {self.vip} on "
                                     f"{self.settings.interface}", "none", refused=False)
            fence_detail = ""
            if self.settings.fence and guarded:
                fenced, fence_detail = await run_fence(self.settings.fence, self.settings.fence_timeout)
                if not fenced:
                    return self._refuse(f"fencing failed, takeover refused: {fence_detail}")
                self.log.warning("peer %s fenced: %s", peer, fence_detail)
            link, added = await add_address(self.settings.interface, self.vip)
        except AddressError as exc:
            return outcome(False, str(exc), "none", refused=False)
        # The first announcement goes out before anything else: it is what moves the clients.
        self._announce_now(link)
        self._spawn(self._announce(link, skip_first=True))
        self.breaker.record()
        self._mark(True)
        self._start_refresh()
        evidence = (self._state.get("connectivity_evidence") or self._state.get("arbiter_evidence")
                    if guarded else None)
        return outcome(True, f"took over {self.vip} on {self.settings.interface}"
                             + (f" after fencing {peer}" if fence_detail else "")
                             + (f" ({evidence})" if evidence else ""),
                       # Added by someone else between the check and the add: this run only announced it.
                       "take" if added else "announce", changed=added, refused=False, mac=link.mac,
                       fence=fence_detail or None)

    @property
    def yields_to_another_holder(self) -> bool:
        """When both heads hold the address, does this one let go? Exactly one side does, by policy, so two
        holders that find each other at the same moment never both release it: with ``auto_failback`` the
        preferred node keeps it; without, the address stays where it moved (the standby keeps it)."""
        return self.settings.preferred != self.settings.auto_failback

    async def _on_peer_back(self) -> ActionResult:
        """The peer is heard again (a restart, a healed split brain, a restored link): of two holders exactly
        one keeps the address and announces it again; the other releases it."""
        try:
            if not await holds(self.settings.interface, self.vip):
                return outcome(True, "peer back; the address is not held here", "none", refused=False)
            if self.yields_to_another_holder:
                if not self.settings.preferred:
                    return await self._yield("peer back; released {vip} (auto_failback)")
                other = await self._other_holder()
                if other is not None:
                    return await self._yield(f"peer back and {other} holds {{vip}} too; released it here "
                                             "(auto_failback off: the address stays with the standby)")
        except AddressError as exc:
            return outcome(False, str(exc), "none", refused=False)
        # The peer may have held the address meanwhile (a healed split brain, a cut link restored):
        # announce again, or clients keep sending to the peer that is releasing it (keepalived #166, #1528).
        # The burst runs on its own: the action (and the next one queued for this alert) need not wait for it.
        self._spawn(self._announce())
        return outcome(True, "peer back; keeping the address and announcing it again", "announce", refused=False)

    def _isolated_here(self, peer: str) -> str | None:
        """Why this node should give the address up (it lost ping nodes its live peer reaches), or ``None``."""
        if not self.settings.connectivity_failover:
            return None
        watcher = self.runtime.component("detector", self.settings.heartbeat_detector or "")
        if not isinstance(watcher, PeerWatcher):
            return None
        isolated, why = isolated_here(watcher, peer)
        return why if isolated else None

    async def _release_for_connectivity(self, why: str) -> ActionResult:
        try:
            held = await holds(self.settings.interface, self.vip)
        except AddressError as exc:
            return outcome(False, str(exc), "none", refused=False)
        self._state["released_for_connectivity"] = why
        if not held:
            return outcome(True, f"{why}; the address is not held here", "none", refused=False)
        self.log.warning("%s: %s; releasing %s", self.name, why, self.vip)
        return await self._yield(f"{why}: released {{vip}} for the peer to take over")

    async def _connectivity_back(self) -> ActionResult:
        """This node reaches its ping nodes again: the preferred node with ``auto_failback`` claims the address
        back (as at start; the circuit breaker counts it), any other leaves it with the peer."""
        try:
            if await holds(self.settings.interface, self.vip):
                return await self._on_peer_back()
        except AddressError as exc:
            return outcome(False, str(exc), "none", refused=False)
        if self.settings.preferred and self.settings.auto_failback:
            return await self.take_over(guarded=False)
        return outcome(True, "ping nodes reached again; the address stays with the peer", "none", refused=False)

    async def _yield(self, detail: str) -> ActionResult:
        if self.runtime.dry_run:
            return outcome(True, "dry run: would have " + detail.format(vip=self.vip), "none", refused=False)
        removed = await remove_address(self.settings.interface, self.vip)
        self._stop_refresh()
        self._mark(False)
        return outcome(True, detail.format(vip=self.vip), "release" if removed else "none", changed=removed,
                       refused=False)

    async def _guard(self, peer: str | None) -> str | None:
        """The reason to refuse takeover, or ``None`` when the evidence says go."""
        self._state["connectivity_evidence"] = self._state["arbiter_evidence"] = None
        self._arbiter_refused = False
        if self.settings.require_peer_dead_on_all_paths:
            name = self.settings.heartbeat_detector or ""
            watcher = self.runtime.component("detector", name)
            if not isinstance(watcher, PeerWatcher):
                return f"split-brain guard: heartbeat detector {name!r} not found"
            dead, why = peer_dead_on_all_paths(watcher, peer or "")
            if not dead and self.settings.connectivity_failover:
                # The peer is heard, but says it lost the ping nodes this node reaches: it cannot serve.
                dead, because = peer_isolated(watcher, peer or "")
                why = because if dead else f"{why}; {because}"
                self._state["connectivity_evidence"] = because if dead else None
            if not dead:
                return f"split-brain guard: {why}"
            if self.settings.require_arbiter and not self._state["connectivity_evidence"]:
                # Dead on every path here may be only the link between the heads: ask the third node.
                # ipfail's evidence is not asked about: the peer is heard and releases the address itself.
                refusal, because = await self._ask_arbiter(watcher, peer or "")
                if refusal:
                    return refusal
                why = f"{why}; {because}"
                self._state["arbiter_evidence"] = because
            self._state["last_evidence"] = why
        if self.settings.ping_nodes:
            silent = await unreachable_nodes(self.settings.ping_nodes, self.settings.ping_timeout)
            if silent:
                return f"split-brain guard: ping node(s) not answering: {', '.join(silent)}"
        return None

    async def _ask_arbiter(self, watcher: PeerWatcher, peer: str) -> tuple[str | None, str]:
        """(refusal or ``None``, reason): wait up to ``arbiter_wait`` for the arbiter to stop hearing ``peer``
        (it declares the peer dead on its own timers, and tells at its next beat)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.arbiter_wait
        while True:
            agrees, why = arbiter_agrees(watcher, peer)
            if agrees or loop.time() >= deadline:
                break
            await asyncio.sleep(ARBITER_POLL)
        if agrees:
            return None, why
        if agrees is None and self.settings.fence:
            return None, f"{why}, the fence stands in for it"
        self._arbiter_refused = True
        return f"split-brain guard: {why}", why

    def _watch_arbiter(self, peer: str) -> None:
        if self._arbiter_watch is not None and not self._arbiter_watch.done():
            return
        self._state["awaiting_arbiter"] = {"peer": peer, "since": time.time()}
        self._arbiter_watch = asyncio.get_running_loop().create_task(self._await_arbiter(peer))
        self._tasks.add(self._arbiter_watch)
        self._arbiter_watch.add_done_callback(self._task_done)

    def _stop_arbiter_watch(self) -> None:
        if self._arbiter_watch is not None:
            self._arbiter_watch.cancel()
            self._arbiter_watch = None
        self._state.pop("awaiting_arbiter", None)

    async def _await_arbiter(self, peer: str) -> None:
        """After the arbiter refused: take over once it agrees, while the peer stays dead on every path."""
        try:
            while True:
                await asyncio.sleep(ARBITER_POLL)
                watcher = self.runtime.component("detector", self.settings.heartbeat_detector or "")
                if not isinstance(watcher, PeerWatcher) or not peer_dead_on_all_paths(watcher, peer)[0]:
                    self.log.info("%s: peer %s heard again; no longer waiting for the arbiter", self.name, peer)
                    return
                agrees, _ = arbiter_agrees(watcher, peer)
                if not (agrees or (agrees is None and self.settings.fence)):
                    continue
                async with self._lock:
                    result = await self.take_over(peer=peer)
                if result.ok:
                    self.log.warning("%s: %s", self.name, result.detail)
                    return
                if not self._arbiter_refused:
                    return  # refused for another reason (circuit breaker, ping nodes): already logged
        finally:
            if self._arbiter_watch is asyncio.current_task():
                self._state.pop("awaiting_arbiter", None)

    def _refuse(self, detail: str) -> ActionResult:
        self._state["last_refusal"] = {"time": time.time(), "detail": detail}
        self.log.warning("%s: %s", self.name, detail)
        return outcome(False, detail, "none", refused=True)

    def _mark(self, held: bool) -> None:
        self._state["held"] = held
        self._state["last_change"] = time.time()
        self._publish()

    def _publish(self) -> None:
        """Tell the peers, in this node's heartbeat beats, whether this action's VIP is held here (the
        ``vips`` and ``role`` keys of the beat status; see :mod:`faultmgr_vip.publish`)."""
        name = self.settings.heartbeat_detector
        detector = self.runtime.component("detector", name) if name else None
        if not isinstance(detector, StatusPublisher):
            return
        try:
            self._state["published_vips"] = publish_held(detector, str(self.vip), bool(self._state["held"]))
        except (ValueError, RuntimeError) as exc:  # a status too large for a beat: the VIP still moves
            self.log.warning("%s: VIPs not published in the beats of %s: %s", self.name, name, exc)

    # -- reconciling at start ----------------------------------------------------------------------------

    async def _other_holder(self) -> str | None:
        """The MAC of another node answering for the (IPv4) address, or ``None``."""
        if self.vip.family != socket.AF_INET:
            return None
        link = await self._link()
        owner = await arp_probe(link.name, mac_bytes(link.mac), self.vip.address, self.settings.start_probe_timeout)
        return owner.hex(":") if owner else None

    async def _keep_or_yield(self) -> None:
        """Held at start: keep it and re-announce, unless another node answers for it too (this node was
        restarted after its peer took over) and this node is the one that yields."""
        async with self._lock:
            other = await self._other_holder() if self.yields_to_another_holder else None
            if other is not None:
                await self._yield("released {vip}")
                self._state["yielded_to"] = other
                self.log.warning("%s is also held by %s; released it here", self.vip, other)
                return
            self._spawn(self._announce())
            self._start_refresh()

    # -- claiming at start -------------------------------------------------------------------------------

    async def _claim_at_start(self) -> None:
        async with self._lock:
            if not self.settings.auto_failback:
                owner = await self._other_holder()
                if owner is not None:
                    self.log.info("%s answered by %s; not claiming it (auto_failback off)", self.vip, owner)
                    self._state["answered_by"] = owner
                    return
            result = await self.take_over(guarded=False)
            self.log.info("claim at start: %s", result.detail)

    # -- announcing --------------------------------------------------------------------------------------

    async def _link(self) -> Link:
        async with AsyncIPRoute() as ipr:
            return await lookup_link(ipr, self.settings.interface)

    def _announcer(self, link: Link) -> Announcer:
        """The announcer for ``link``, kept between takeovers (its socket is costly to open)."""
        current = self._announcer_cache
        if current is not None and (current.ifindex, current.mac) == (link.index, mac_bytes(link.mac)):
            return current
        if current is not None:
            current.close()
        self._announcer_cache = Announcer(link.name, self.vip.address, mac_bytes(link.mac), link.index)
        return self._announcer_cache

    def _announce_now(self, link: Link) -> None:
        try:
            self._announcer(link).send_once()
            self._state["announcements"] += 1
        except OSError as exc:
            self.log.warning("announcing %s on %s failed: %s", self.vip, link.name, exc)

    async def _announce(self, link: Link | None = None, skip_first: bool = False) -> None:
        try:
            link = link or await self._link()
        except AddressError as exc:
            self.log.warning("cannot announce %s: %s", self.vip, exc)
            return
        count = self.settings.garp_count - (1 if skip_first else 0)
        if count <= 0:
            return
        if skip_first:
            await asyncio.sleep(self.settings.garp_interval)
        self._state["announcements"] += await self._announcer(link).burst(count, self.settings.garp_interval)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.log.error("%s: background work failed: %s: %s", self.name, type(exc).__name__, exc)

    def _start_refresh(self) -> None:
        if self.settings.refresh_interval and (self._refresher is None or self._refresher.done()):
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    def _stop_refresh(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None

    async def _refresh_loop(self) -> None:
        """Re-announce while the address is here; stop once it is gone (released by anyone)."""
        interval = self.settings.refresh_interval or 0.0
        while True:
            await asyncio.sleep(interval)
            try:
                if not await holds(self.settings.interface, self.vip):
                    self._state["held"] = False
                    self._publish()
                    return
                link = await self._link()
            except AddressError:
                continue
            self._announce_now(link)


class VipRelease(Action):
    """Removes the address from the interface; absent already is success."""

    Settings = ReleaseSettings
    summary = "release a virtual IP (netlink delete)"
    settings: ReleaseSettings

    def __init__(self, name: str, settings: Any, runtime: Any) -> None:
        super().__init__(name, settings, runtime)
        self.vip = VirtualAddress.parse(self.settings.vip)
        self._state: dict[str, Any] = {"held": None, "last_change": None}

    async def start(self) -> None:
        try:
            self._state["held"] = await holds(self.settings.interface, self.vip)
        except AddressError as exc:
            self._state.update(held=False, start_problem=str(exc))

    def status(self) -> dict[str, Any]:
        return {"vip": str(self.vip), "interface": self.settings.interface, **self._state}

    async def run(self, alert: AlertView, event: Event | None, resolved: bool = False) -> ActionResult:
        if resolved and not self.settings.on_resolve:
            return outcome(True, "skipped (on_resolve is off)", "none")
        if self.runtime.dry_run:
            return outcome(True, f"dry run: would release {self.vip} from {self.settings.interface}", "none")
        try:
            removed = await remove_address(self.settings.interface, self.vip)
        except AddressError as exc:
            return outcome(False, str(exc), "none")
        self._state.update(held=False, last_change=time.time())
        detail = f"released {self.vip} from {self.settings.interface}" if removed else f"{self.vip} was not held"
        return outcome(True, detail, "release" if removed else "none", changed=removed)
