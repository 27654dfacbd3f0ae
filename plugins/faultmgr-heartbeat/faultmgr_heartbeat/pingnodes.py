"""This node's ping nodes (ha.cf's ``ping``): how many it reaches, carried in every beat, compared with peers.

Heartbeat v1's ipfail let the node with worse connectivity give its resources up. Here each node probes its
``ping_nodes`` every ``ping_interval`` on the event loop (never in the sender, whose beats must leave on
time), and publishes ``"ping": [reached, configured]`` in its beat status: two small integers, so a beat
stays far below the packet limit however many ping nodes there are. A node counts as lost only after
``ping_lost_after`` unanswered rounds in a row (one dropped echo is no reason to move a service) and as
reached again at its first answer.

:class:`ReachComparison` turns this node's and each live peer's numbers into transitions: a peer that reaches
fewer ping nodes than this node is *degraded*; this node reaching fewer than a peer is *node degraded*.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from faultmgr.reachability import unreachable_nodes

#: The key of the beat status that carries ``[reached, configured]``.
STATUS_KEY = "ping"

Reach = tuple[int, int]


def reach_from_status(status: dict[str, Any]) -> Reach | None:
    """``(reached, configured)`` from a peer's beat status, or ``None`` when absent or not well formed (an
    older peer, or one without ping nodes)."""
    value = status.get(STATUS_KEY)
    if (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)
            and 0 <= value[0] <= value[1]):
        return value[0], value[1]
    return None


class PingNodes:
    """Probes the configured nodes; :attr:`reach` is ``None`` until the first round has finished."""

    def __init__(self, nodes: Iterable[str], timeout: float, lost_after: int) -> None:
        self.nodes = list(nodes)
        self.timeout = timeout
        self.lost_after = lost_after
        self.misses = {node: 0 for node in self.nodes}
        self.reach: Reach | None = None
        self.rounds = 0

    async def measure(self) -> Reach:
        """One round: every node asked at once; returns (and keeps) the new reach."""
        silent = set(await unreachable_nodes(self.nodes, self.timeout))
        for node in self.nodes:
            self.misses[node] = self.misses[node] + 1 if node in silent else 0
        self.rounds += 1
        self.reach = (len(self.nodes) - len(self.lost()), len(self.nodes))
        return self.reach

    def lost(self) -> list[str]:
        """The nodes unanswered for ``lost_after`` rounds in a row."""
        return [node for node, misses in self.misses.items() if misses >= self.lost_after]

    def status(self) -> dict[str, Any]:
        """A JSON-ready view for the detector's status."""
        return {"reach": list(self.reach) if self.reach else None, "lost": self.lost(), "rounds": self.rounds}


@dataclass
class ReachComparison:
    """Which peers are degraded (reach fewer ping nodes than this node) and which are better (this node is the
    degraded one); :meth:`compare` returns the changes as ``(kind, peer, detail)``."""

    degraded: set[str] = field(default_factory=set)
    better: set[str] = field(default_factory=set)

    def compare(self, mine: Reach | None, peers: dict[str, Reach | None]) -> list[tuple[str, str, dict[str, Any]]]:
        """``peers`` maps each *live* peer to its reported reach. A peer missing from it (dead, unknown) keeps
        its flags: its alert stays until it is heard again with news."""
        changes: list[tuple[str, str, dict[str, Any]]] = []
        if mine is None:
            return changes
        for peer, theirs in peers.items():
            if theirs is None:
                continue
            detail = {"reach": list(mine), "peer_reach": list(theirs)}
            for flags, worse, down, up in ((self.degraded, theirs[0] < mine[0], "peer.degraded", "peer.recovered"),
                                           (self.better, mine[0] < theirs[0], "node.degraded", "node.recovered")):
                if worse and peer not in flags:
                    flags.add(peer)
                    changes.append((down, peer, detail))
                elif not worse and peer in flags:
                    flags.discard(peer)
                    changes.append((up, peer, detail))
        return changes
