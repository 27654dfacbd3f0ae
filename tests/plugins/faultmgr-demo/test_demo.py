"""``faultmgr demo`` end to end, as a user runs it: the real command, its JSON timeline, and what it leaves.

The root tests build the namespace lab with real daemons, HAProxy and sinks; the loopback tests force the
non-root story with ``FAULTMGR_DEMO_FORCE_LOOPBACK=1``, and one runs it as a user without privileges would
(in a user namespace of its own: uid ``nobody``, no capability in the host's namespaces). Every test ends by looking for anything of its run
left behind: namespaces named after the run, and processes carrying the run's tag in their environment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from prereq import need, need_program, need_root

FAULTMGR = str(Path(sys.executable).with_name("faultmgr"))
STAGES = ["real-server-fails", "primary-head-dies", "forged-heartbeat", "both-heads-die"]
pytestmark = pytest.mark.slow


def demo_env(loopback: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FAULTMGR_DEMO_FORCE_LOOPBACK"}
    if loopback:
        env["FAULTMGR_DEMO_FORCE_LOOPBACK"] = "1"
    return env


def run_demo(loopback: bool, *options: str, prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    proc = subprocess.run([*prefix, FAULTMGR, "demo", "--json", *options], capture_output=True, text=True,
                          timeout=300, env=demo_env(loopback))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    result["stderr"] = proc.stderr
    assert_nothing_left(result["lab"])
    return result


def namespaces_of(tag: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(tag)]


def processes_of(tag: str) -> list[int]:
    """Processes whose environment carries the run's tag (every program the demo starts has it)."""
    found = []
    needle = f"FAULTMGR_DEMO_TAG={tag}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(item.startswith(needle) for item in environ.split(b"\0")):
            found.append(int(entry.name))
    return found


def assert_nothing_left(tag: str) -> None:
    assert processes_of(tag) == [], f"processes of {tag} left behind"
    assert list(Path(tempfile.gettempdir()).glob(tag + "*")) == [], f"files of {tag} left behind"
    if os.geteuid() == 0:
        assert namespaces_of(tag) == [], f"namespaces of {tag} left behind"


def check_story(result: dict[str, Any], dry_run: bool) -> None:
    assert result["dry_run"] is dry_run
    stages = {stage["stage"]: stage for stage in result["stages"]}
    assert list(stages) == STAGES
    for key, stage in stages.items():
        assert stage["missing"] == [], (key, stage["missing"])
        assert stage["dry_run"] is dry_run
        assert stage["detected"], key
        assert any(n["via"] == "mail" for n in stage["notified"]), (key, stage["notified"])
        assert stage["client"]["requests"] > 0, key
    # What each fault must have caused, and what the client saw of it.
    web_out = [a for a in stages["real-server-fails"]["actions"] if a["action"] == "web-out" and a["node"] == "head-a"]
    assert {a["phase"] for a in web_out} == {"fire", "resolve"}, web_out
    assert all(a["state"] == "ok" for a in web_out), web_out
    assert any(d["kind"] == "probe.failed" and d["subject"] == "web1" for d in stages["real-server-fails"]["detected"])
    takeover = [a for a in stages["primary-head-dies"]["actions"]
                if a["action"] == "vip" and a["phase"] == "fire" and a["node"] == "head-b"]
    assert takeover and takeover[0]["state"] == "ok", stages["primary-head-dies"]["actions"]
    for key in ("real-server-fails", "primary-head-dies", "both-heads-die"):
        assert stages[key]["client"]["interrupted_ms"] > 0, (key, stages[key]["client"])
    assert not stages["primary-head-dies"]["client"]["still_down"]
    # Forged heartbeats must not move anything (a stray client timeout on a busy machine is not a failover).
    assert stages["forged-heartbeat"]["actions"] == [], stages["forged-heartbeat"]["actions"]
    assert stages["forged-heartbeat"]["client"]["served_by"]
    assert {d["kind"] for d in stages["forged-heartbeat"]["detected"]} >= {
        "heartbeat.security.forged", "ehb.security.forged"}
    assert any(d["kind"] == "ehb.group.dead" for d in stages["both-heads-die"]["detected"])
    assert stages["both-heads-die"]["client"]["still_down"]
    traps = [n for n in stages["both-heads-die"]["notified"] if n["via"] == "trap"]
    assert any("BOTH head nodes are dead" in n["summary"] for n in traps), traps
    if shutil.which("snmptrapd"):
        assert {n["received_by"] for n in traps} == {"snmptrapd"}
    check_shipped_rules_fired(stages)
    details = " ".join(a["detail"] for s in stages.values() for a in s["actions"])
    if dry_run:
        assert "would" in details and "took over" not in details
    else:
        assert "took over" in details and "would" not in details


