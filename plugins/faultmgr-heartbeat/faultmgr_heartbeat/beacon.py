"""The beacon: the sender thread in a child process of its own (``sender: process``).

A thread in the daemon still needs Python's GIL, so CPU-bound Python on the event loop (a rule storm, a
slow plugin) delays it: on a two-core machine with both cores busy, a thread's beats were seen up to
~120 ms late. The beacon process holds no GIL but its own, owns copies of the paths' descriptors (passed
at spawn), and runs :class:`~faultmgr_heartbeat.sender.Sender` there, real-time when allowed.

Parent and child talk over pipes, one JSON object per line:

- parent -> child: first the configuration (node, generation, interval, first sequence number, the sending
  key, the descriptors and destinations), then ``{"status": {...}}`` whenever the status changes. The key
  travels on the pipe, never on the command line or in the environment. End of input means stop: a child
  whose parent died stops by itself.
- child -> parent: ``{"seq", "sent", "errors", "lag", "realtime", "stall"}`` four times a second.

When the child dies the parent starts another, continuing the sequence numbers above the last reported.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any

from faultmgr_heartbeat.auth import Key, KeyRing
from faultmgr_heartbeat.framing import frame
from faultmgr_heartbeat.protocol import Packet, encode
from faultmgr_heartbeat.sender import Sender

if TYPE_CHECKING:
    from faultmgr_heartbeat.paths import HeartbeatPath

REPORT_INTERVAL = 0.25
#: First delay before replacing a dead beacon; doubled (up to RESPAWN_MAX) while beacons keep dying young.
RESPAWN_DELAY = 0.05
RESPAWN_MAX = 5.0
CHILD_COMMAND = "import sys; from faultmgr_heartbeat.beacon import child_main; child_main(sys.stdin, sys.stdout)"


class FdTransmitter:
    """Sends on a descriptor inherited from the parent: a datagram socket or a serial line."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.name: str = spec["name"]
        self.fd: int = spec["fd"]
        self.destinations = [(host, port) for host, port in spec.get("destinations", [])]
        self.sock = socket.socket(fileno=self.fd) if spec["kind"] == "datagram" else None

    def send(self, packet: bytes) -> None:
        if self.sock is not None:
            for destination in self.destinations:
                self.sock.sendto(packet, destination)
        else:
            os.write(self.fd, frame(packet))


def child_main(stdin: IO[str], stdout: IO[str]) -> None:
    """The beacon process: read the configuration, beat until stdin closes, report on stdout."""
    # The daemon decides when the beacon stops, by closing its input: Ctrl-C on the terminal and systemd's
    # SIGTERM to the whole unit reach the daemon too, and the beacon must beat until the daemon is done.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    log = logging.getLogger("faultmgr.heartbeat.beacon")
    config = json.loads(stdin.readline())
    keys = KeyRing([Key(config["key_id"], bytes.fromhex(config["secret"]))])
    stalls: list[float] = []
    sender = Sender(config["node"], config["generation"], keys,
                    [FdTransmitter(spec) for spec in config["paths"]], config["interval"],
                    stalls.append, log, first_seq=config["first_seq"],
                    realtime_priority=config["realtime_priority"])
    sender.status = config["status"]
    sender.start()
    done = threading.Event()

    def report() -> None:
        # The sender thread never writes to the pipe itself: a parent slow to read must not block beats.
        while not done.wait(REPORT_INTERVAL):
            stall = stalls.pop() if stalls else None
            stalls.clear()
            stdout.write(json.dumps({"seq": sender.seq, "sent": sender.sent, "errors": sender.errors,
                                     "lag": sender.lag.as_dict(), "realtime": sender.realtime,
                                     "stall": stall}) + "\n")
            stdout.flush()

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    for line in stdin:
        message = json.loads(line)
        if "status" in message:
            sender.status = message["status"]
    sender.stop()
    done.set()


class RemoteLag:
    """The child's lag figures, as the parent last heard them."""

    def __init__(self) -> None:
        self.figures: dict[str, Any] = {}

    def as_dict(self) -> dict[str, Any]:
        return dict(self.figures)


