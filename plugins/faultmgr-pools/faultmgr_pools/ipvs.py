"""IPVS backend: Linux's in-kernel load balancer through generic netlink (pyroute2 0.9's ``AsyncIPVS``).

Each call opens its own netlink socket: it costs a family lookup (well under a millisecond) and keeps no
state that a kernel-side change could make stale.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any

from pyroute2 import AsyncIPVS, IPVSDest, IPVSService
from pyroute2.netlink.exceptions import NetlinkError

from faultmgr_pools.backend import Backend, BackendError, ServerState, Target
from faultmgr_pools.model import IpvsBackend, VirtualService

#: ``IP_VS_CONN_F_*`` forwarding methods (include/uapi/linux/ip_vs.h).
FORWARD_METHODS = {"masq": 0, "tunnel": 2, "route": 3}
_PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}


def _attr(msg: Any, nla: str, name: str) -> Any:
    return msg.get_attr(nla).get_attr(name)


class IpvsPoolBackend(Backend):
    """One IPVS virtual service. Real servers are told apart by ``address:port`` (IPVS has no names);
    :meth:`name_of` maps them back to the pool's server names."""

    kind = "ipvs"

    def __init__(self, service: VirtualService, settings: IpvsBackend, names: dict[str, str] | None = None) -> None:
        self.service = service
        self.settings = settings
        #: ``address:port`` -> server name, kept up to date by the pool controller.
        self.names: dict[str, str] = dict(names or {})

    def key(self, target: Target) -> str:
        return _endpoint(target.address, target.port)

    def _service(self) -> IPVSService:
        return IPVSService(addr=self.service.address, port=self.service.port,
                           protocol=_PROTOCOLS[self.service.protocol], sched_name=self.service.scheduler)

    def _dest(self, target: Target, weight: int) -> IPVSDest:
        return IPVSDest(addr=target.address, port=target.port, weight=weight,
                        fwd_method=FORWARD_METHODS[self.settings.forward])

    async def _call(self, what: str, method: str, command: str, **kw: Any) -> list[Any]:
        try:
            async with AsyncIPVS() as ipvs:
                # The async socket binds to the IPVS generic-netlink family only when asked to.
                await ipvs.setup_endpoint()
                result: list[Any] = await getattr(ipvs, method)(command, **kw)
                return result
        except NetlinkError as exc:
            raise BackendError(f"ipvs: {what}: {exc.args[1] if len(exc.args) > 1 else exc}") from exc
        except OSError as exc:
            # The family lookup fails this way when the ip_vs module is not loaded.
            raise BackendError(f"ipvs: {what}: {exc} (is the ip_vs kernel module loaded?)") from exc

    async def _find_service(self) -> Any | None:
        want = (_PROTOCOLS[self.service.protocol], self.service.address, self.service.port)
        for msg in await self._call("list services", "service", "dump"):
            nla = "IPVS_CMD_ATTR_SERVICE"
            have = (_attr(msg, nla, "IPVS_SVC_ATTR_PROTOCOL"), _attr(msg, nla, "IPVS_SVC_ATTR_ADDR"),
                    _attr(msg, nla, "IPVS_SVC_ATTR_PORT"))
            if have[1] is not None and (have[0], _normal(have[1]), have[2]) == want:
                return msg
        return None

    async def ensure(self) -> None:
        found = await self._find_service()
        what = f"service {self.describe()}"
        if found is None:
            await self._call(f"add {what}", "service", "add", service=self._service())
        elif _attr(found, "IPVS_CMD_ATTR_SERVICE", "IPVS_SVC_ATTR_SCHED_NAME") != self.service.scheduler:
            # Changing the scheduler in place keeps the real servers and their connections.
            await self._call(f"set scheduler of {what}", "service", "set", service=self._service())

    async def scheduler(self) -> str | None:
        """The scheduler the kernel runs for this service (``None`` when the service is absent)."""
        found = await self._find_service()
        return None if found is None else str(_attr(found, "IPVS_CMD_ATTR_SERVICE", "IPVS_SVC_ATTR_SCHED_NAME"))

    async def servers(self) -> list[ServerState]:
        try:
            msgs = await self._call(f"list real servers of {self.describe()}", "dest", "dump",
                                    service=self._service())
        except BackendError as exc:
            if isinstance(exc.__cause__, NetlinkError) and exc.__cause__.code in (errno.ESRCH, errno.ENOENT):
                return []
            raise
        states = []
        for msg in msgs:
            dest = msg.get_attr("IPVS_CMD_ATTR_DEST")
            address = _normal(dest.get_attr("IPVS_DEST_ATTR_ADDR"))
            port = int(dest.get_attr("IPVS_DEST_ATTR_PORT"))
            endpoint = _endpoint(address, port)
            states.append(ServerState(
                name=self.names.get(endpoint, endpoint), address=address, port=port,
                weight=int(dest.get_attr("IPVS_DEST_ATTR_WEIGHT")),
                active=int(dest.get_attr("IPVS_DEST_ATTR_ACTIVE_CONNS") or 0),
                inactive=int(dest.get_attr("IPVS_DEST_ATTR_INACT_CONNS") or 0)))
        return states

    async def add(self, target: Target, weight: int) -> None:
        try:
            await self._call(f"add {target.name}", "dest", "add", service=self._service(),
                             dest=self._dest(target, weight))
        except BackendError as exc:
            if not (isinstance(exc.__cause__, NetlinkError) and exc.__cause__.code == errno.EEXIST):
                raise
            await self.set_weight(target, weight)

    async def remove(self, target: Target) -> None:
        try:
            await self._call(f"remove {target.name}", "dest", "del", service=self._service(),
                             dest=self._dest(target, 0))
        except BackendError as exc:
            if not (isinstance(exc.__cause__, NetlinkError) and exc.__cause__.code == errno.ENOENT):
                raise

    async def set_weight(self, target: Target, weight: int) -> None:
        # "set", not "update": in pyroute2 0.9.7 "update" is mapped to a delete command.
        await self._call(f"set weight of {target.name}", "dest", "set", service=self._service(),
                         dest=self._dest(target, weight))

    def describe(self) -> str:
        """``tcp 192.0.2.10:80`` (brackets around IPv6 addresses)."""
        return f"{self.service.protocol} {_endpoint(self.service.address, self.service.port)}"


def _normal(address: str) -> str:
    return str(ipaddress.ip_address(address))


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
