"""Transports that carry beats: UDP unicast, broadcast, multicast and serial lines.

Each path owns one non-blocking file descriptor. The sender thread calls :meth:`HeartbeatPath.send` and
the receiver thread calls :meth:`HeartbeatPath.receive` when the descriptor is readable; the kernel makes
concurrent ``sendto``/``recvfrom`` (and ``write``/``read`` on a tty) on one descriptor safe.
"""

from __future__ import annotations

import abc
import errno
import os
import socket
import struct
import termios
import threading
import tty
from typing import Any, ClassVar

from faultmgr_heartbeat.framing import FrameDecoder, frame
from faultmgr_heartbeat.protocol import MAX_PACKET
from faultmgr_heartbeat.settings import (
    BcastPathSettings,
    McastPathSettings,
    PathSettings,
    SerialPathSettings,
    UdpPathSettings,
    parse_address,
    path_name,
)

#: Datagrams read per wake-up, so that one flooded path cannot starve the others.
READ_BATCH = 64


class HeartbeatPath(abc.ABC):
    """One way beats travel between nodes."""

    kind: ClassVar[str] = ""

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def open(self) -> None:
        """Create and configure the descriptor (raises ``OSError`` with the cause)."""

    @abc.abstractmethod
    def fileno(self) -> int:
        """The descriptor to wait on."""

    @abc.abstractmethod
    def send(self, packet: bytes) -> None:
        """Send one packet to every destination of this path (raises ``OSError``)."""

    @abc.abstractmethod
    def receive(self) -> list[tuple[bytes, str]]:
        """Whatever arrived: ``(payload, source)`` pairs; payloads are not checked yet."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the descriptor."""

    @abc.abstractmethod
    def beacon_spec(self) -> dict[str, Any]:
        """What the beacon process needs to send on this path: its descriptor and destinations."""

    def describe(self) -> dict[str, str]:
        """For ``status()``."""
        return {"type": self.kind}


def resolve(host: str, port: int) -> tuple[str, int]:
    """An IPv4 address for ``host`` (a name or an address); ``OSError`` naming the host if none."""
    try:
        info = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise OSError(exc.errno, f"cannot resolve {host}: {exc.strerror}") from None
    address = info[0][4]
    return str(address[0]), int(address[1])


