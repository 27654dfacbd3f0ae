"""Durability of the outbox against SIGKILL: the daemon (a real ``faultmgr run`` process) pages a real local
HTTP receiver through the ``webhook`` notifier; it is killed at a random moment, restarted, and every
notification written to the outbox must reach the receiver, and every alert that fired must have been paged.
A key may arrive twice only when the kill fell between sending it and recording the send (its row was
``sending`` when the daemon died); such a duplicate carries the same ``Idempotency-Key`` and body, so the
receiver can drop it. An alert may be paged a second time under a new key at most once per kill (the kill
fell after its page was written but before that was recorded on the alert). Some subjects recover: their
'resolved' page must never arrive before their 'firing' one. Resolutions whose page was never written are
counted, not asserted (test_restart_paging.py pins that window down).

Knobs (environment): ``FAULTMGR_DURABILITY_RUNS`` (kills with the receiver down, default 20; half as many
with it up), ``FAULTMGR_DURABILITY_EVENTS`` (events per run, default 8), ``FAULTMGR_DURABILITY_WORKERS``
(runs side by side, default 2), ``FAULTMGR_DURABILITY_SEED`` (to replay a failing loop).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from daemon_lab import DaemonProcess, Receiver

pytestmark = pytest.mark.slow

RUNS = int(os.environ.get("FAULTMGR_DURABILITY_RUNS", "20"))
EVENTS = int(os.environ.get("FAULTMGR_DURABILITY_EVENTS", "8"))
WORKERS = int(os.environ.get("FAULTMGR_DURABILITY_WORKERS", "2"))
SEED = int(os.environ.get("FAULTMGR_DURABILITY_SEED", str(random.randrange(1 << 30))))


@dataclass
class RunResult:
    """What one kill-and-restart run left behind."""

    seed: int
    kill_at: float
    acked: int
    outbox: list[tuple[str, str, str]]
    sending_at_kill: set[str]
    received: Counter[str]
    bodies: dict[str, list[dict[str, Any]]]
    unnotified_alerts: int
    unpaged_resolutions: int
    arrivals: list[tuple[str, str]]  # (status, subject) in the order the receiver got them
    log: Path

    def repages(self) -> int:
        """Extra 'firing' pages, under new keys, for an alert firing that was already paged."""
        pages = Counter((a["fingerprint"], a["firing"]) for _, _, payload in self.outbox
                        for a in json.loads(payload).get("alerts", []) if a["state"] == "firing")
        return sum(n - 1 for n in pages.values())


def one_run(workdir: Path, seed: int, receiver_up: bool) -> RunResult:
    """Start, inject, SIGKILL at a random moment, restart, let the receiver answer, drain."""
    rng = random.Random(seed)
    receiver = Receiver(max_delay=0.03 if receiver_up else 0.0, seed=seed)
    daemon = DaemonProcess(workdir, receiver.port)
    try:
        if receiver_up:
            receiver.up()
        daemon.start()
        # Injections take a few ms each and, with the receiver up, each send up to ~35 ms: the window spans
        # the injections, the sends and some quiet time after them.
        kill_at = rng.uniform(0, 0.4 if receiver_up else 0.6)
        killer = threading.Timer(kill_at, daemon.kill)
        killer.start()
        acked, down = 0, []
        for n in range(EVENTS):
            subject = f"svc-{seed}-{n}"
            if not daemon.inject(subject):
                break
            acked += 1
            down.append(subject)
            if rng.random() < 0.4:  # some recover: their 'resolved' pages follow their 'firing' ones
                if not daemon.inject(down.pop(rng.randrange(len(down))), severity="ok", kind="service.ok"):
                    break
                acked += 1
            time.sleep(rng.uniform(0, 0.02))
        killer.join()
        sending_at_kill = {key for key, state, _ in daemon.outbox() if state == "sending"}
        daemon.start()
        if not receiver_up:
            time.sleep(rng.uniform(0, 0.3))
            receiver.up()
        daemon.wait_drained()
        daemon.stop()
        outbox = daemon.outbox()
        notified = {a["fingerprint"] for _, _, payload in outbox for a in json.loads(payload).get("alerts", [])}
        unnotified = len(daemon.firing_fingerprints() - notified)
        resolved_pages = {a["subject"] for _, _, payload in outbox for a in json.loads(payload).get("alerts", [])
                          if json.loads(payload)["status"] == "resolved"}
        unresolved = len({s for s, state in daemon.alert_states().items() if state == "resolved"} - resolved_pages)
    finally:
        daemon.stop()
        receiver.close()
    with receiver.lock:
        arrivals = [(r.body["status"], a["subject"]) for r in receiver.requests for a in r.body["alerts"]]
    return RunResult(seed, kill_at, acked, outbox, sending_at_kill, receiver.keys(), receiver.bodies(),
                     unnotified, unresolved, arrivals, daemon.log)


def check(result: RunResult) -> list[str]:
    """Everything wrong with one run, as readable lines."""
    problems = []
    keys = [key for key, _, _ in result.outbox]
    if len(set(keys)) != len(keys):
        problems.append(f"two outbox rows share a key: {[k for k, n in Counter(keys).items() if n > 1]}")
    not_done = [(key, state) for key, state, _ in result.outbox if state != "done"]
    if not_done:
        problems.append(f"rows not delivered: {not_done}")
    lost = set(keys) - set(result.received)
    if lost:
        problems.append(f"lost (in the outbox, never received): {sorted(lost)}")
    phantom = set(result.received) - set(keys)
    if phantom:
        problems.append(f"received but not in the outbox: {sorted(phantom)}")
    if result.repages() > 1:
        problems.append(f"{result.repages()} alerts paged again under a new key; one kill can cause at most one "
                        f"(the page being written when the daemon died)")
    if result.unnotified_alerts:
        problems.append(f"{result.unnotified_alerts} alert(s) fired and were never paged")
    first: dict[tuple[str, str], int] = {}
    for n, arrival in enumerate(result.arrivals):
        first.setdefault(arrival, n)
    for (status, subject), n in first.items():
        if status == "resolved" and first.get(("firing", subject), len(result.arrivals)) > n:
            problems.append(f"{subject}: 'resolved' arrived before (or without) 'firing'")
    for key, count in result.received.items():
        if count > 1 and (key not in result.sending_at_kill or count > 2):
            problems.append(f"{key} received {count} times, but its send was not interrupted by the kill")
        bodies = result.bodies[key]
        if any(b != bodies[0] for b in bodies) or bodies[0].get("dedup_key") != key:
            problems.append(f"{key}: different notifications under one key")
    return problems


def kill_loop(tmp_path: Path, receiver_up: bool, runs: int) -> None:
    seeds = [SEED + i for i in range(runs)]
    with ThreadPoolExecutor(max(1, WORKERS)) as pool:
        results = list(pool.map(lambda s: one_run(tmp_path / f"run-{s}", s, receiver_up), seeds))
    failures = []
    for result in results:
        problems = check(result)
        if problems:
            failures.append(f"run seed={result.seed} kill_at={result.kill_at:.3f}s (log {result.log}):\n  "
                            + "\n  ".join(problems))
    duplicates = sum(n - 1 for r in results for n in r.received.values() if n > 1)
    print(f"\ndurability (receiver {'up' if receiver_up else 'down'} at the kill, seed {SEED}): {runs} runs, "
          f"{sum(r.acked for r in results)} events acknowledged, "
          f"{sum(len(r.outbox) for r in results)} notifications in the outboxes, "
          f"{sum(len(r.sending_at_kill) for r in results)} sends interrupted by the kill, "
          f"{duplicates} duplicate deliveries (same key), "
          f"{sum(r.repages() for r in results)} re-pages under a new key after the restart, "
          f"{sum(r.unnotified_alerts for r in results)} fired alerts never notified, "
          f"{sum(r.unpaged_resolutions for r in results)} resolutions never paged")
    assert not failures, "\n".join(failures)


def test_kill_while_receiver_down(tmp_path: Path) -> None:
    """Receiver down: notifications pile up in the outbox; after a kill and a restart all are delivered."""
    kill_loop(tmp_path, receiver_up=False, runs=RUNS)


def test_kill_while_receiver_up(tmp_path: Path) -> None:
    """Receiver up and slow: kills fall between sending and recording; duplicates keep their key."""
    kill_loop(tmp_path, receiver_up=True, runs=max(1, RUNS // 2))
