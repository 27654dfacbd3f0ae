"""Bring a live pool to a wanted state with the fewest changes.

A server that is already right gets no command at all: in IPVS a delete-and-add would orphan its
connections and reset its counters, in HAProxy it would cut its sessions. That is the whole point of
planning before acting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from faultmgr_pools.backend import Backend, BackendError, ServerState, Target

#: States in which a server needs no ``state ready`` (``down`` is HAProxy's own health check speaking).
_SETTLED = frozenset({"ready", "down"})


@dataclass(frozen=True)
class Wanted:
    """A server the pool should hold, with its weight."""

    target: Target
    weight: int


@dataclass(frozen=True)
class Change:
    """One command for the backend: ``add``, ``weight`` or ``remove``."""

    op: str
    target: Target
    weight: int = 0

    def __str__(self) -> str:
        if self.op == "remove":
            return f"remove {self.target.name}"
        return f"{self.op} {self.target.name} weight {self.weight}"


def plan(backend: Backend, wanted: Iterable[Wanted], live: Iterable[ServerState], known: Iterable[Target] = (),
         prune: bool = False) -> list[Change]:
    """The changes that turn ``live`` into ``wanted``: additions first (capacity before anything leaves),
    then weight changes, then removals. A ``known`` server (one the pool declares or added) that is not
    wanted is removed; with ``prune`` off, servers the pool does not know are left alone."""
    have = {backend.state_key(state): state for state in live}
    adds: list[Change] = []
    weights: list[Change] = []
    removes: list[Change] = []
    for want in wanted:
        state = have.pop(backend.key(want.target), None)
        if state is None:
            adds.append(Change("add", want.target, want.weight))
        elif (state.address, state.port) != (want.target.address, want.target.port):
            # Same name, new address (HAProxy): it is another server now, its sessions cannot follow.
            removes.append(Change("remove", Target(state.name, state.address, state.port)))
            adds.append(Change("add", want.target, want.weight))
        elif state.weight != want.weight or state.state not in _SETTLED:
            weights.append(Change("weight", want.target, want.weight))
    owned = {backend.key(target) for target in known}
    removes.extend(Change("remove", Target(s.name, s.address, s.port))
                   for key, s in have.items() if prune or key in owned)
    return adds + weights + removes


async def apply(backend: Backend, changes: Iterable[Change]) -> list[str]:
    """Carry out ``changes`` one by one; a failed one does not stop the others. Returns the errors."""
    errors = []
    for change in changes:
        try:
            if change.op == "add":
                await backend.add(change.target, change.weight)
            elif change.op == "weight":
                await backend.set_weight(change.target, change.weight)
            else:
                await backend.remove(change.target)
        except BackendError as exc:
            errors.append(f"{change}: {exc}")
    return errors
