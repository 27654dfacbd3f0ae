"""Settings of the ``vip.takeover`` and ``vip.release`` actions."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator, model_validator

from faultmgr.config.settings import PluginSettings
from faultmgr.config.types import Duration


class VipSettings(PluginSettings):
    """Which address, on which interface: what both actions share."""

    vip: str = Field(description="the virtual address with its prefix length, e.g. 10.0.0.100/24 or fd00::100/64")
    interface: str = Field(description="interface that carries the address (e.g. eth0)")

    @field_validator("vip")
    @classmethod
    def _has_prefix(cls, value: str) -> str:
        if "/" not in value:
            raise ValueError("give the prefix length too, e.g. 10.0.0.100/24")
        try:
            ipaddress.ip_interface(value)
        except ValueError as exc:
            raise ValueError(f"not an address with prefix: {exc}") from None
        return value


class TakeoverSettings(VipSettings):
    """``vip.takeover``: add, announce, and guard against split brain."""

    garp_count: int = Field(5, ge=1, le=100,
                            description="announcements per takeover (gratuitous ARP or unsolicited NA); the first "
                                        "goes out at once")
    garp_interval: Duration = Field(0.2, description="pause between announcements of one burst")
    refresh_interval: Duration | None = Field(
        None, description="re-announce the address this often while holding it (none: only at takeover)")
    preferred: bool = Field(
        False, description="this node is the address's home (keepalived's state MASTER): it claims the address "
                           "at start and keeps it when the peer's alert resolves")
    auto_failback: bool = Field(
        True, description="when the preferred node returns it takes the address back: the standby releases it "
                          "when its takeover alert resolves, the preferred node claims it at start even if the "
                          "standby holds it; off: whoever holds it keeps it")
    start_probe_timeout: Duration = Field(
        1.0, description="at start, how long to ask (ARP) whether another node holds the IPv4 address: a node "
                         "that finds it held elsewhere does not claim it (preferred, auto_failback off) or "
                         "releases its own copy (any node but a preferred one with auto_failback)")
    require_peer_dead_on_all_paths: bool = Field(
        False, description="split-brain guard: take over only while the heartbeat detector says the peer is dead "
                           "and hears it on no path")
    connectivity_failover: bool = Field(
        False, description="Heartbeat's ipfail: with require_peer_dead_on_all_paths, also take over from a peer that "
                           "is alive but reports (in its beats) lost ping nodes while this node's heartbeat detector "
                           "reaches all of its own; and when this node is the one that lost ping nodes while the "
                           "live peer reaches all, release the address instead of taking it over. Needs ping_nodes "
                           "on the heartbeat detectors of both heads and a rule sending heartbeat.peer.degraded "
                           "and heartbeat.node.degraded to this action. Off by default: the ping nodes must be "
                           "chosen so that losing them means the service is unreachable")
    require_arbiter: bool = Field(
        False, description="split-brain guard with a third opinion: besides the peer dead on every path, the "
                           "heartbeat detector's arbiter (an eHB watcher with reply, named as the detector's "
                           "`arbiter`) must be heard within deadtime and must not hear the peer either. If it still "
                           "hears the peer only the link between the heads is down: takeover refused. If it is not "
                           "heard there is no quorum: refused too, unless a fence is configured. A refused takeover "
                           "keeps watching the arbiter while the peer stays dead and takes over once the arbiter "
                           "agrees. Does not apply to connectivity_failover's evidence (the peer is heard and itself "
                           "reports its lost ping nodes, and releases the address)")
    arbiter_wait: Duration = Field(
        3.0, gt=0, description="how long a takeover waits for the arbiter to stop hearing a peer this node found "
                               "dead before it is refused (the arbiter declares the peer dead on its own deadtime "
                               "and tells at its next beat): at least two of the arbiter's keepalives, plus the "
                               "difference when its deadtime is longer than this node's")
    heartbeat_detector: str | None = Field(
        None, description="name of the heartbeat detector instance the guard asks (peer_state, paths_alive)")
    peer: str | None = Field(None, description="the peer's name for the heartbeat detector (default: the alert's "
                                               "subject)")
    ping_nodes: list[str] = Field(
        default_factory=list,
        description="nodes that must all answer before takeover: an address is pinged (ICMP echo), host:port is "
                    "a TCP connect; proves this node is not the isolated one")
    ping_timeout: Duration = Field(0.3, description="time each ping node has to answer")
    fence: list[str] | None = Field(
        None, description="argv of a fencing command (an IPMI power-off, say) that must exit 0 before takeover")
    fence_timeout: Duration = Field(30.0, description="time the fencing command may take")
    max_takeovers: int = Field(3, ge=1, description="circuit breaker: more takeovers than this within "
                                                    "takeover_window refuse automatic takeover")
    takeover_window: Duration = Field(600.0, description="circuit breaker window")

    @model_validator(mode="after")
    def _guard_needs_detector(self) -> TakeoverSettings:
        if self.require_peer_dead_on_all_paths and not self.heartbeat_detector:
            raise ValueError("require_peer_dead_on_all_paths needs heartbeat_detector: the detector to ask")
        if self.require_arbiter and not self.require_peer_dead_on_all_paths:
            raise ValueError("require_arbiter needs require_peer_dead_on_all_paths: the arbiter confirms that "
                             "evidence")
        if self.connectivity_failover and not self.heartbeat_detector:
            raise ValueError("connectivity_failover needs heartbeat_detector: the detector that compares ping nodes")
        if self.fence is not None and not self.fence:
            raise ValueError("fence must be a non-empty argv list (program and arguments)")
        return self


class ReleaseSettings(VipSettings):
    """``vip.release``: remove the address."""

    on_resolve: bool = Field(False, description="also release when the alert resolves")