def check_shipped_rules_fired(stages: dict[str, Any]) -> None:
    """The alerts come from the rule files shipped in rules/ (ha-oscar-head.yaml on the heads,
    ha-oscar-watcher.yaml on the watcher), which the demo's nodes include; only the pool's rule is the demo's."""
    def fired(stage: str) -> set[tuple[str, str, str]]:
        return {(a["node"], a["rule"], a["subject"]) for a in stages[stage]["alerts"]}

    assert ("head-a", "real-server-down", "web1") in fired("real-server-fails"), fired("real-server-fails")
    assert {("head-b", "head-peer-dead", "head-a"), ("watcher", "heads-one-dead", "head-a")} <= \
        fired("primary-head-dies"), fired("primary-head-dies")
    forged = {(node, rule) for node, rule, _ in fired("forged-heartbeat")}
    assert {("head-b", "heartbeat-forged"), ("watcher", "heads-heartbeat-forged")} <= forged, forged
    assert ("watcher", "heads-all-dead", "heads") in fired("both-heads-die"), fired("both-heads-die")


@pytest.mark.netns
def test_root_story_end_to_end() -> None:
    need_root()
    need_program("ip", "iproute2")
    need_program("haproxy")
    check_story(run_demo(loopback=False), dry_run=False)


def test_loopback_story_is_labelled_dry_run() -> None:
    need_program("haproxy")
    check_story(run_demo(loopback=True), dry_run=True)


def test_a_user_without_privileges_gets_the_dry_run_unforced() -> None:
    """Not forced: ``unshare --user`` without a uid map runs the demo as ``nobody`` with no capability in the
    host's namespaces, so it cannot build namespaces or move addresses, and must find that out by itself."""
    need_program("haproxy")
    need_program("unshare", "util-linux")
    need(subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode == 0,
         "this kernel does not allow user namespaces")
    result = run_demo(False, prefix=("unshare", "--user"))
    check_story(result, dry_run=True)
    assert "not root: running the same story on loopback" in result["stderr"], result["stderr"][:500]


def test_without_haproxy_the_pool_is_left_out() -> None:
    """What a machine without HAProxy gets (``--without-pool`` is also the default there): the probes still
    detect and page, and every other stage is unchanged."""
    result = run_demo(True, "--without-pool")
    assert result["pool"] is False
    stages = {stage["stage"]: stage for stage in result["stages"]}
    assert list(stages) == STAGES
    first = stages["real-server-fails"]
    assert first["missing"] == [] and first["actions"] == []
    assert any(d["kind"] == "probe.failed" for d in first["detected"])
    assert any(n["via"] == "mail" and "web1" in n["subject"] for n in first["notified"])
    assert all(stage["missing"] == [] for stage in stages.values())


