"""external (Nagios plugins, killed with their process group) and fs checks."""

from __future__ import annotations

import os
import time
from pathlib import Path

from faultmgr_probes.checks.external import ExternalTarget, check_external, parse_output, parse_perfdata
from faultmgr_probes.checks.fs import FsCheck, FsTarget


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_perfdata_parsing() -> None:
    assert parse_perfdata("'round trip'=0.12ms;100;500;0; pl=0%;20;60 time=1.5s") == {
        "round trip": {"value": 0.12, "unit": "ms", "warn": 100.0, "crit": 500.0, "min": 0.0},
        "pl": {"value": 0.0, "unit": "%", "warn": 20.0, "crit": 60.0},
        "time": {"value": 1.5, "unit": "s"},
    }
    text, perf = parse_output("HTTP OK - 200 | size=12B\nlong text\nmore | extra=3\n")
    assert text == "HTTP OK - 200" and set(perf) == {"size", "extra"}


async def test_exit_codes_and_output(tmp_path: Path) -> None:
    for code, status, passed in ((0, "ok", True), (1, "warning", True), (2, "critical", False),
                                 (3, "unknown", False), (7, "unknown", False)):
        command = [script(tmp_path, f"c{code}", f'echo "STATE {code} on $1 | load=0.{code};1;2"\nexit {code}\n'),
                   "{host}:{port}"]
        target = ExternalTarget(name="x", type="external", host="10.1.2.3", port=99, command=command)
        result = await check_external(target, 5)
        assert (result.status.value, result.passed) == (status, passed)
        assert result.reason == f"STATE {code} on 10.1.2.3:99"
        assert result.payload["perfdata"]["load"]["value"] == float(f"0.{code}")
        assert result.payload["exit_code"] == code


async def test_missing_program(tmp_path: Path) -> None:
    result = await check_external(ExternalTarget(name="x", type="external", command=[str(tmp_path / "nope")]), 5)
    assert result.status.value == "unknown" and "cannot run" in result.reason


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int) -> bool:
    for _ in range(100):
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


async def test_hung_plugin_is_killed_with_its_children(tmp_path: Path, make_detector) -> None:  # type: ignore[no-untyped-def]
    pids = tmp_path / "pids"
    # The plugin starts a grandchild (a subshell running sleep) and then hangs itself.
    hang = script(tmp_path, "hang", f'(sleep 300; echo never) &\necho $! > {pids}\nsleep 300\n')
    detector = make_detector(targets=[{"name": "h", "type": "external", "command": [hang]}],
                             checktimeout="500ms", failurecount=1)
    result = await detector.run_check(detector.checks[0])
    assert not result.passed and result.reason == "timed out after 500ms"
    grandchild = int(pids.read_text())
    assert _wait_gone(grandchild), "the grandchild survived the timeout"


async def test_children_left_behind_are_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    leaver = script(tmp_path, "leaver", f'sleep 300 >/dev/null 2>&1 &\necho $! > {pids}\necho "OK left one"\n')
    result = await check_external(ExternalTarget(name="x", type="external", command=[leaver]), 5)
    assert result.passed and result.reason == "OK left one"
    assert _wait_gone(int(pids.read_text()))


async def test_fs_ok_and_thresholds(tmp_path: Path) -> None:
    result = await FsCheck(FsTarget(name="f", type="fs", path=tmp_path))(5)
    assert result.passed and result.payload["free_bytes"] > 0
    assert list(tmp_path.iterdir()) == []  # the probe file was removed
    full = await FsCheck(FsTarget(name="f", type="fs", path=tmp_path, min_free_bytes=2**62))(5)
    assert not full.passed and "bytes free" in full.reason
    percent = await FsCheck(FsTarget(name="f", type="fs", path=tmp_path, min_free_percent=100))(5)
    assert not percent.passed


async def test_fs_missing_and_read_only(tmp_path: Path) -> None:
    missing = await FsCheck(FsTarget(name="f", type="fs", path=tmp_path / "gone"))(5)
    assert not missing.passed and "No such file" in missing.reason
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    check = FsCheck(FsTarget(name="f", type="fs", path=readonly))
    if os.geteuid() != 0:  # root writes anyway
        assert not (await check(5)).passed
    assert (await FsCheck(FsTarget(name="f", type="fs", path=readonly, write=False))(5)).passed


async def test_fs_stuck_thread_is_not_doubled(tmp_path: Path, make_detector, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A stale NFS mount cannot be made here; a probe that blocks in its thread stands in for it.
    import threading

    from faultmgr_probes.checks import fs

    release = threading.Event()
    calls = []

    def blocked(target: FsTarget) -> dict[str, object]:
        calls.append(target.name)
        release.wait(10)
        return {"free_bytes": 1, "total_bytes": 1, "free_percent": 100.0}

    monkeypatch.setattr(fs, "probe_filesystem", blocked)
    detector = make_detector(targets=[{"name": "nfs", "type": "fs", "path": str(tmp_path)}],
                             checktimeout="200ms", failurecount=1)
    first = await detector.run_check(detector.checks[0])
    assert first.reason == "timed out after 200ms"
    second = await detector.run_check(detector.checks[0])
    assert "previous check blocked" in second.reason and calls == ["nfs"]
    release.set()
    for _ in range(100):
        if detector.checks[0].probe.stuck_since is None:
            break
        time.sleep(0.01)
    assert (await detector.run_check(detector.checks[0])).passed
