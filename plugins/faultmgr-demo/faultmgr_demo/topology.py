"""Who is where in the demo's cluster: node names, addresses and ports, for the two ways it can run.

As root each node is a network namespace with its own address on one bridged segment, so every service keeps
its usual port. Without root every node is this host's loopback, so each service gets a port of its own
(picked free at start) and the VIP is a stand-in.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

HEADS = ("head-a", "head-b")
REAL_SERVERS = ("web1", "web2", "web3")
#: Every node of the lab; ``mgmt`` holds the pager gateway (SMTP) and the management station (SNMP traps).
NODES = (*HEADS, *REAL_SERVERS, "client", "watcher", "mgmt")
HOST_NUMBER = {"head-a": 1, "head-b": 2, "web1": 11, "web2": 12, "web3": 13, "client": 50, "watcher": 20,
               "mgmt": 30}
SUBNET = "10.213.0"
PREFIX_LEN = 24
VIP_HOST = 100


def free_port() -> int:
    """A TCP port nobody listens on now (loopback); UDP users get the same number, free as well in practice."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Layout:
    """Addresses and ports of every service; :meth:`namespaces` and :meth:`loopback` build the two kinds."""

    addresses: dict[str, str]
    vip: str
    ports: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    #: HAProxy and the ``web`` pool in front of the real servers (left out when HAProxy is not installed).
    pool: bool = True

    @classmethod
    def namespaces(cls) -> Layout:
        """One address per node on ``10.213.0.0/24``; fixed well-known ports (each node has its own stack)."""
        addresses = {node: f"{SUBNET}.{number}" for node, number in HOST_NUMBER.items()}
        ports = {"hb:head-a": 694, "hb:head-b": 694, "hb:watcher": 694, "service": 80, "smtp": 25, "traps": 162,
                 **{f"web:{name}": 8080 for name in REAL_SERVERS},
                 **{f"service:{head}": 80 for head in HEADS},
                 **{f"api:{node}": 9467 for node in (*HEADS, "watcher")}}
        return cls(addresses, f"{SUBNET}.{VIP_HOST}", ports)

    @classmethod
    def loopback(cls) -> Layout:
        """Every node is 127.0.0.1; every service a free port of its own. The VIP is a local stand-in."""
        addresses = dict.fromkeys(HOST_NUMBER, "127.0.0.1")
        names = ["hb:head-a", "hb:head-b", "hb:watcher", "service", "smtp", "traps",
                 *[f"web:{name}" for name in REAL_SERVERS], *[f"service:{head}" for head in HEADS],
                 *[f"api:{node}" for node in (*HEADS, "watcher")]]
        return cls(addresses, "127.0.0.1", {name: free_port() for name in names}, dry_run=True)

    def ip(self, node: str) -> str:
        """The node's address."""
        return self.addresses[node]

    def port(self, service: str) -> int:
        """The port of ``service`` (``hb:head-a``, ``web:web1``, ``smtp``, ``service`` (the VIP's), ...)."""
        return self.ports[service]

    def hb(self, node: str) -> str:
        """``address:port`` of ``node``'s heartbeat socket."""
        return f"{self.ip(node)}:{self.port('hb:' + node)}"

    def service_url(self) -> str:
        """What the client asks for: the pool's service on the VIP."""
        return f"http://{self.vip}:{self.port('service')}/"
