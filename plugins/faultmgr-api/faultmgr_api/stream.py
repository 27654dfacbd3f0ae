"""Server-sent events: every event, alert change and notification outcome, pushed live to browsers.

The daemon calls :meth:`EventHub.publish` (registered in ``daemon.listeners``) on its loop; each client has a
bounded queue, so one slow browser cannot make the daemon's memory grow: when its queue is full the oldest
items are dropped and the client is told how many it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

#: Items one client may lag behind before the oldest are dropped.
QUEUE_SIZE = 1000
#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_S = 15.0
KINDS = ("event", "alert", "notification")
_CLOSE: tuple[str, dict[str, Any]] = ("close", {})


class Client:
    """One open stream."""

    def __init__(self, kinds: frozenset[str]) -> None:
        self.kinds = kinds
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = 0

    def offer(self, kind: str, data: dict[str, Any]) -> None:
        if kind not in self.kinds and kind != "close":
            return
        while True:
            try:
                self.queue.put_nowait((kind, data))
                return
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()
                    self.dropped += 1


class EventHub:
    """Fans the daemon's live feed out to stream clients."""

    def __init__(self) -> None:
        self.clients: set[Client] = set()
        self.next_id = 1

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """A ``daemon.listeners`` callable: ``kind`` is ``event``, ``alert`` or ``notification``."""
        for client in list(self.clients):
            client.offer(kind, data)

    def close(self) -> None:
        """End every stream (shutdown)."""
        for client in list(self.clients):
            client.offer(*_CLOSE)

    async def serve(self, request: web.Request, kinds: frozenset[str]) -> web.StreamResponse:
        """Hold ``request`` open as a ``text/event-stream`` until the client or the daemon goes away."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})
        client = Client(kinds)
        self.clients.add(client)  # before the headers go out: a client that saw them misses nothing after
        try:
            await response.prepare(request)
            await response.write(b": faultmgr live feed\nretry: 3000\n\n")
            while True:
                try:
                    kind, data = await asyncio.wait_for(client.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                if kind == "close":
                    break
                if client.dropped:
                    await response.write(self._frame("dropped", {"count": client.dropped}))
                    client.dropped = 0
                await response.write(self._frame(kind, data))
        except ConnectionResetError:
            pass
        finally:
            self.clients.discard(client)
        return response

    def _frame(self, kind: str, data: dict[str, Any]) -> bytes:
        ident = self.next_id
        self.next_id += 1
        text = json.dumps(data, default=str, separators=(",", ":"))
        return f"id: {ident}\nevent: {kind}\ndata: {text}\n\n".encode()
