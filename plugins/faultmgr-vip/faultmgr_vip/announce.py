"""Announcing a moved address to the segment: gratuitous ARP (IPv4) and unsolicited neighbour advertisement
(IPv6), and the ARP probe that asks whether someone else still answers for an address.

pyroute2 has no ARP sender, so the frames are built here: a gratuitous ARP is a 42-byte Ethernet frame on an
``AF_PACKET`` socket bound to the interface; an unsolicited NA is an ICMPv6 message (type 136, override flag
set) on a raw ICMPv6 socket with hop limit 255, as RFC 4861 requires of receivers. Both need CAP_NET_RAW.
Receivers running Linux's default ``arp_accept=0`` update a neighbour entry they already have from either
message but do not create one, which is exactly what failover needs: clients that talked to the old holder.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import time

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
ARP_REQUEST = 1
ARP_REPLY = 2
ND_NEIGHBOR_ADVERT = 136
NA_FLAG_OVERRIDE = 0x20000000
ND_OPT_TARGET_LL_ADDR = 2
ALL_NODES = "ff02::1"
ICMP6_FILTER = 1  # linux/icmpv6.h; not in the socket module


def mac_bytes(mac: str) -> bytes:
    """``"aa:bb:cc:dd:ee:ff"`` -> 6 bytes."""
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not an Ethernet address: {mac!r}")
    return raw


def arp_frame(src_mac: bytes, sender_ip: str, target_ip: str, *, op: int = ARP_REQUEST,
              dst_mac: bytes = BROADCAST_MAC, target_mac: bytes = ZERO_MAC) -> bytes:
    """One Ethernet frame carrying an ARP message (14 + 28 = 42 bytes).

    A gratuitous ARP is a broadcast request whose sender and target address are both the announced
    address; an RFC 5227 probe has sender address 0.0.0.0 and asks for the target.
    """
    ethernet = dst_mac + src_mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, op) + src_mac + socket.inet_aton(sender_ip)
    arp += target_mac + socket.inet_aton(target_ip)
    return ethernet + arp


def gratuitous_arp(src_mac: bytes, address: str) -> bytes:
    """The 42-byte gratuitous ARP announcing that ``address`` is at ``src_mac``."""
    return arp_frame(src_mac, address, address)


def neighbour_advert(target: str, mac: bytes) -> bytes:
    """An unsolicited neighbour advertisement for ``target`` with the override flag and our link address.

    The checksum field is left zero: the kernel fills it in for raw ICMPv6 sockets.
    """
    header = struct.pack("!BBHI", ND_NEIGHBOR_ADVERT, 0, 0, NA_FLAG_OVERRIDE)
    option = struct.pack("!BB", ND_OPT_TARGET_LL_ADDR, 1) + mac
    return header + ipaddress.IPv6Address(target).packed + option


def parse_arp(frame: bytes) -> tuple[int, bytes, str, str] | None:
    """(op, sender MAC, sender IP, target IP) of an Ethernet ARP frame, or ``None`` for anything else."""
    if len(frame) < 42 or frame[12:14] != struct.pack("!H", ETH_P_ARP):
        return None
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", frame[14:22])
    if (htype, ptype, hlen, plen) != (1, ETH_P_IP, 6, 4):
        return None
    return op, frame[22:28], socket.inet_ntoa(frame[28:32]), socket.inet_ntoa(frame[38:42])


class Announcer:
    """Sends the announcements for one address on one interface, over one socket kept open.

    Opening and closing a packet socket costs the kernel a network-wide synchronisation (10-25 ms measured
    here), which would come straight out of the failover time; so the socket is opened ahead (:meth:`open`)
    and reused. A send that fails (the interface was re-created) reopens it once.
    """

    def __init__(self, interface: str, address: str, mac: bytes, ifindex: int) -> None:
        self.interface = interface
        self.address = address
        self.mac = mac
        self.ifindex = ifindex
        self.family = ipaddress.ip_address(address).version
        self._sock: socket.socket | None = None

    def _packet_socket(self) -> socket.socket:
        # Protocol 0: the socket only sends, so the kernel queues no received frames to it.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        sock.bind((self.interface, 0))
        sock.setblocking(False)
        return sock

    def _icmp6_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, b"\xff" * 32)  # send only: receive no type
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.interface.encode())
        sock.setblocking(False)
        return sock

    def open(self) -> None:
        """Open the socket now, so the first announcement of a takeover goes out without that cost."""
        if self._sock is None:
            self._sock = self._packet_socket() if self.family == 4 else self._icmp6_socket()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _send(self) -> None:
        self.open()
        assert self._sock is not None
        if self.family == 4:
            self._sock.send(gratuitous_arp(self.mac, self.address))
        else:
            self._sock.sendto(neighbour_advert(self.address, self.mac), (ALL_NODES, 0, 0, self.ifindex))

    def send_once(self) -> None:
        """One announcement, now (no waiting)."""
        try:
            self._send()
        except OSError:
            self.close()
            self._send()

    async def burst(self, count: int, interval: float) -> int:
        """``count`` announcements, the first immediately, then one every ``interval`` seconds.

        Returns how many were sent; a send that fails (interface gone) ends the burst early.
        """
        sent = 0
        for i in range(count):
            if i:
                await asyncio.sleep(interval)
            try:
                self.send_once()
            except OSError:
                break
            sent += 1
        return sent


async def arp_probe(interface: str, mac: bytes, address: str, timeout: float, tries: int = 2) -> bytes | None:
    """Ask the segment who has ``address`` (RFC 5227 probe, sender 0.0.0.0); the answering MAC or ``None``.

    Used before claiming an address at start: when another node still answers for it, claiming it too would
    make two holders.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    try:
        sock.bind((interface, ETH_P_ARP))
        sock.setblocking(False)
        probe = arp_frame(mac, "0.0.0.0", address)
        deadline = time.monotonic() + timeout
        per_try = timeout / max(1, tries)
        next_send = 0.0
        while (left := deadline - time.monotonic()) > 0:
            if time.monotonic() >= next_send:
                sock.send(probe)
                next_send = time.monotonic() + per_try
            try:
                frame = await asyncio.wait_for(loop.sock_recv(sock, 128), min(left, per_try))
            except TimeoutError:
                continue
            parsed = parse_arp(frame)
            if parsed and parsed[0] == ARP_REPLY and parsed[2] == address and parsed[1] != mac:
                return parsed[1]
        return None
    finally:
        sock.close()