def interrupt_in_the_middle(loopback: bool, when: str = "done: a real server fails") -> None:
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) once stderr says ``when``."""
    proc = subprocess.Popen([FAULTMGR, "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=demo_env(loopback), start_new_session=True)
    tag = f"fmd{proc.pid}x"
    seen = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 180
        for line in proc.stderr:
            seen.append(line)
            if when in line or time.monotonic() > deadline:
                break
        assert processes_of(tag), "the demo should be running programs now:\n" + "".join(seen)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, "".join(seen) + err
    assert "cleaning up" in err
    assert_nothing_left(tag)


@pytest.mark.netns
def test_root_ctrl_c_leaves_nothing_behind() -> None:
    need_root()
    need_program("ip", "iproute2")
    need_program("haproxy")
    interrupt_in_the_middle(loopback=False)


@pytest.mark.netns
def test_root_ctrl_c_while_the_daemons_start_leaves_nothing_behind() -> None:
    need_root()
    need_program("ip", "iproute2")
    need_program("haproxy")
    interrupt_in_the_middle(loopback=False, when="starting faultmgr on the eHB watcher")


def test_loopback_ctrl_c_leaves_nothing_behind() -> None:
    need_program("haproxy")
    interrupt_in_the_middle(loopback=True)


def test_programs_of_a_run_that_died_are_removed_by_the_next() -> None:
    """A demo killed with SIGKILL cannot clean up; the next run kills what it left (named by its tag)."""
    from faultmgr_demo.hosts import TAG_ENV, remove_stale_processes

    gone = subprocess.Popen(["true"])
    gone.wait()
    tag = f"{TAG_ENV}=fmd{gone.pid}x0000"
    orphan = subprocess.Popen(["sleep", "60"], env={**os.environ, TAG_ENV: tag.partition("=")[2]})
    try:
        # Popen returns when exec has closed the child's pipes, which can be before the kernel has set up
        # the new environment: until then /proc/PID/environ reads empty (seen on a loaded CI machine).
        deadline = time.monotonic() + 10
        environ = Path(f"/proc/{orphan.pid}/environ")
        while tag.encode() not in environ.read_bytes().split(b"\0") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert orphan.pid in remove_stale_processes()
        assert orphan.wait(timeout=5) == -signal.SIGKILL
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_client_interruption_is_the_gap_in_answers(tmp_path: Path) -> None:
    from faultmgr_demo.observe import client_report

    log = tmp_path / "requests.log"
    # Answered at 10.0; failures from 10.1 (the VIP moves); answered again from 11.0; a partial failure later.
    lines = ["10.0 1 head-a", "10.1 0 -", "10.5 0 -", "11.0 1 head-b", "11.1 1 head-b"]
    log.write_text("\n".join(lines) + "\n")
    report = client_report(log, 10.0, 12.0)
    assert (report.requests, report.failed, report.still_down) == (5, 2, False)
    assert round(report.interrupted_ms) == 1000
    assert report.served_by == {"head-a": 1, "head-b": 2}
    down = client_report(log, 10.0, 10.6)
    assert down.still_down and round(down.interrupted_ms) == 600
    assert client_report(log, 11.0, 12.0).interrupted_ms == 0


def test_built_in_station_decodes_a_v2c_trap(tmp_path: Path) -> None:
    """Where snmptrapd is not installed the demo's own receiver is the management station."""
    from faultmgr_demo.topology import free_port

    need_program("snmptrap", "snmp")
    port, out = free_port(), tmp_path / "traps.jsonl"
    station = subprocess.Popen([sys.executable, "-m", "faultmgr_demo.programs", "traps", "127.0.0.1", str(port),
                                str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert station.stdout is not None and station.stdout.readline().strip() == "ready"
        subprocess.run(["snmptrap", "-v", "2c", "-c", "public", f"127.0.0.1:{port}", "", "1.3.6.1.4.1.99999.0.1",
                        "1.3.6.1.4.1.99999.1.5", "s", "head head-a is dead"], check=True, timeout=10)
        deadline = time.monotonic() + 10
        while not (out.exists() and out.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        record = json.loads(out.read_text().splitlines()[0])
    finally:
        station.kill()
        station.wait()
    assert record["community"] == "public" and record["trap_oid"] == "1.3.6.1.4.1.99999.0.1"
    assert record["varbinds"]["1.3.6.1.4.1.99999.1.5"] == "head head-a is dead"
