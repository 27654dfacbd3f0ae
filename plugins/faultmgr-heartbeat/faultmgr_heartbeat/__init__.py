"""faultmgr heartbeat: authenticated multi-path heartbeat between cluster nodes, and eHB group watching.

Two detector types, registered through the ``faultmgr`` entry point:

``heartbeat``
    Sends a beat every ``keepalive`` on every configured path (UDP unicast, broadcast, multicast, serial
    line) from a dedicated thread, and watches the ``peers``. Events (subject = the peer; labels ``peer``,
    ``path``, ``node``): ``heartbeat.peer.up`` (ok), ``.warn`` (warning), ``.dead`` (critical),
    ``.restored`` (ok), ``.rebooted`` (info), ``heartbeat.path.down`` (warning) / ``.path.up`` (ok), and
    ``heartbeat.security.forged`` (critical, once per burst) / ``.security.cleared`` (ok). With ``ping_nodes``
    (ha.cf's ``ping``) each beat carries the count reached, and ``heartbeat.peer.degraded`` /
    ``heartbeat.node.degraded`` (warning) and their ``.recovered`` (ok) compare it with live peers'
    (:mod:`faultmgr_heartbeat.pingnodes`).

``ehb``
    The same protocol in a watcher's role: ``members`` form a ``group``; ``ehb.member.dead`` (warning),
    ``ehb.member.restored`` (ok), ``ehb.group.dead`` (critical, subject = the group) when every member is
    dead, ``ehb.group.restored`` (ok) when any returns. With ``reply`` it beats back to the members with the
    members it hears (:mod:`faultmgr_heartbeat.arbiter`), for heads that name it their ``arbiter``.

API for other components (the VIP takeover's split-brain guard), on either detector::

    hb = runtime.component("detector", "hb")
    hb.peer_state("head-b")   -> "up" | "warn" | "dead" | "unknown"
    hb.paths_alive("head-b")  -> ["udp0", "serial1"]   # [] means silent on every path
    hb.peer_status("head-b")  -> {"role": "primary", "vips": ["10.0.0.100"]}   # from its newest beat
    hb.set_status({"role": "standby"})                 # sent with this node's following beats
    hb.update_status("vips", ["10.0.0.100/24"])        # one key, the others kept (vip.takeover publishes so)
    hb.path_stats()           -> {"head-b": {"udp0": {"beats": 9, "lost": 1, "interarrival": {...}}}}
    hb.ping_reach(), hb.ping_reach("head-b")  -> (2, 2), (0, 2)   # ping nodes reached, of those configured
    hb.arbiter_view()         -> (True, frozenset({"head-b"}))  # the arbiter (ehb reply) and whom it hears

``peer_state`` is the state last reported as an event; ``paths_alive`` is computed at the call from the
receive timestamps. "Peer dead on every path" is ``peer_state(p) == "dead" and not paths_alive(p)``.

Registration lives in :mod:`faultmgr_heartbeat.plugin` (the entry point). This package's names are
imported lazily so that the beacon process (:mod:`faultmgr_heartbeat.beacon`) starts without loading
pydantic and the core: it is respawned within a deadtime when it dies, so its start-up time matters.

Wire format: :mod:`faultmgr_heartbeat.protocol`; key file: :mod:`faultmgr_heartbeat.auth`; settings:
:mod:`faultmgr_heartbeat.settings`; timing and replay rules: :mod:`faultmgr_heartbeat.liveness`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faultmgr_heartbeat.detector import HeartbeatDetector
    from faultmgr_heartbeat.ehb import EhbDetector
    from faultmgr_heartbeat.plugin import faultmgr_register_detectors
    from faultmgr_heartbeat.protocol import ProtocolError

_EXPORTS = {
    "HeartbeatDetector": "faultmgr_heartbeat.detector",
    "EhbDetector": "faultmgr_heartbeat.ehb",
    "ProtocolError": "faultmgr_heartbeat.protocol",
    "faultmgr_register_detectors": "faultmgr_heartbeat.plugin",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name not in _EXPORTS:
        raise AttributeError(f"module 'faultmgr_heartbeat' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = ["EhbDetector", "HeartbeatDetector", "ProtocolError", "faultmgr_register_detectors"]
