"""A real daemon and a real receiver for end-to-end tests (import as ``from daemon_lab import ...``).

:class:`Receiver` is a webhook endpoint on loopback that records every request; until :meth:`Receiver.up` its
port is bound but not listening, so connections are refused as with a receiver that is down.
:class:`DaemonProcess` runs ``faultmgr run`` in a subprocess with an ``external`` detector, one ``webhook``
receiver pointed at the :class:`Receiver` and one rule, and reads its journal through read-only connections.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from faultmgr.control import ControlError, request

FAULTMGR = str(Path(sys.executable).with_name("faultmgr"))
DEADLINE = 60.0  # seconds a daemon gets to start, or the outbox to drain, before a test fails


def stop_process(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, and SIGKILL when the process is still there after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Received:
    """One request as the receiver saw it."""

    key: str
    body: dict[str, Any]
    at: float


class Receiver:
    """A webhook endpoint that records each request's ``Idempotency-Key`` and JSON body.

    :param max_delay: each answer waits a random time up to this, which widens the window between the
        receiver having a message and the daemon recording that it was sent (where a kill makes duplicates).
    """

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
        self.port: int = self.server.server_address[1]

    def up(self) -> None:
        """Start listening and answering."""
        self.server.server_activate()
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
        self.server.server_close()

    def keys(self) -> Counter[str]:
        """How many times each deduplication key arrived."""
        with self.lock:
            return Counter(r.key for r in self.requests)

    def bodies(self) -> dict[str, list[dict[str, Any]]]:
        """Every body received, by deduplication key."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self.lock:
            for r in self.requests:
                out.setdefault(r.key, []).append(r.body)
        return out


CONFIG = """\
daemon:
  state_dir: {state}
  tick: 50ms
  shutdown_timeout: 1s
detectors:
  ext:
    type: external
receivers:
{receivers}
rules:
  service-down:
    match: {{kind: service.down, source: ext}}
    notify: [{notify}]
"""

WEBHOOK = """\
  hook:
    type: webhook
    url: http://127.0.0.1:{port}/hook
    timeout: 2s
    group_by: ["..."]
    group_wait: {group_wait}
    group_interval: {group_interval}
    retry: {{initial: 100ms, max_delay: 1s}}
"""


class DaemonProcess:
    """``faultmgr run`` in a subprocess, its state under ``workdir``, its log kept for failure messages.

    Every failure event (kind ``service.down``) opens one alert, and the receiver groups each alert apart.
    """

    def __init__(self, workdir: Path, port: int = 0, group_wait: str = "0s", group_interval: str = "0s",
                 receivers: str | None = None, notify: str = "hook", text: str | None = None) -> None:
        """The default receiver is a webhook to ``port``; ``receivers`` (a YAML block) replaces it, and
        ``notify`` names who the rule pages. ``text`` replaces the whole config (``{state}`` in it becomes
        the state directory; its detector must be an ``external`` one named ``ext`` for :meth:`inject`)."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.state = workdir / "state"
        self.config = workdir / "faultmgr.yaml"
        if text is not None:
            self.config.write_text(text.replace("{state}", str(self.state)))
        else:
            if receivers is None:
                receivers = WEBHOOK.format(port=port, group_wait=group_wait, group_interval=group_interval)
            self.config.write_text(CONFIG.format(state=self.state, receivers=receivers.rstrip("\n"),
                                                 notify=notify))
        self.log = workdir / "daemon.log"
        self.socket = self.state / "control.sock"
        self.journal = self.state / "journal.db"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the daemon and wait until its control socket answers."""
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
        """SIGKILL: no chance to record or drain anything."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        """SIGTERM (a clean stop), if still running."""
        if self.proc is not None:
            stop_process(self.proc, 15)

    def inject(self, subject: str, severity: str = "critical", kind: str = "service.down") -> bool:
        """One event through the control socket (a failure; ``service.ok`` with severity ``ok`` recovers);
        false when the daemon did not take it."""
        try:
            request(self.socket, "inject", timeout=5, event={"kind": kind, "subject": subject, "source": "ext",
                                                             "severity": severity})
            return True
        except (ControlError, OSError, ValueError):
            return False

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        if not self.journal.exists():
            return []
        db = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def outbox(self) -> list[tuple[str, str, str]]:
        """(deduplication key, state, payload) of every outbox row, oldest first."""
        return self._query("SELECT dedup_key, state, payload FROM outbox ORDER BY id")

    def action_runs(self) -> list[tuple[str, str, str, str]]:
        """(action, phase, state, detail) of every action run in the journal, oldest first."""
        return self._query("SELECT action, phase, state, detail FROM action_runs ORDER BY id")

    def log_objects(self) -> list[dict[str, Any]]:
        """The log's lines that are JSON objects (``log_format: json``), in order."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                out.append(item)
        return out

    def alert_states(self) -> dict[str, str]:
        """Subject -> state of each alert in the journal."""
        return {r[0]: r[1] for r in self._query("SELECT subject, state FROM alerts")}

    def firing_fingerprints(self) -> set[str]:
        """Alerts the journal says have fired at least once."""
        return {r[0] for r in self._query("SELECT fingerprint FROM alerts WHERE firing > 0")}

    def wait_until(self, predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
        """Until ``predicate()`` holds; on timeout the failure names ``what`` and shows the daemon's log."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log.read_text()}")
            time.sleep(0.05)

    def wait_drained(self, timeout: float = DEADLINE) -> None:
        """Until no outbox row is pending or being sent. An injection is answered before the engine has
        seen the event, so right after one this can return before its page is even written."""
        deadline = time.monotonic() + timeout
        while any(state in ("pending", "sending") for _, state, _ in self.outbox()):
            if time.monotonic() > deadline:
                raise AssertionError(f"outbox not drained after {timeout}s:\n{self.log.read_text()}")
            time.sleep(0.05)
