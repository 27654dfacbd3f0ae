"""The lab itself: built, torn down without leftovers, and leftovers of a dead run removed."""

from __future__ import annotations

import subprocess
from typing import Any

import faultmgr_vip_lab as L
import pytest
from prereq import need_root

pytestmark = pytest.mark.netns


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_lab_nodes_reach_each_other_and_leave_nothing_behind() -> None:
    need_root()
    lab = L.Lab()
    try:
        lab.up()
        assert lab.ping("client", L.ip4("head-a")) and lab.ping("watcher", L.ip6("head-b"))
        assert lab.ping("head-a", "10.78.0.2")  # the crossover link
        lab.isolate_heads()
        assert not lab.ping("head-a", L.ip4("head-b")) and lab.ping("head-a", L.ip4("client"))
        sleeper = lab.spawn("client", "sleep", "600")
    finally:
        lab.down()
    assert not {ns for ns in namespaces() if ns.startswith(lab.tag)}
    assert sleeper.poll() is not None


def test_stale_namespaces_of_a_dead_run_are_removed(lab: Any) -> None:
    dead = 2**22 + 12345  # above the largest pid_max Linux allows: no such process
    stale = f"{L.PREFIX}{dead}x0bad-switch"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    removed = L.remove_stale()
    assert stale in removed and stale not in namespaces()
    assert lab.ns("switch") in namespaces(), "a live run's namespaces stay"
