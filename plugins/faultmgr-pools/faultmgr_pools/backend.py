"""The one interface both load-balancer backends (IPVS, HAProxy) implement.

A backend is a thin, stateless view of one virtual service: it reads the live table and changes one real
server at a time. Deciding *what* to change is :mod:`faultmgr_pools.reconcile`'s job.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass


class BackendError(Exception):
    """The load balancer refused a command or could not be reached."""


@dataclass(frozen=True)
class Target:
    """A real server as the backend needs it: a name, an address and a port."""

    name: str
    address: str
    port: int


@dataclass(frozen=True)
class ServerState:
    """One real server as the load balancer reports it.

    :param state: ``ready``, ``drain`` (HAProxy: no new connections) or ``maint`` (HAProxy: out).
    :param active: connections in progress through this server (IPVS ActiveConn, HAProxy ``scur``).
    """

    name: str
    address: str
    port: int
    weight: int
    state: str = "ready"
    active: int = 0
    inactive: int = 0

    @property
    def serving(self) -> bool:
        """True when the server takes new connections."""
        return self.weight > 0 and self.state == "ready"


class Backend(abc.ABC):
    """One virtual service on one load balancer."""

    #: ``ipvs`` or ``haproxy``.
    kind: str = ""

    @abc.abstractmethod
    def key(self, target: Target) -> str:
        """How the backend tells servers apart (IPVS: ``address:port``; HAProxy: the server name)."""

    def state_key(self, state: ServerState) -> str:
        """:meth:`key` of a server read from the live table."""
        return self.key(Target(state.name, state.address, state.port))

    @abc.abstractmethod
    async def ensure(self) -> None:
        """Make sure the virtual service exists (IPVS creates it; HAProxy checks the backend is there)."""

    @abc.abstractmethod
    async def servers(self) -> list[ServerState]:
        """The live table: every real server with its weight, state and active connections."""

    @abc.abstractmethod
    async def add(self, target: Target, weight: int) -> None:
        """Add a real server taking new connections with ``weight``."""

    @abc.abstractmethod
    async def remove(self, target: Target) -> None:
        """Remove a real server now (connections still on it may be cut)."""

    @abc.abstractmethod
    async def set_weight(self, target: Target, weight: int) -> None:
        """Change a server's weight (and, where the backend has one, set its state back to ready)."""

    async def quiesce(self, target: Target) -> None:
        """Weight 0: no new connections, the existing ones go on until they end."""
        await self.set_weight(target, 0)

    async def find(self, target: Target) -> ServerState | None:
        """The live state of ``target``, or ``None`` when it is not in the table."""
        key = self.key(target)
        for state in await self.servers():
            if self.state_key(state) == key:
                return state
        return None
