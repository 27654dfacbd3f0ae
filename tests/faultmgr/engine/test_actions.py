"""Action semantics in a real daemon: a timeout cancels the action (its whole process group) and records it
as failed, ``fallback:`` runs when an action fails, the ``action.failed`` event reaches rules, and an action
never runs twice for one alert firing, even when the daemon is killed while it runs and started again."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from daemon_lab import DaemonProcess

TIMEOUT_CONFIG = """\
daemon: {{state_dir: "{{state}}", tick: 50ms, shutdown_timeout: 1s}}
detectors: {{ext: {{type: external}}}}
actions:
  restart-svc:
    type: command
    argv: [sh, -c, "sleep 300 & echo $$ $! > {pids}; wait"]
    timeout: 500ms
    fallback: reboot-node
  reboot-node:
    type: command
    argv: [sh, -c, "echo \\"$FAULTMGR_SUBJECT\\" >> {rescued}"]
receivers: {{out: {{type: log, path: "{out}", group_by: ['...'], group_wait: 0s}}}}
rules:
  down: {{match: {{kind: service.down, source: ext}}, actions: [restart-svc]}}
  action-broke:
    match: {{kind: action.failed, source: faultmgr, labels: [action=restart-svc]}}
    notify: [out]
"""

ONCE_CONFIG = """\
daemon: {{state_dir: "{{state}}", tick: 50ms, shutdown_timeout: 1s}}
detectors: {{ext: {{type: external}}}}
actions:
  slow-fix:
    type: command
    argv: [sh, -c, "echo \\"$FAULTMGR_SUBJECT $$\\" >> {runs}; exec sleep 300"]
    timeout: 10m
receivers: {{out: {{type: log, path: "{out}", group_by: ['...'], group_wait: 0s}}}}
rules:
  down: {{match: {{kind: service.down, source: ext}}, notify: [out], actions: [slow-fix]}}
"""


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_timeout_fails_the_action_runs_its_fallback_and_emits_action_failed(tmp_path: Path) -> None:
    pids, rescued, out = tmp_path / "pids", tmp_path / "rescued", tmp_path / "out.jsonl"
    daemon = DaemonProcess(tmp_path, text=TIMEOUT_CONFIG.format(pids=pids, rescued=rescued, out=out))
    daemon.start()
    try:
        assert daemon.inject("web1")
        daemon.wait_until(lambda: lines(rescued) == ["web1"], "the fallback")
        daemon.wait_until(lambda: bool(lines(out)), "the page about the failed action")
    finally:
        daemon.stop()
    runs = {action: (phase, state, detail) for action, phase, state, detail in daemon.action_runs()}
    assert runs["restart-svc"] == ("fire", "timeout", "timed out after 0.5s")
    assert runs["reboot-node"][:2] == ("fire", "ok")
    # The hung program and the child it started were both killed at the timeout.
    shell, child = (int(p) for p in pids.read_text().split())
    deadline = time.monotonic() + 10
    while not (gone(shell) and gone(child)):
        assert time.monotonic() < deadline, "the action's process group outlived its timeout"
        time.sleep(0.05)
    pages = [payload for _, _, payload in daemon.outbox()]
    assert len(pages) == 1 and '"rule": "action-broke"' in pages[0].replace('":"', '": "'), pages


def test_an_action_never_runs_twice_for_one_firing_even_across_a_kill(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out.jsonl"
    daemon = DaemonProcess(tmp_path, text=ONCE_CONFIG.format(runs=runs, out=out))
    leaders: list[int] = []
    try:
        daemon.start()
        assert daemon.inject("web1")
        daemon.wait_until(lambda: len(lines(runs)) == 1, "the action to start")
        assert daemon.action_runs() == [("slow-fix", "fire", "started", "")]
        leaders.append(int(lines(runs)[0].split()[1]))
        daemon.kill()  # mid-action: the run is claimed in the journal, never finished
        daemon.start()
        assert daemon.action_runs() == [("slow-fix", "fire", "interrupted", "")]
        assert daemon.inject("web1")  # the same failure again: the alert is still firing, no new firing
        assert daemon.inject("web2")  # after web1's event: once its action started, web1's was decided
        daemon.wait_until(lambda: any(line.startswith("web2 ") for line in lines(runs)), "web2's action")
        leaders += [int(line.split()[1]) for line in lines(runs) if line.startswith("web2 ")]
        assert [line.split()[0] for line in lines(runs)] == ["web1", "web2"]
        assert [state for action, _, state, _ in daemon.action_runs()] == ["interrupted", "started"]
    finally:
        daemon.stop()
        for leader in leaders:  # the killed daemon's action was left running (its own session): end it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(leader, signal.SIGKILL)
