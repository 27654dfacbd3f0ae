"""The durable outbox: every notification is written before it is sent, retried with exponential backoff
and jitter while its receiver is down, marked done once delivered, and re-sent after a crash with the same
deduplication key. Each receiver's notifications go out one at a time, in the order they were written, so
messages about one subject never overtake each other. A receiver that keeps failing hands its queue to its
fallback receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faultmgr import jsontext
from faultmgr.alert import Notification
from faultmgr.clock import Clock
from faultmgr.component import DeliveryError, Notifier
from faultmgr.config.model import RetryPolicy
from faultmgr.engine.journal import Journal
from faultmgr.logs import fields

log = logging.getLogger("faultmgr.outbox")

SEND_TIMEOUT = 120.0


@dataclass
class Channel:
    """A receiver as the outbox sees it: the notifier and its retry and fallback settings."""

    name: str
    notifier: Notifier
    retry: RetryPolicy
    fallback: str | None


def backoff(policy: RetryPolicy, attempts: int, retry_after: float | None = None,
            rand: Callable[[], float] = random.random) -> float:
    """Delay before the next attempt: exponential, capped, with jitter; a channel's Retry-After wins."""
    delay = min(policy.max_delay, policy.initial * policy.factor ** max(0, attempts - 1))
    delay *= 1 + policy.jitter * rand()
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


