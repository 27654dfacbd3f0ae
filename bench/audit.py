"""Audit detector throughput: lines per second read, parsed and matched against the shipped security rules.

A mix of Linux audit (events of SYSCALL/CWD/PATH/PROCTITLE/EOE records), sshd/sudo syslog lines and DSI
records is written to three files; the ``audit`` detector configured from rules/security.yaml then follows
them (``poll()`` until every line is read), so the figure covers the whole path: reading, line splitting,
parsing, grouping, match rules, stateful detections and event emission. The same lines are also run
through the parsers and rules from memory (no file reading), and the floor is a plain ``re`` scan of the
same lines: one precompiled ``re.search`` per line for the security keywords, no parsing. The process is
pinned to one CPU; figures are lines per CPU second of it (``wall_*`` keys give the wall-clock ones).

    python bench/audit.py [--quick] [--json] [--lines N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from faultmgr_audit import AuditDetector

from faultmgr.clock import VirtualClock
from faultmgr.event import Event
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "rules" / "security.yaml"
FLOOR = re.compile(r"Failed password|Accepted \w+ for root|incorrect password|key=\"|verdict=deny|success=no")


def audit_event(rng: random.Random, serial: int) -> list[str]:
    stamp = f"{1_700_000_000 + serial // 10}.{serial % 1000:03d}:{serial}"
    key = rng.choice(['"identity"', "(null)", "(null)", "(null)", '"sudoers"'])
    success, exit_code = ("no", "-13") if rng.random() < 0.05 else ("yes", "3")
    name = rng.choice(["/etc/shadow", "/etc/passwd", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/tmp/a b"])
    encoded = name.encode().hex().upper() if " " in name else f'"{name}"'
    return [
        f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=257 success={success} exit={exit_code} "
        f"a0=ffffff9c a1=7ffd4f2 a2=0 a3=0 items=1 ppid=1200 pid={rng.randint(1000, 60000)} auid=1000 uid=0 "
        f'gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="cat" exe="/usr/bin/cat" '
        f"subj=unconfined key={key}",
        f'type=CWD msg=audit({stamp}): cwd="/root"',
        f"type=PATH msg=audit({stamp}): item=0 name={encoded} inode=1234 dev=08:01 mode=0100640 ouid=0 "
        f"ogid=42 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0",
        f"type=PROCTITLE msg=audit({stamp}): proctitle=636174002F6574632F736861646F77",
        f"type=EOE msg=audit({stamp}): ",
    ]


def syslog_line(rng: random.Random, i: int) -> str:
    host = f"web{i % 4}"
    ip = f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    pick = rng.random()
    if pick < 0.35:
        return (f"Nov 25 07:{i // 60 % 60:02d}:{i % 60:02d} {host} sshd[{1000 + i % 5000}]: Failed password for "
                f"invalid user u{i % 97} from {ip} port {1024 + i % 60000} ssh2")
    if pick < 0.45:
        return (f"Nov 25 07:{i // 60 % 60:02d}:{i % 60:02d} {host} sshd[{1000 + i % 5000}]: Accepted publickey for "
                f"{rng.choice(['alice', 'bob', 'root'])} from 10.1.{i % 255}.{i % 200 + 1} port 50000 ssh2: "
                "RSA SHA256:abcdef")
    if pick < 0.55:
        return (f"Nov 25 07:00:00 {host} sudo:    alice : 3 incorrect password attempts ; TTY=pts/0 ; "
                "PWD=/home/alice ; USER=root ; COMMAND=/bin/sh")
    if pick < 0.75:
        return f"Nov 25 07:00:00 {host} sshd[{i % 5000}]: Connection closed by {ip} port 4000 [preauth]"
    return f"Nov 25 07:00:00 {host} CRON[{i % 5000}]: pam_unix(cron:session): session opened for user root"


def dsi_line(rng: random.Random, i: int) -> str:
    verdict = "deny" if rng.random() < 0.1 else "allow"
    uid = rng.choice(["0", "48", "1000"])
    return (f"type=DSI_ACCESS time={1_700_000_000 + i}.5 node=n{i % 4} subject=svc{i % 13} subject_uid={uid} "
            f'subject_sid=0x{i % 4096:x} object="/srv/data/f{i % 1000}" permission=read verdict={verdict}')


def make_lines(total: int, seed: int = 7) -> dict[str, list[str]]:
    """About half Linux audit, a third syslog, the rest DSI."""
    rng = random.Random(seed)
    audit: list[str] = []
    serial = 0
    while len(audit) < total // 2:
        serial += 1
        audit += audit_event(rng, serial)
    syslog = [syslog_line(rng, i) for i in range(total // 3)]
    dsi = [dsi_line(rng, i) for i in range(total - len(audit) - len(syslog))]
    return {"audit.log": audit, "auth.log": syslog, "security.log": dsi}


class EventCounter:
    """The engine's stand-in: counts events (keeping them would grow the heap the collector walks)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: Event) -> None:
        self.count += 1