class DatagramPath(HeartbeatPath):
    """What the UDP paths share: one socket, a list of destinations."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.sock: socket.socket | None = None
        self.destinations: list[tuple[str, int]] = []

    def fileno(self) -> int:
        assert self.sock is not None, "path not open"
        return self.sock.fileno()

    def send(self, packet: bytes) -> None:
        assert self.sock is not None, "path not open"
        for destination in self.destinations:
            self.sock.sendto(packet, destination)

    def receive(self) -> list[tuple[bytes, str]]:
        assert self.sock is not None, "path not open"
        received: list[tuple[bytes, str]] = []
        for _ in range(READ_BATCH):
            try:
                # One byte more than allowed: a longer datagram comes back cut, and is counted oversized.
                data, source = self.sock.recvfrom(MAX_PACKET + 1)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionRefusedError:
                # An ICMP port-unreachable from an earlier send (peer not listening); not a received packet.
                continue
            received.append((data, f"{source[0]}:{source[1]}"))
        return received

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def beacon_spec(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "datagram", "fd": self.fileno(),
                "destinations": [list(d) for d in self.destinations]}

    def _socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        return sock


class UdpPath(DatagramPath):
    """UDP unicast."""

    kind = "udp"

    def __init__(self, name: str, settings: UdpPathSettings) -> None:
        super().__init__(name)
        self.bind = parse_address(settings.bind)
        self.targets = [parse_address(target) for target in settings.targets]

    def open(self) -> None:
        # Names are resolved once, here: a DNS lookup per beat would make beats wait for the resolver.
        self.destinations = [resolve(host, port) for host, port in self.targets]
        self.sock = self._socket()
        self.sock.bind(self.bind)

    def describe(self) -> dict[str, str]:
        local = self.sock.getsockname() if self.sock else self.bind
        return {"type": self.kind, "local": f"{local[0]}:{local[1]}",
                "targets": ", ".join(f"{h}:{p}" for h, p in self.destinations)}


class BcastPath(DatagramPath):
    """UDP broadcast."""

    kind = "bcast"

    def __init__(self, name: str, settings: BcastPathSettings) -> None:
        super().__init__(name)
        self.settings = settings
        self.destinations = [(settings.address, settings.port)]

    def open(self) -> None:
        self.sock = self._socket()
        # Several nodes (or tests) on one host share the port; each socket gets its own copy of a broadcast.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if self.settings.interface:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.settings.interface.encode())
        self.sock.bind(("", self.settings.port))

    def describe(self) -> dict[str, str]:
        return {"type": self.kind, "address": f"{self.settings.address}:{self.settings.port}"}


class McastPath(DatagramPath):
    """UDP multicast on one interface."""

    kind = "mcast"

    def __init__(self, name: str, settings: McastPathSettings) -> None:
        super().__init__(name)
        self.settings = settings
        self.destinations = [(settings.group, settings.port)]

    def _interface_request(self) -> bytes:
        """An ``ip_mreqn`` naming the interface by address or by name."""
        group = socket.inet_aton(self.settings.group)
        try:
            return group + socket.inet_aton(self.settings.interface) + struct.pack("@i", 0)
        except OSError:
            index = socket.if_nametoindex(self.settings.interface)
            return group + socket.inet_aton("0.0.0.0") + struct.pack("@i", index)

    def open(self) -> None:
        self.sock = self._socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Bound to the group, the socket sees this group's traffic only, not every datagram to the port.
        self.sock.bind((self.settings.group, self.settings.port))
        request = self._interface_request()
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, request)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, request)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, self.settings.ttl)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(self.settings.loop))

    def describe(self) -> dict[str, str]:
        return {"type": self.kind, "group": f"{self.settings.group}:{self.settings.port}",
                "interface": self.settings.interface}


class SerialPath(HeartbeatPath):
    """A tty in raw mode, packets framed with :mod:`faultmgr_heartbeat.framing`."""

    kind = "serial"

    def __init__(self, name: str, settings: SerialPathSettings) -> None:
        super().__init__(name)
        self.settings = settings
        self.fd: int | None = None
        self.decoder = FrameDecoder(MAX_PACKET)
        # The receiver may close and reopen the device while the sender writes: a closed descriptor's
        # number can be reused at once, so writing and closing must not interleave.
        self._lock = threading.Lock()

    def open(self) -> None:
        speed = getattr(termios, f"B{self.settings.baud}", None)
        if speed is None:
            raise OSError(errno.EINVAL, f"unsupported baud rate {self.settings.baud}")
        fd = os.open(self.settings.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            # Raw: no echo (which would send our own beats back), no line editing, 8 bits clean.
            tty.setraw(fd)
            attrs = termios.tcgetattr(fd)
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except (termios.error, OSError):
            os.close(fd)
            raise
        with self._lock:
            self.fd = fd
            self.decoder = FrameDecoder(MAX_PACKET)

    def fileno(self) -> int:
        assert self.fd is not None, "path not open"
        return self.fd

    def send(self, packet: bytes) -> None:
        with self._lock:
            if self.fd is None:
                raise OSError(errno.EBADF, "serial device is closed (reopening)")
            # A short write leaves half a frame; the next frame's leading END resynchronises the receiver.
            os.write(self.fd, frame(packet))

    def receive(self) -> list[tuple[bytes, str]]:
        assert self.fd is not None, "path not open"
        frames: list[bytes] = []
        for _ in range(READ_BATCH):
            try:
                chunk = os.read(self.fd, 4096)
            except (BlockingIOError, InterruptedError):
                break
            if not chunk:
                # Non-blocking, "no data" is EAGAIN: an empty read is a hang-up (the other end is gone).
                raise OSError(errno.EIO, f"{self.settings.device}: hang-up")
            frames.extend(self.decoder.feed(chunk))
        return [(payload, self.settings.device) for payload in frames]

    def close(self) -> None:
        with self._lock:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None

    def beacon_spec(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "serial", "fd": self.fileno()}

    def describe(self) -> dict[str, str]:
        return {"type": self.kind, "device": self.settings.device}


def build_paths(settings: list[PathSettings]) -> list[HeartbeatPath]:
    """One (unopened) path object per configured path."""
    paths: list[HeartbeatPath] = []
    for index, path in enumerate(settings):
        name = path_name(index, path)
        if isinstance(path, UdpPathSettings):
            paths.append(UdpPath(name, path))
        elif isinstance(path, BcastPathSettings):
            paths.append(BcastPath(name, path))
        elif isinstance(path, McastPathSettings):
            paths.append(McastPath(name, path))
        else:
            paths.append(SerialPath(name, path))
    return paths
