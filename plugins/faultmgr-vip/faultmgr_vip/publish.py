"""What a head publishes in its heartbeat beats: the VIPs it holds and its role, for the peers' dashboards.

The API's nodes view (faultmgr-api) shows who holds each VIP from the peers' newest beats, whose status
carries ``vips`` (addresses with prefix) and ``role`` (``primary`` while this head holds any VIP, else
``standby``). Several ``vip.takeover`` actions may share one heartbeat detector: each adds or removes only
its own address in the list, and other keys of the beat status (ping-node reach, an arbiter's ``hears``)
are left alone.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

VIPS_KEY = "vips"
ROLE_KEY = "role"


@runtime_checkable
class StatusPublisher(Protocol):
    """What publishing asks of the heartbeat detector (faultmgr-heartbeat implements it)."""

    def update_status(self, key: str, value: Any) -> None:
        """Set one key of the status this node's beats carry, keeping the others."""

    def own_status(self) -> dict[str, Any]:
        """The status this node's beats carry now."""


def _address(vip: str) -> str:
    return vip.split("/", 1)[0]


def publish_held(detector: StatusPublisher, vip: str, held: bool) -> list[str]:
    """Add (``held``) or remove ``vip`` in the beats' ``vips`` list and set ``role`` from the list; return
    the list. A read and a write with no await between them: actions on one event loop never interleave."""
    listed = detector.own_status().get(VIPS_KEY)
    others = [str(v) for v in listed if _address(str(v)) != _address(vip)] if isinstance(listed, list) else []
    vips = sorted([*others, vip] if held else others)
    detector.update_status(VIPS_KEY, vips)
    detector.update_status(ROLE_KEY, "primary" if vips else "standby")
    return vips
