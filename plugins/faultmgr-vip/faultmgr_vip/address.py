"""Adding, removing and finding one address on one interface over netlink (pyroute2's ``AsyncIPRoute``).

Every call opens its own netlink socket: they are cheap (well under a millisecond) and a fresh socket is
always in the namespace the daemon runs in, never stale after an interface was re-created.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

# From linux/if_addr.h: skip duplicate address detection, so an IPv6 VIP is usable (and announceable) at
# once instead of sitting "tentative" for a second; the failover is the duplicate check that matters here.
IFA_F_NODAD = 0x02


class AddressError(Exception):
    """The interface is missing or the kernel refused the change."""


@dataclass(frozen=True)
class Link:
    """What announcing needs to know about the interface."""

    name: str
    index: int
    mac: str
    up: bool


@dataclass(frozen=True)
class VirtualAddress:
    """An address with its prefix length, as given in the settings (``10.0.0.100/24``)."""

    address: str
    prefixlen: int

    @classmethod
    def parse(cls, text: str) -> VirtualAddress:
        iface = ipaddress.ip_interface(text)
        return cls(str(iface.ip), iface.network.prefixlen)

    @property
    def family(self) -> int:
        return socket.AF_INET if ipaddress.ip_address(self.address).version == 4 else socket.AF_INET6

    def __str__(self) -> str:
        return f"{self.address}/{self.prefixlen}"


async def lookup_link(ipr: AsyncIPRoute, interface: str) -> Link:
    """The interface's index, MAC and state; :class:`AddressError` when it does not exist."""
    try:
        links = await ipr.link("get", ifname=interface)
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            raise AddressError(f"interface {interface} does not exist") from None
        raise AddressError(f"interface {interface}: {exc}") from None
    msg = links[0]
    flags = msg["flags"]
    return Link(interface, msg["index"], msg.get("IFLA_ADDRESS") or "", bool(flags & 1))


async def held_on(ipr: AsyncIPRoute, vip: VirtualAddress, index: int) -> bool:
    """True when the interface carries the address (any prefix length)."""
    async for msg in await ipr.addr("dump", family=vip.family, index=index):
        if msg.get("IFA_ADDRESS") == vip.address or msg.get("IFA_LOCAL") == vip.address:
            return True
    return False


async def holds(interface: str, vip: VirtualAddress) -> bool:
    """Is ``vip`` on ``interface`` now?"""
    async with AsyncIPRoute() as ipr:
        link = await lookup_link(ipr, interface)
        return await held_on(ipr, vip, link.index)


async def add_address(interface: str, vip: VirtualAddress) -> tuple[Link, bool]:
    """Put ``vip`` on ``interface``. Returns the link and whether the address was added (``False`` when it
    was already there: EEXIST counts as success, so a repeated takeover is harmless)."""
    async with AsyncIPRoute() as ipr:
        link = await lookup_link(ipr, interface)
        extra = {"flags": IFA_F_NODAD} if vip.family == socket.AF_INET6 else {}
        try:
            await ipr.addr("add", index=link.index, address=vip.address, prefixlen=vip.prefixlen,
                           family=vip.family, **extra)
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                return link, False
            raise AddressError(f"cannot add {vip} to {interface}: {exc}") from None
        return link, True


async def remove_address(interface: str, vip: VirtualAddress) -> bool:
    """Take ``vip`` off ``interface``. Returns whether it was there (absent is success too)."""
    async with AsyncIPRoute() as ipr:
        link = await lookup_link(ipr, interface)
        try:
            await ipr.addr("del", index=link.index, address=vip.address, prefixlen=vip.prefixlen,
                           family=vip.family)
        except NetlinkError as exc:
            if exc.code in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ESRCH):
                return False
            raise AddressError(f"cannot remove {vip} from {interface}: {exc}") from None
        return True
