"""A lean request/response over plain TCP, driven straight from the event loop's selector.

``loop.create_connection`` builds a transport, a protocol and several futures per connection; for a check
that sends one short request and reads one short answer that machinery is most of the CPU spent (measured
~210 us per HTTP check against ~100 us here, see ``bench/probes.py``). This module keeps one object per
exchange and three selector callbacks at most. It handles numeric addresses only: host names and TLS go
through ``create_connection``.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Callable

# SO_LINGER on, zero seconds: close() sends a reset instead of a FIN, as HAProxy's own health checks do.
# The checker closes first once it has its answer; an orderly close would leave one TIME_WAIT socket per
# check on this host (600,000 a minute at 10,000 checks a second).
_ABORT = struct.pack("ii", 1, 0)

#: Given the bytes received so far, return True when the answer is complete (the connection is then closed).
Completion = Callable[[bytearray], bool]


def numeric_family(host: str) -> socket.AddressFamily | None:
    """``AF_INET``/``AF_INET6`` for a literal address, ``None`` for a host name."""
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return None


class _Exchange:
    """One connection: connect, send, read until ``complete`` or end of stream."""

    __slots__ = ("loop", "sock", "fd", "request", "complete", "done", "buffer", "reading", "writing")

    def __init__(self, loop: asyncio.AbstractEventLoop, request: bytes, complete: Completion,
                 done: asyncio.Future[bytes]) -> None:
        self.loop = loop
        self.request = request
        self.complete = complete
        self.done = done
        self.buffer = bytearray()
        self.reading = self.writing = False
        self.sock: socket.socket | None = None
        self.fd = -1

    def start(self, family: socket.AddressFamily, address: tuple[str, int]) -> None:
        sock = self.sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        self.fd = sock.fileno()
        err = sock.connect_ex(address)
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, os.strerror(err))
        # On loopback and fast LANs the handshake is often over by now: try to send at once and skip a
        # round through the selector.
        self._send()

    def _send(self) -> None:
        assert self.sock is not None
        try:
            sent = self.sock.send(self.request)
        except BlockingIOError:
            if not self.writing:
                self.writing = True
                self.loop.add_writer(self.fd, self._on_writable)
            return
        except OSError as exc:
            self._fail(exc)
            return
        if self.writing:
            self.writing = False
            self.loop.remove_writer(self.fd)
        if sent < len(self.request):
            self.request = self.request[sent:]
            self.writing = True
            self.loop.add_writer(self.fd, self._on_writable)
            return
        if not self.request:  # connect-only: an established connection is the answer
            self._succeed(abort=True)
            return
        self.reading = True
        self.loop.add_reader(self.fd, self._on_readable)

    def _on_writable(self) -> None:
        assert self.sock is not None
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._fail(OSError(err, os.strerror(err)))
            return
        self._send()

    def _on_readable(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if self.buffer:  # a reset after a complete enough answer still counts as an answer
                self._succeed()
            else:
                self._fail(exc)
            return
        if not data:
            if self.buffer:
                self._succeed()
            else:
                self._fail(ConnectionResetError(errno.ECONNRESET, "connection closed before a response"))
            return
        self.buffer += data
        if self.complete(self.buffer):
            self._succeed(abort=True)

    def _succeed(self, abort: bool = False) -> None:
        if abort and self.sock is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _ABORT)
        self.close()
        if not self.done.done():
            self.done.set_result(bytes(self.buffer))

    def _fail(self, exc: BaseException) -> None:
        self.close()
        if not self.done.done():
            self.done.set_exception(exc)

    def close(self) -> None:
        """Unregister and close; safe to call twice (also on cancellation)."""
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.fd)
        if self.writing:
            self.writing = False
            self.loop.remove_writer(self.fd)
        if self.sock is not None:
            self.sock.close()
            self.sock = None


async def exchange(family: socket.AddressFamily, address: tuple[str, int], request: bytes,
                   complete: Completion) -> bytes:
    """Connect to ``address``, send ``request`` (may be empty: connect only) and return what came back.

    Raises :class:`OSError` on a refused or reset connection; cancellation (the caller's timeout) closes
    the socket.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    conn = _Exchange(loop, request, complete, done)
    try:
        conn.start(family, address)
        return await done
    finally:
        conn.close()