def make_detector(folder: Path, emit: EventCounter) -> AuditDetector:
    settings: dict[str, Any] = dict(yaml.safe_load(SHIPPED.read_text())["detectors"]["audit"])
    for key in ("type", "description", "labels"):
        settings.pop(key, None)
    settings["sources"] = [dict(s, path=str(folder / Path(s["path"]).name), start_at="start")
                           for s in settings["sources"]]
    runtime = Runtime(emit=emit, clock=VirtualClock(), state_dir=folder, store=KeyValueStore.memory())
    return AuditDetector("audit", AuditDetector.Settings(**settings), runtime)


class Stopwatch:
    """CPU seconds of this (single-threaded, pinned) process and wall seconds, from start to ``stop()``.

    CPU time is what the figures use: on a shared machine the wall clock also counts the time other
    processes held the core, which says nothing about this code."""

    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def stop(self) -> tuple[float, float]:
        return time.process_time() - self.cpu, time.perf_counter() - self.wall


def run_files(lines: dict[str, list[str]]) -> tuple[tuple[float, float], int]:
    """(CPU, wall) seconds to follow, parse and match every line from the files; events emitted."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, content in lines.items():
            (folder / name).write_text("\n".join(content) + "\n")
        counter = EventCounter()
        detector = make_detector(folder, counter)
        detector.build_sources()
        total = sum(len(v) for v in lines.values())
        watch = Stopwatch()
        while detector.pipeline.lines < total:
            detector.poll()
        detector.drain()  # the last grouped audit event
        return watch.stop(), counter.count


def run_memory(lines: dict[str, list[str]]) -> tuple[float, float]:
    """(CPU, wall) seconds to parse and match every line already in memory (no reading, no line splitting)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in lines:
            (folder / name).write_text("")
        detector = make_detector(folder, EventCounter())
        detector.build_sources()
        parsers = {follower.path.name: parser for follower, parser in detector.sources}
        watch = Stopwatch()
        for name, content in lines.items():
            detector.pipeline.process(parsers[name], content, 0.0)
        return watch.stop()


def run_floor(lines: dict[str, list[str]]) -> tuple[float, float]:
    """(CPU, wall) seconds for a plain ``re`` scan of the same lines."""
    search = FLOOR.search
    watch = Stopwatch()
    hits = 0
    for content in lines.values():
        for line in content:
            if search(line):
                hits += 1
    return watch.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (about a second)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--lines", type=int, default=None, help="lines in total (default 600000, quick 60000)")
    parser.add_argument("--repeat", type=int, default=None, help="runs; the best is reported (default 3, quick 1)")
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last allowed one)")
    args = parser.parse_args(argv)
    allowed = sorted(os.sched_getaffinity(0))
    cpu = args.cpu if args.cpu is not None else allowed[-1]
    os.sched_setaffinity(0, {cpu})  # "on one core": the figure must not borrow a second one
    total = args.lines or (60_000 if args.quick else 600_000)
    repeat = args.repeat or (1 if args.quick else 3)
    lines = make_lines(total)
    count = sum(len(v) for v in lines.values())
    file_runs = [run_files(lines) for _ in range(repeat)]
    files_cpu, files_wall = min(timing for timing, _ in file_runs)
    memory_cpu, _ = min(run_memory(lines) for _ in range(repeat))
    floor_cpu, floor_wall = min(run_floor(lines) for _ in range(repeat))
    result = {
        "lines": count,
        "lines_per_s": round(count / files_cpu),
        "memory_lines_per_s": round(count / memory_cpu),
        "floor_lines_per_s": round(count / floor_cpu),
        "ratio_to_floor": round(floor_cpu / files_cpu, 4),
        "wall_lines_per_s": round(count / files_wall),
        "wall_floor_lines_per_s": round(count / floor_wall),
        "events": file_runs[0][1],
        "target_lines_per_s": 100_000,
        "python": sys.version.split()[0],
        "cpu": cpu,
        "load_average": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"lines: {count} (linux-audit {len(lines['audit.log'])}, syslog-auth {len(lines['auth.log'])}, "
              f"dsi {len(lines['security.log'])}); events emitted: {result['events']}; pinned to CPU {cpu}, "
              f"load average {result['load_average']}")
        print("lines per CPU second (wall-clock figures in --json: wall_*)")
        print(f"audit detector, from files:   {result['lines_per_s']:>10,} lines/s")
        print(f"audit detector, from memory:  {result['memory_lines_per_s']:>10,} lines/s")
        print(f"floor (one re.search a line): {result['floor_lines_per_s']:>10,} lines/s")
        print(f"detector / floor: {result['ratio_to_floor']:.3f}  (target 100,000 lines/s: "
              f"{'met' if result['lines_per_s'] >= 100_000 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