class ProcessSender:
    """Parent side of the beacon; offers what the node uses of :class:`~faultmgr_heartbeat.sender.Sender`."""

    def __init__(self, node: str, generation: int, keys: KeyRing, paths: list[HeartbeatPath], interval: float,
                 on_stall: Any, log: logging.Logger, realtime_priority: int | None = None) -> None:
        self.node = node
        self.generation = generation
        self.keys = keys
        self.paths = paths
        self.interval = interval
        self.on_stall = on_stall
        self.log = log
        self.realtime_priority = realtime_priority
        self.seq = 0
        self.sent = 0
        self.errors = {path.name: 0 for path in paths}
        self.lag = RemoteLag()
        self.realtime = False
        self.restarts = 0
        self.status: dict[str, Any] = {}
        self.pid: int | None = None
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._spawned = 0.0
        self._delay = RESPAWN_DELAY / 2

    def start(self) -> None:
        """Spawn the beacon."""
        self._spawn(first_seq=1)

    def _spawn(self, first_seq: int) -> None:
        specs = [path.beacon_spec() for path in self.paths]
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD_COMMAND], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, pass_fds=[spec["fd"] for spec in specs], bufsize=1)
        assert process.stdin is not None
        key = self.keys.send_key
        process.stdin.write(json.dumps({
            "node": self.node, "generation": self.generation, "interval": self.interval, "first_seq": first_seq,
            "realtime_priority": self.realtime_priority, "key_id": key.key_id, "secret": key.secret.hex(),
            "status": self.status, "paths": specs}) + "\n")
        process.stdin.flush()
        with self._lock:
            self._process, self.pid = process, process.pid
            if self._stopping:  # stop() ran while this one was being spawned
                process.stdin.close()
        self._spawned = time.monotonic()
        self._reader = threading.Thread(target=self._read, args=(process,), name=f"heartbeat-beacon-{self.node}",
                                        daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                report = json.loads(line)
            except ValueError:
                continue
            self.seq, self.sent, self.realtime = report["seq"], report["sent"], report["realtime"]
            self.errors.update(report["errors"])
            self.lag.figures = report["lag"]
            if report.get("stall") is not None:
                self.on_stall(report["stall"])
        process.wait()
        if self._stopping:
            return
        lived = time.monotonic() - self._spawned
        self._delay = RESPAWN_DELAY if lived > 10 * RESPAWN_MAX else min(RESPAWN_MAX, self._delay * 2)
        self.log.error("heartbeat beacon (pid %s) exited with %s; starting another in %.2fs",
                       process.pid, process.returncode, self._delay)
        time.sleep(self._delay)
        if not self._stopping:
            # Numbers sent after the last report are unknown: jump past them (about two seconds' worth).
            self._spawn(first_seq=self.seq + int(2 / self.interval) + 10)
            self.restarts += 1

    def set_status(self, status: dict[str, Any]) -> None:
        """Status carried by following beats; ``ValueError`` if it would not fit in a packet."""
        encode(Packet(self.node, self.generation, 1, time.time(), status), self.keys.send_key)
        self.status = dict(status)
        with self._lock:
            process = self._process
        if process is not None and process.stdin is not None:
            try:
                process.stdin.write(json.dumps({"status": self.status}) + "\n")
                process.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass  # the beacon is being restarted; the new one gets the status in its configuration

    def respawn(self) -> None:
        """Replace the beacon (after a path was reopened): the reader starts a new one when this one exits."""
        with self._lock:
            process = self._process
        if process is not None and not self._stopping:
            process.kill()

    def stop(self) -> None:
        """Close the beacon's input: it stops within one interval."""
        with self._lock:
            self._stopping = True
            process = self._process
        if process is not None and process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()

    def is_alive(self) -> bool:
        reader = self._reader
        return reader is not None and reader.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the beacon to exit (killing it after ``timeout``) and for its reader."""
        with self._lock:
            process = self._process
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(timeout)

