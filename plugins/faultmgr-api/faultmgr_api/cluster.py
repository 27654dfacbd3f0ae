"""What the daemon knows about the cluster, gathered for the API: head nodes and VIPs, heartbeat peers and
paths, load-balancer pools. Read from the components' ``status()`` (and the pools plugin when installed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faultmgr.daemon import Daemon

log = logging.getLogger("faultmgr.api")

HEARTBEAT_TYPES = ("heartbeat", "ehb")
VIP_TYPES = ("vip.takeover", "vip.release")
#: How long the pools view waits for one backend (an HAProxy socket may hang).
POOL_TIMEOUT_S = 2.0


def _status(component: Any) -> dict[str, Any]:
    try:
        value = component.status()
    except Exception as exc:  # one broken component must not break the whole view
        return {"error": f"status() failed: {type(exc).__name__}: {exc}"}
    return value if isinstance(value, dict) else {"value": value}


def components_of(daemon: Daemon, kind: str, types: tuple[str, ...]) -> Iterator[tuple[str, str, Any]]:
    """(name, type, component) of every running ``kind`` instance ("detector", "action") of those types."""
    table = daemon.config.detectors if kind == "detector" else daemon.config.actions
    for name, inst in table.items():
        component = daemon.instances[kind].get(name)
        if inst.type in types and component is not None:
            yield name, inst.type, component


def nodes_view(daemon: Daemon) -> dict[str, Any]:
    """This node, its heartbeat peers (with each path's last beat), the head nodes, and who holds each VIP.

    A VIP's holder is this node when its action holds the address here; otherwise a peer whose newest beat
    lists the address in its status's ``vips`` (``hb.set_status({"vips": [...]})`` on that head), with the
    age of that beat. Every node claiming a VIP is listed in ``claims``: two claims mean a split brain.
    """
    peers: list[dict[str, Any]] = []
    heads: dict[str, dict[str, Any]] = {}
    for name, kind, component in components_of(daemon, "detector", HEARTBEAT_TYPES):
        status = _status(component)
        for peer, info in (status.get("peers") or {}).items():
            paths = [{"name": path, "alive": p.get("alive"), "last_seen_ms_ago": p.get("last_seen_ms_ago"),
                      "seq": p.get("seq")} for path, p in (info.get("paths") or {}).items()]
            peers.append({"detector": name, "type": kind, "peer": peer, "state": info.get("state"),
                          "last_seen_ms_ago": info.get("last_seen_ms_ago"), "restarts": info.get("restarts"),
                          "paths": paths})
            _add_head(heads, peer, name, info)
    vips: list[dict[str, Any]] = []
    held_here: list[str] = []
    for name, kind, component in components_of(daemon, "action", VIP_TYPES):
        status = _status(component)
        vips.append({"action": name, "type": kind, "vip": status.get("vip"),
                     "interface": status.get("interface"), "held": status.get("held"),
                     "last_change": status.get("last_change"), "status": status})
        if status.get("held") and status.get("vip"):
            held_here.append(str(status["vip"]))
    heads.pop(daemon.node, None)  # a detector watching this node's own name (a test rig) says nothing new
    me = {"node": daemon.node, "self": True, "detector": None, "state": "self", "last_seen_ms_ago": None,
          "role": None, "vips": sorted(set(held_here))}
    for vip in vips:
        claims = [{"node": daemon.node, "source": "here", "age_ms": None}] if vip["held"] else []
        claims += [{"node": head["node"], "source": "beat", "age_ms": head["last_seen_ms_ago"]}
                   for head in heads.values() if _lists(head["vips"], vip["vip"])]
        vip["claims"] = claims
        vip["holder"] = claims[0]["node"] if claims else None
        vip["holder_source"] = claims[0]["source"] if claims else None
        vip["holder_age_ms"] = claims[0]["age_ms"] if claims else None
    return {"node": daemon.node, "heads": [me, *heads.values()], "peers": peers, "vips": vips}


def _add_head(heads: dict[str, dict[str, Any]], peer: str, detector: str, info: dict[str, Any]) -> None:
    """Keep, per peer, what the detector that heard it most recently says (several may watch one peer)."""
    age = info.get("last_seen_ms_ago")
    known = heads.get(peer)
    if known is not None and (age is None or (known["last_seen_ms_ago"] is not None
                                              and known["last_seen_ms_ago"] <= age)):
        return
    carried = info.get("status")
    beat: dict[str, Any] = carried if isinstance(carried, dict) else {}
    listed = beat.get("vips")
    heads[peer] = {"node": peer, "self": False, "detector": detector, "state": info.get("state"),
                   "last_seen_ms_ago": age, "role": beat.get("role"),
                   "vips": [str(v) for v in listed] if isinstance(listed, list) else []}


def _lists(claimed: list[str], vip: Any) -> bool:
    """Whether ``claimed`` names ``vip``, with or without its prefix length (``10.0.0.100`` or ``/24``)."""
    if not vip:
        return False
    address = str(vip).split("/", 1)[0]
    return any(c.split("/", 1)[0] == address for c in claimed)


def _directory(daemon: Daemon) -> Any:
    """The pools plugin's directory of the config in force (the one its actions and reconciliation share, so
    reads queue behind changes), or ``None`` when the plugin is absent or no pools are declared."""
    try:
        from faultmgr_pools.actions import directory_for
    except ImportError:
        return None
    if daemon.config.sections.get("pools") is None:
        return None
    from faultmgr.runtime import Runtime

    return directory_for(Runtime(emit=daemon.emit, clock=daemon.clock, store=daemon.journal.store,
                                 config=daemon.config, dry_run=daemon.dry_run))


def pool_controller(daemon: Daemon, name: str) -> Any:
    """The pools plugin's controller of pool ``name``, or ``None`` (no such pool, or no pools plugin)."""
    directory = _directory(daemon)
    if directory is None or name not in directory.pools.pools:
        return None
    return directory.controller(name)


