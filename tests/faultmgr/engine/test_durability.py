"""Durability of the outbox against SIGKILL: the daemon (a real ``faultmgr run`` process) pages a real local
HTTP receiver through the ``webhook`` notifier; it is killed at a random moment, restarted, and every
notification written to the outbox must reach the receiver. A key may arrive twice only when the kill fell
between sending it and recording the send (its row was ``sending`` when the daemon died); such a duplicate
carries the same ``Idempotency-Key`` and body, so the receiver can drop it.

Knobs (environment): ``FAULTMGR_DURABILITY_RUNS`` (kills per variant, default 20 with the receiver down and
half that with it up), ``FAULTMGR_DURABILITY_EVENTS`` (events per run, default 8),
``FAULTMGR_DURABILITY_WORKERS`` (runs side by side, default 2), ``FAULTMGR_DURABILITY_SEED``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from faultmgr.control import ControlError, request

pytestmark = pytest.mark.slow

RUNS = int(os.environ.get("FAULTMGR_DURABILITY_RUNS", "20"))
EVENTS = int(os.environ.get("FAULTMGR_DURABILITY_EVENTS", "8"))
WORKERS = int(os.environ.get("FAULTMGR_DURABILITY_WORKERS", "2"))
SEED = int(os.environ.get("FAULTMGR_DURABILITY_SEED", str(random.randrange(1 << 30))))
FAULTMGR = str(Path(sys.executable).with_name("faultmgr"))
DEADLINE = 60.0  # seconds a daemon gets to start, or the outbox to drain, before the run fails


# -- the receiver -------------------------------------------------------------------------------------
@dataclass
class Received:
    key: str
    body: dict[str, Any]
    at: float


class Receiver:
    """A webhook endpoint that records every request. Until :meth:`up` its port is bound but not listening,
    so connections are refused, as with a receiver that is down."""

    def __init__(self, max_delay: float = 0.0, seed: int = 0) -> None:
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None
        rng = random.Random(seed)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.requests.append(Received(self.headers.get("Idempotency-Key", ""), json.loads(body),
                                                   time.monotonic()))
                    delay = rng.uniform(0, max_delay)
                # A slow answer widens the window between the receiver having the message and the daemon
                # recording that it was sent: where a kill makes duplicates.
                time.sleep(delay)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the daemon was killed while waiting for this answer

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.daemon_threads = True
        self.server.server_bind()
        self.port = self.server.server_address[1]

    def up(self) -> None:
        self.server.server_activate()
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
        self.server.server_close()

    def keys(self) -> Counter[str]:
        with self.lock:
            return Counter(r.key for r in self.requests)


# -- the daemon ---------------------------------------------------------------------------------------
CONFIG = """\
daemon:
  state_dir: {state}
  tick: 50ms
  shutdown_timeout: 1s
detectors:
  ext:
    type: external
receivers:
  hook:
    type: webhook
    url: http://127.0.0.1:{port}/hook
    timeout: 2s
    group_by: ["..."]
    group_wait: 0s
    retry: {{initial: 100ms, max_delay: 1s}}
rules:
  service-down:
    match: {{kind: service.down, source: ext}}
    notify: [hook]
"""


class DaemonProcess:
    """``faultmgr run`` in a subprocess, with its log kept for failure messages."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.state = workdir / "state"
        self.config = workdir / "faultmgr.yaml"
        self.config.write_text(CONFIG.format(state=self.state, port=port))
        self.log = workdir / "daemon.log"
        self.socket = self.state / "control.sock"
        self.journal = self.state / "journal.db"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([FAULTMGR, "run", "-c", str(self.config)], stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"faultmgr run exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                request(self.socket, "status", timeout=2)
                return
            except (ControlError, OSError):
                time.sleep(0.02)
        raise AssertionError(f"faultmgr run not ready after {DEADLINE}s:\n{self.log.read_text()}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def inject(self, subject: str) -> bool:
        """One failure event; false when the daemon did not take it (it was killed)."""
        try:
            request(self.socket, "inject", timeout=5, event={"kind": "service.down", "subject": subject,
                                                             "source": "ext", "severity": "critical"})
            return True
        except (ControlError, OSError, ValueError):
            return False

    def outbox(self) -> list[tuple[str, str, str]]:
        """(dedup key, state, payload) of every outbox row, read through a read-only connection."""
        if not self.journal.exists():
            return []
        db = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute("SELECT dedup_key, state, payload FROM outbox ORDER BY id").fetchall()
        finally:
            db.close()

    def firing_fingerprints(self) -> set[str]:
        db = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=10)
        try:
            return {r[0] for r in db.execute("SELECT fingerprint FROM alerts WHERE firing > 0")}
        finally:
            db.close()


# -- one run ------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    seed: int
    kill_at: float
    acked: int
    outbox: list[tuple[str, str, str]]
    sending_at_kill: set[str]
    received: Counter[str]
    bodies: dict[str, list[dict[str, Any]]]
    unnotified_alerts: int
    log: Path
    problems: list[str] = field(default_factory=list)


def one_run(workdir: Path, seed: int, receiver_up: bool) -> RunResult:
    rng = random.Random(seed)
    workdir.mkdir(parents=True)
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
        acked = 0
        for n in range(EVENTS):
            if not daemon.inject(f"svc-{seed}-{n}"):
                break
            acked += 1
            time.sleep(rng.uniform(0, 0.02))
        killer.join()
        sending_at_kill = {key for key, state, _ in daemon.outbox() if state == "sending"}
        daemon.start()
        if not receiver_up:
            time.sleep(rng.uniform(0, 0.3))
            receiver.up()
        deadline = time.monotonic() + DEADLINE
        while any(state in ("pending", "sending") for _, state, _ in daemon.outbox()):
            if time.monotonic() > deadline:
                raise AssertionError(f"outbox not drained after {DEADLINE}s:\n{daemon.log.read_text()}")
            time.sleep(0.05)
        daemon.stop()
        outbox = daemon.outbox()
        notified = {a["fingerprint"] for _, _, payload in outbox for a in json.loads(payload).get("alerts", [])}
        unnotified = len(daemon.firing_fingerprints() - notified)
    finally:
        daemon.stop()
        receiver.close()
    bodies: dict[str, list[dict[str, Any]]] = {}
    for r in receiver.requests:
        bodies.setdefault(r.key, []).append(r.body)
    return RunResult(seed, kill_at, acked, outbox, sending_at_kill, receiver.keys(), bodies, unnotified,
                     daemon.log)


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
    notifications = sum(len(r.outbox) for r in results)
    duplicates = sum(n - 1 for r in results for n in r.received.values() if n > 1)
    interrupted = sum(len(r.sending_at_kill) for r in results)
    print(f"\ndurability (receiver {'up' if receiver_up else 'down'} at the kill, seed {SEED}): {runs} runs, "
          f"{sum(r.acked for r in results)} events acknowledged, {notifications} notifications, "
          f"{interrupted} sends interrupted by the kill, {duplicates} duplicate deliveries (same key), "
          f"{sum(r.unnotified_alerts for r in results)} firing alerts without a notification")
    assert not failures, "\n".join(failures)


def test_kill_while_receiver_down(tmp_path: Path) -> None:
    """Receiver down: notifications pile up in the outbox; after a kill and a restart all are delivered."""
    kill_loop(tmp_path, receiver_up=False, runs=RUNS)


def test_kill_while_receiver_up(tmp_path: Path) -> None:
    """Receiver up and slow: kills fall between sending and recording; duplicates keep their key."""
    kill_loop(tmp_path, receiver_up=True, runs=max(1, RUNS // 2))
