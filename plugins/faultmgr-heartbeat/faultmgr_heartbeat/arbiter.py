"""The eHB watcher as an arbiter: its view of the group, as its beats carry it to the heads.

Two heads that lose each other cannot tell a dead peer from a cut link between them (a split brain). A watcher
outside the pair that hears both settles it: with ``reply: true`` the ``ehb`` detector sends beats back to the
members (same protocol, same keys, so they are authenticated and replay-checked like any beat) whose status
says which members it hears alive::

    {"hears": ["head-a", "head-b"]}

A head names the watcher as its heartbeat detector's ``arbiter``; :meth:`HeartbeatDetector.arbiter_view`
answers ``(alive, hears)`` and the VIP guard (``require_arbiter``) takes over only while the arbiter is alive
and does not hear the peer either.
"""

from __future__ import annotations

from typing import Any

#: The key of an arbiter's beat status that lists the members it hears alive.
HEARS_KEY = "hears"

#: ``(alive, members heard)``: alive means heard within deadtime with a well-formed view.
ArbiterView = tuple[bool, frozenset[str]]


def hears_from_status(status: dict[str, Any]) -> frozenset[str] | None:
    """The members an arbiter's beat says it hears, or ``None`` when the beat carries no well-formed view
    (a watcher that beats without ``reply``, or a newer format): no view is never read as "hears nobody"."""
    value = status.get(HEARS_KEY)
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return frozenset(value)
    return None