def status_view(daemon: Daemon) -> dict[str, Any]:
    """``daemon.status()``; should it fail on a component kind it does not know, the same without those."""
    try:
        return daemon.status()
    except KeyError:
        saved = daemon.instances
        daemon.instances = {k: v for k, v in saved.items() if k in ("detector", "action", "receiver")}
        try:
            return daemon.status()
        finally:
            daemon.instances = saved


async def pools_view(daemon: Daemon, only: str | None = None) -> list[dict[str, Any]]:
    """Declared pools with each real server's declared and live weight and state."""
    section = daemon.config.sections.get("pools")
    declared = getattr(section, "pools", None) or {}
    directory = _directory(daemon)
    out = []
    for name, pool in declared.items():
        if only is not None and name != only:
            continue
        out.append(await _pool(name, pool, directory))
    return out


async def _pool(name: str, pool: Any, directory: Any) -> dict[str, Any]:
    live: dict[str, Any] = {}
    error = None
    overrides: dict[str, Any] = {}
    if directory is not None:
        controller = directory.controller(name)
        overrides = controller.overrides()
        try:
            live = {s.name: s for s in await asyncio.wait_for(controller.live(), POOL_TIMEOUT_S)}
        except Exception as exc:  # the backend being down is information, not a failure of the API
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    servers = []
    declared = [(s, "real") for s in pool.servers] + ([(pool.sorry, "sorry")] if pool.sorry else [])
    for server, role in declared:
        state = live.get(server.name)
        servers.append({
            "name": server.name, "role": role, "address": server.address, "port": pool.port_of(server),
            "declared_weight": server.weight, "standby": server.standby,
            "override": overrides.get(server.name),
            "weight": state.weight if state else None, "state": state.state if state else None,
            "active": state.active if state else None, "serving": state.serving if state else None,
        })
    names = {s["name"] for s in servers}
    for state in live.values():  # on the load balancer but not in the rule file (HAProxy's own servers)
        if state.name not in names:
            servers.append({"name": state.name, "role": "undeclared", "address": state.address,
                            "port": state.port, "declared_weight": None, "standby": False, "override": None,
                            "weight": state.weight, "state": state.state, "active": state.active,
                            "serving": state.serving})
    service = pool.service
    return {"name": name, "backend": pool.backend.type, "quorum": pool.quorum,
            "service": {"address": service.address, "port": service.port, "protocol": service.protocol,
                        "scheduler": service.scheduler} if service else None,
            "serving": sum(1 for s in servers if s["serving"] and s["role"] != "sorry") if live else None,
            "live_error": error, "servers": servers}