class Outbox:
    """Writes notifications to the journal and delivers them with one sender task per receiver."""

    def __init__(self, journal: Journal, clock: Clock,
                 on_outcome: Callable[[str, Notification, str, str], None] | None = None) -> None:
        self.journal = journal
        self.clock = clock
        self.channels: dict[str, Channel] = {}
        self.on_outcome = on_outcome or (lambda *_: None)
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._busy: set[str] = set()

    # -- writing --------------------------------------------------------------------------------------
    def enqueue(self, notification: Notification, subject_key: str = "") -> Notification:
        """Write ``notification`` (its id is assigned here) and wake the receiver's sender."""
        now = self.clock.now()
        notification.created_at = notification.created_at or now
        with self.journal.lock:
            # one transaction: a crash never leaves a row without its payload
            self.journal.db.execute("BEGIN IMMEDIATE")
            try:
                row = self.journal.db.execute(
                    "INSERT INTO outbox (receiver, dedup_key, subject_key, state, next_at, created_at, "
                    "updated_at, payload) VALUES (?,?,?, 'pending', ?,?,?, '{}') RETURNING id",
                    (notification.receiver, notification.dedup_key, subject_key, now, now, now)).fetchone()
                notification.id = int(row[0])
                self.journal.db.execute("UPDATE outbox SET payload=? WHERE id=?",
                                        (jsontext.dumps(notification.to_dict()), notification.id))
                self.journal.db.execute("COMMIT")
            except BaseException:
                self.journal.db.execute("ROLLBACK")
                raise
        self.wake(notification.receiver)
        return notification

    def wake(self, receiver: str) -> None:
        event = self._wake.get(receiver)
        if event is not None:
            event.set()

    def recover(self) -> int:
        """After a crash: what was being sent is sent again (same deduplication key)."""
        with self.journal.lock:
            return self.journal.db.execute("UPDATE outbox SET state='pending' WHERE state='sending'").rowcount

    def depth(self, receiver: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')"
        args: tuple[Any, ...] = ()
        if receiver:
            sql += " AND receiver=?"
            args = (receiver,)
        with self.journal.lock:
            return int(self.journal.db.execute(sql, args).fetchone()[0])

    def rows(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.journal.lock:
            rows = self.journal.db.execute(
                "SELECT id, receiver, dedup_key, state, attempts, last_error, receipt, created_at, updated_at "
                "FROM outbox ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        keys = ("id", "receiver", "dedup_key", "state", "attempts", "last_error", "receipt", "created_at",
                "updated_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # -- sending --------------------------------------------------------------------------------------
    def start(self, channels: dict[str, Channel]) -> None:
        """Start (or, after a reload, adjust) one sender task per receiver."""
        self.channels = channels
        for name in list(self._tasks):
            if name not in channels:
                self._tasks.pop(name).cancel()
        for name in channels:
            if name not in self._tasks or self._tasks[name].done():
                self._wake[name] = asyncio.Event()
                self._tasks[name] = asyncio.get_running_loop().create_task(self._sender(name),
                                                                           name=f"outbox-{name}")
            self.wake(name)

    async def stop(self, timeout: float) -> int:
        """Let in-flight and due notifications go out for up to ``timeout`` s; returns what is left queued."""
        deadline = self.clock.monotonic() + timeout
        while self.clock.monotonic() < deadline and (self._busy or self._due_now()):
            await asyncio.sleep(0.05)
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        return self.depth()

    def _due_now(self) -> bool:
        with self.journal.lock:
            row = self.journal.db.execute("SELECT 1 FROM outbox WHERE state='pending' AND next_at <= ? LIMIT 1",
                                          (self.clock.now(),)).fetchone()
        return row is not None

    def _head(self, receiver: str) -> tuple[int, float, int, float, str] | None:
        with self.journal.lock:
            return self.journal.db.execute(  # type: ignore[no-any-return]
                "SELECT id, next_at, attempts, created_at, payload FROM outbox WHERE receiver=? AND "
                "state='pending' ORDER BY id LIMIT 1", (receiver,)).fetchone()

    def _set(self, row_id: int, **fields: Any) -> None:
        fields["updated_at"] = self.clock.now()
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.journal.lock:
            self.journal.db.execute(f"UPDATE outbox SET {cols} WHERE id=?", (*fields.values(), row_id))

    async def _sender(self, receiver: str) -> None:
        wake = self._wake[receiver]
        while True:
            head = self._head(receiver)
            if head is None:
                wake.clear()
                await wake.wait()
                continue
            row_id, next_at, attempts, created_at, payload = head
            wait = next_at - self.clock.now()
            if wait > 0:
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=wait)
                continue
            try:
                notification = Notification.from_dict(jsontext.loads(payload))
            except (ValueError, TypeError, KeyError) as exc:
                # a row this version cannot read must not block the receiver's queue
                log.error("outbox row #%d is unreadable (%s); marked dead", row_id, exc)
                self._set(row_id, state="dead", last_error=f"unreadable payload: {exc}")
                continue
            await self._attempt(receiver, row_id, attempts + 1, created_at, notification)

    async def _attempt(self, receiver: str, row_id: int, attempts: int, created_at: float,
                       notification: Notification) -> None:
        channel = self.channels.get(receiver)
        if channel is None:
            return
        self._set(row_id, state="sending", attempts=attempts)
        self._busy.add(receiver)
        try:
            receipt = await asyncio.wait_for(channel.notifier.send(notification), SEND_TIMEOUT)
        except asyncio.CancelledError:
            self._set(row_id, state="pending")
            raise
        except Exception as exc:  # any failure of a notifier, a bug included, means: retry from the outbox
            if not isinstance(exc, DeliveryError):
                log.exception("notifier %s raised while sending #%d", receiver, row_id)
                exc = DeliveryError(f"{type(exc).__name__}: {exc}")
            self._failed(channel, row_id, attempts, created_at, notification, exc)
            return
        finally:
            self._busy.discard(receiver)
        self._set(row_id, state="done", receipt=str(receipt)[:500], last_error="")
        if log.isEnabledFor(logging.INFO):
            log.info("notification #%d to %s delivered (attempt %d): %s", row_id, receiver, attempts,
                     str(receipt)[:200], extra=fields(receiver=receiver, notification_id=row_id, attempt=attempts,
                                                     outcome="sent", dedup_key=notification.dedup_key,
                                                     receipt=str(receipt)[:200]))
        self.on_outcome(receiver, notification, "sent", str(receipt))

    def _failed(self, channel: Channel, row_id: int, attempts: int, created_at: float,
                notification: Notification, exc: DeliveryError) -> None:
        error = str(exc)[:500]
        policy = channel.retry
        expired = self.clock.now() - created_at >= policy.give_up_after
        if channel.fallback and (exc.permanent or attempts >= policy.fallback_after or expired):
            self._set(row_id, state="forwarded", last_error=error)
            log.warning("notification #%d to %s failed (attempt %d); handed to its fallback %s: %s", row_id,
                        channel.name, attempts, channel.fallback, error,
                        extra=fields(receiver=channel.name, notification_id=row_id, attempt=attempts,
                                     outcome="forwarded", fallback=channel.fallback, error=error))
            self.on_outcome(channel.name, notification, "forwarded", error)
            self._forward(channel, notification)
            return
        if exc.permanent or expired:
            self._set(row_id, state="dead", last_error=error)
            log.error("notification #%d to %s given up (attempt %d): %s", row_id, channel.name, attempts, error,
                      extra=fields(receiver=channel.name, notification_id=row_id, attempt=attempts, outcome="dead",
                                   error=error))
            self.on_outcome(channel.name, notification, "dead", error)
            return
        delay = backoff(policy, attempts, exc.retry_after)
        self._set(row_id, state="pending", last_error=error, next_at=self.clock.now() + delay)
        log.warning("notification #%d to %s failed (attempt %d, next in %.1fs): %s", row_id, channel.name,
                    attempts, delay, error, extra=fields(receiver=channel.name, notification_id=row_id,
                                                         attempt=attempts, outcome="retry",
                                                         retry_in=round(delay, 3), error=error))
        self.on_outcome(channel.name, notification, "retry", error)

    def _forward(self, channel: Channel, first: Notification) -> None:
        """Hand this notification, and the receiver's other queued ones, in order, to its fallback."""
        assert channel.fallback is not None
        queued = [first]
        with self.journal.lock:
            rows = self.journal.db.execute("SELECT id, payload FROM outbox WHERE receiver=? AND state='pending' "
                                           "ORDER BY id", (channel.name,)).fetchall()
        for row_id, payload in rows:
            self._set(row_id, state="forwarded", last_error=f"receiver {channel.name} is failing")
            queued.append(Notification.from_dict(jsontext.loads(payload)))
        for item in queued:
            copy = Notification.from_dict(item.to_dict())
            copy.receiver = channel.fallback
            copy.dedup_key = f"{item.dedup_key}>{channel.fallback}"
            self.enqueue(copy)
