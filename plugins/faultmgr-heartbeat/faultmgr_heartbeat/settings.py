"""Settings of the ``heartbeat`` and ``ehb`` detectors, named after Heartbeat's ha.cf where one exists.

A rule file declares, for example::

    detectors:
      hb:
        type: heartbeat
        node: head-a
        peers: [head-b]
        key_file: /etc/faultmgr/heartbeat.keys
        keepalive: 200ms
        warntime: 600ms
        deadtime: 1s
        initdead: 5s
        paths:
          - {type: udp, bind: "10.0.0.1:694", targets: ["10.0.0.2:694", "10.0.0.9:694"]}
          - {type: mcast, group: 239.0.0.94, port: 694, interface: eth1}
          - {type: bcast, address: 10.1.255.255, port: 695}
          - {type: serial, device: /dev/ttyS0, baud: 19200}
"""

from __future__ import annotations

import json
import socket
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration, SecretFile
from faultmgr_heartbeat.arbiter import HEARS_KEY
from faultmgr_heartbeat.protocol import MAX_HEADER, MAX_PACKET

HEARTBEAT_PORT = 694  # Heartbeat's registered port (ha-cluster)


def parse_address(text: str) -> tuple[str, int]:
    """``"10.0.0.2:694"`` -> ``("10.0.0.2", 694)``; an empty host means every local address."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected address:port, got {text!r}")
    return host or "0.0.0.0", int(port)


class UdpPathSettings(PluginSettings):
    """UDP unicast: receive on ``bind``, send every beat to each of ``targets``."""

    type: Literal["udp"] = Field(description="UDP unicast")
    name: str | None = Field(None, description="path name in events and status (default: type and position)")
    bind: str = Field(f"0.0.0.0:{HEARTBEAT_PORT}", description="local address:port to receive on")
    targets: list[str] = Field(default_factory=list,
                               description="address:port of each peer (or eHB watcher) to send to")

    @field_validator("bind")
    @classmethod
    def _bind(cls, value: str) -> str:
        parse_address(value)
        return value

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        for target in value:
            parse_address(target)
        return value


class BcastPathSettings(PluginSettings):
    """UDP broadcast on one segment."""

    type: Literal["bcast"] = Field(description="UDP broadcast")
    name: str | None = Field(None, description="path name in events and status (default: type and position)")
    address: str = Field("255.255.255.255", description="broadcast address to send to, e.g. 10.1.255.255")
    port: int = Field(HEARTBEAT_PORT, ge=1, le=65535, description="UDP port, the same on every node")
    interface: str | None = Field(None, description="bind the socket to this interface (SO_BINDTODEVICE)")


class McastPathSettings(PluginSettings):
    """UDP multicast: join ``group`` on ``interface`` and send to it."""

    type: Literal["mcast"] = Field(description="UDP multicast")
    name: str | None = Field(None, description="path name in events and status (default: type and position)")
    group: str = Field("239.0.0.94", description="IPv4 multicast group")
    port: int = Field(HEARTBEAT_PORT, ge=1, le=65535, description="UDP port, the same on every node")
    interface: str = Field("0.0.0.0",
                           description="interface to join and send on: a local IPv4 address or a name (eth1)")
    ttl: int = Field(1, ge=0, le=255, description="multicast TTL (1 keeps it on the segment)")
    loop: bool = Field(True, description="deliver to other sockets of this host too (own beats are ignored)")


class SerialPathSettings(PluginSettings):
    """A serial line (null-modem cable) between two nodes."""

    type: Literal["serial"] = Field(description="serial line")
    name: str | None = Field(None, description="path name in events and status (default: type and position)")
    device: str = Field(description="tty device, e.g. /dev/ttyS0")
    baud: int = Field(19200, description="line speed (ignored by pseudo-terminals)")


PathSettings = Annotated[
    UdpPathSettings | BcastPathSettings | McastPathSettings | SerialPathSettings,
    Field(discriminator="type"),
]


class BaseHeartbeatSettings(PluginSettings):
    """What both the heartbeat and the eHB detector take: identity, keys, paths and timing."""

    node: str = Field(default_factory=socket.gethostname,
                      description="this node's name on the wire (default: the host name)")
    key_file: SecretFile = Field(description="key file (mode 0600): lines `key-id secret`, the first signs")
    paths: list[PathSettings] = Field(min_length=1, description="where beats go and come from")
    keepalive: Duration = Field(1.0, gt=0, description="interval between two beats sent")
    warntime: Duration = Field(5.0, gt=0, description="silence after which a peer is late (warning)")
    deadtime: Duration = Field(10.0, gt=0, description="silence after which a peer is declared dead")
    initdead: Duration = Field(30.0, gt=0,
                               description="after start, time allowed for a peer's first beat before it is dead")
    path_deadtime: Duration | None = Field(None, gt=0,
                                           description="silence after which one path is down (default: deadtime)")
    send: bool = Field(True, description="send beats (an eHB watcher only listens)")
    forged_burst: int = Field(10, ge=1, description="forged packets within forged_window that raise a security event")
    forged_window: Duration = Field(10.0, gt=0, description="window for forged_burst; a burst ends after this quiet")
    stall_grace: Duration | None = Field(
        None, gt=0, description="after this process stalled, time given to peers before any is declared late or "
                                "dead (default: 2 x keepalive)")

    sender: Literal["process", "thread"] = Field(
        "process", description="send beats from a small process of their own, which CPU-bound work in the daemon "
                               "cannot delay, or from a thread of the daemon (one process fewer; beats were seen "
                               "up to 300 ms late under CPU-bound load, see bench/heartbeat.py)")
    realtime: bool = Field(True, description="run the sender at real-time priority (SCHED_RR) when allowed, as "
                                             "ha.cf's `realtime on`")
    realtime_priority: int = Field(10, ge=1, le=99, description="SCHED_RR priority of the sender")

    @field_validator("node")
    @classmethod
    def _node(cls, value: str) -> str:
        return wire_name(value)

    def sends(self) -> bool:
        """Does this node send beats? (An eHB watcher that replies to its members does.)"""
        return self.send

    @model_validator(mode="after")
    def _timing(self) -> BaseHeartbeatSettings:
        if not self.keepalive < self.warntime < self.deadtime:
            raise ValueError("need keepalive < warntime < deadtime")
        if self.path_deadtime is not None and self.path_deadtime > self.deadtime:
            # A path cannot be alive while its peer is dead: "dead on every path" must follow from dead.
            raise ValueError("path_deadtime cannot exceed deadtime")
        if self.initdead < self.deadtime:
            raise ValueError("initdead must be at least deadtime (ha.cf advises twice deadtime)")
        names = [path_name(i, p) for i, p in enumerate(self.paths)]
        if len(set(names)) != len(names):
            raise ValueError(f"path names must differ: {names}")
        return self


class HeartbeatSettings(BaseHeartbeatSettings):
    """The ``heartbeat`` detector: this node and its cluster peers."""

    peers: list[str] = Field(min_length=1, description="names of the peer nodes to watch")
    ping_nodes: list[str] = Field(
        default_factory=list,
        description="ha.cf's `ping`: nodes whose reach tells this node's connectivity (an address is pinged with "
                    "ICMP echo, host:port is a TCP connect); the count reached travels in every beat and is compared "
                    "with each live peer's (heartbeat.peer.degraded, heartbeat.node.degraded). Give both heads the "
                    "same ping nodes")
    ping_interval: Duration = Field(1.0, gt=0, description="how often the ping nodes are probed")
    ping_timeout: Duration = Field(0.5, gt=0, description="time each ping node has to answer in one round")
    ping_lost_after: int = Field(2, ge=1, description="unanswered rounds in a row before a ping node counts as lost "
                                                      "(it counts as reached again at its first answer)")
    arbiter: str | None = Field(
        None, description="node name of an eHB watcher that replies (its `reply: true`): its authenticated beats say "
                          "which heads it hears, for the VIP guard's require_arbiter. It is not a peer: no "
                          "heartbeat.peer.* events for it; its view is in status (`arbiter`)")

    @field_validator("peers")
    @classmethod
    def _peers(cls, value: list[str]) -> list[str]:
        return [wire_name(name) for name in value]

    @field_validator("arbiter")
    @classmethod
    def _arbiter(cls, value: str | None) -> str | None:
        return None if value is None else wire_name(value)

    @model_validator(mode="after")
    def _arbiter_apart(self) -> HeartbeatSettings:
        if self.arbiter is not None and (self.arbiter in self.peers or self.arbiter == self.node):
            raise ValueError(f"arbiter {self.arbiter!r} must be neither this node nor one of its peers")
        return self


class EhbSettings(BaseHeartbeatSettings):
    """The ``ehb`` detector: an external watcher of a group of head nodes."""

    group: str | None = Field(None, description="group name, the subject of ehb.group.* (default: instance name)")
    members: list[str] = Field(min_length=1, description="names of the nodes in the group (head-a, head-b)")
    send: bool = Field(False, description="send beats too (a watcher normally only listens)")
    reply: bool = Field(
        False, description="arbiter: send authenticated beats back to the members (implies send; give the udp "
                           "path the members' addresses as targets) whose status lists the members this watcher "
                           "hears alive (`hears`); heads naming this node as their heartbeat `arbiter` ask it "
                           "before a takeover")

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        return [wire_name(name) for name in value]

    @model_validator(mode="after")
    def _reply_fits(self) -> EhbSettings:
        if not self.reply:
            return self
        if all(isinstance(p, UdpPathSettings) and not p.targets for p in self.paths):
            raise ValueError("reply needs somewhere to send: targets (the members' addresses) on a udp path, "
                             "or a bcast, mcast or serial path")
        # The view travels in one beat: with every member heard it must still fit in a packet.
        room = MAX_PACKET - MAX_HEADER
        if len(json.dumps({HEARS_KEY: self.members}, separators=(",", ":")).encode()) > room:
            raise ValueError(f"reply: the names of {len(self.members)} members do not fit in one beat "
                             f"({room} bytes for the status)")
        return self

    def sends(self) -> bool:
        return self.send or self.reply


def wire_name(name: str) -> str:
    """``name`` if it can travel in a beat: printable, 1 to 64 bytes of UTF-8."""
    if not name or len(name.encode()) > 64 or not name.isprintable():
        raise ValueError(f"node name {name!r} must be printable and 1 to 64 bytes of UTF-8")
    return name


def path_name(index: int, path: UdpPathSettings | BcastPathSettings | McastPathSettings | SerialPathSettings,
              ) -> str:
    """The path's configured name, or its type and position (``udp0``, ``serial1``)."""
    return path.name or f"{path.type}{index}"
