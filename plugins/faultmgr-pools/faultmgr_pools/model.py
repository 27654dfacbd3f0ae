"""The ``pools:`` rule-file section: virtual services, their backend and their real servers.

Example::

    pools:
      web:
        service: {address: 192.0.2.10, port: 80, protocol: tcp, scheduler: wrr}
        backend: {type: ipvs, forward: route}
        quorum: 2
        servers:
          - {name: web1, address: 10.0.0.11, weight: 10}
          - {name: web2, address: 10.0.0.12, weight: 10}
          - {name: web3, address: 10.0.0.13, weight: 10, standby: true}
        sorry: {name: sorry, address: 10.0.0.99, weight: 1}

A real server's ``name`` is the probe target's name: an alert about target ``web1`` acts on server ``web1``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, model_validator

from faultmgr.config.types import Duration

#: Largest weight each backend accepts (IPVS takes a signed 32-bit weight, HAProxy 0..256).
MAX_WEIGHT = {"ipvs": 65535, "haproxy": 256}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _normal_address(value: str) -> str:
    # One spelling per address, so that ``::1`` read from the kernel matches ``0::1`` in a rule file.
    return str(ipaddress.ip_address(value))


#: An IPv4 or IPv6 address, normalised.
Address = Annotated[str, AfterValidator(_normal_address)]


class VirtualService(_Strict):
    """The address clients connect to (IPVS creates it; for HAProxy it is the frontend, for reference)."""

    address: Address = Field(description="virtual IP address (IPv4 or IPv6)")
    port: int = Field(ge=1, le=65535, description="virtual port")
    protocol: Literal["tcp", "udp"] = Field("tcp", description="transport protocol")
    scheduler: str = Field("wrr", description="IPVS scheduler (wrr, wlc, rr, lc, sh, ...); the kernel "
                                              "module ip_vs_<scheduler> must be loadable")


class IpvsBackend(_Strict):
    """Linux IPVS through generic netlink (pyroute2)."""

    type: Literal["ipvs"] = Field(description="ipvs")
    forward: Literal["route", "masq", "tunnel"] = Field(
        "route", description="forwarding method: route (direct routing, ldirectord's gate), masq (NAT), tunnel")
    prune: bool = Field(True, description="remove real servers found in the kernel but not declared")


class HaproxyBackend(_Strict):
    """An HAProxy backend driven through the runtime API on its stats socket (``level admin``)."""

    type: Literal["haproxy"] = Field(description="haproxy")
    socket: Path = Field(description="path of HAProxy's stats socket (declared with `level admin`)")
    backend: str = Field(description="name of the HAProxy backend section holding the servers")
    timeout: Duration = Field(2.0, description="timeout of one runtime API command")
    prune: bool = Field(False, description="delete servers found in the backend but not declared "
                                           "(off by default: HAProxy configs often carry servers of their own)")


class RealServer(_Strict):
    """One real server of a pool."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$",
                      description="server name: the probe target's name, and HAProxy's server name")
    address: Address = Field(description="real server address")
    port: int | None = Field(None, ge=1, le=65535, description="real server port (default: the service's)")
    weight: int = Field(1, ge=0, description="declared weight; alerts change it, recovery restores it")
    standby: bool = Field(False, description="declared but kept out of the pool until `pool.add` "
                                             "(or `faultmgr pool add`) brings it in")


class Pool(_Strict):
    """A virtual service with its real servers."""

    service: VirtualService | None = Field(None, description="the virtual service (required for ipvs)")
    backend: Annotated[IpvsBackend | HaproxyBackend, Field(discriminator="type")] = Field(
        description="where the pool lives: {type: ipvs} or {type: haproxy, socket: ..., backend: ...}")
    servers: list[RealServer] = Field(default_factory=list, description="real servers")
    sorry: RealServer | None = Field(None, description="fallback server: gets its weight only while no real "
                                                       "server is serving")
    quorum: int = Field(1, ge=0, description="fewer serving real servers than this emits pool.quorum.lost")
    drain_timeout: Duration = Field(30.0, description="how long a drain waits for active connections to end "
                                                      "before removing the server anyway")

    @model_validator(mode="after")
    def _consistent(self) -> Pool:
        if self.backend.type == "ipvs" and self.service is None:
            raise ValueError("an ipvs pool needs `service` (address and port of the virtual service)")
        names = [s.name for s in self.servers] + ([self.sorry.name] if self.sorry else [])
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"server names must be unique in a pool: {', '.join(dupes)}")
        limit = MAX_WEIGHT[self.backend.type]
        for server in [*self.servers, *([self.sorry] if self.sorry else [])]:
            if server.weight > limit:
                raise ValueError(f"server {server.name}: weight {server.weight} is above {self.backend.type}'s "
                                 f"maximum {limit}")
            if server.port is None and self.service is None:
                raise ValueError(f"server {server.name}: give `port` (the pool has no service to default to)")
        if "quorum" in self.model_fields_set and self.quorum > len(self.servers):
            raise ValueError(f"quorum {self.quorum} is more than the {len(self.servers)} declared servers")
        return self

    def port_of(self, server: RealServer) -> int:
        """The server's port, defaulting to the virtual service's."""
        if server.port is not None:
            return server.port
        assert self.service is not None  # the validator guarantees one of the two
        return self.service.port

    def server(self, name: str) -> RealServer | None:
        """The declared real (or sorry) server called ``name``."""
        for server in [*self.servers, *([self.sorry] if self.sorry else [])]:
            if server.name == name:
                return server
        return None


class PoolsModel(RootModel[dict[str, Pool]]):
    """The ``pools:`` section: pool name -> pool."""

    root: dict[str, Pool] = Field(default_factory=dict)

    @property
    def pools(self) -> dict[str, Pool]:
        """Pools by name."""
        return self.root
