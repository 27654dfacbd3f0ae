"""Probe scheduling at scale: 1,000 / 5,000 / 10,000 HTTP targets checked every second on one core.

Local HTTP servers answer on loopback: one HAProxy process (``http-request return``, pinned to another
core) listening on up to 10,000 ports, or, without haproxy, a few Python processes sharing the ports.
Each scenario runs in a fresh subprocess pinned to CPU 0 (``os.sched_setaffinity``), so CPU time and
peak RSS belong to that scenario alone:

- ``faultmgr``: the ``probe`` detector (APScheduler slot jobs, semaphore, timeouts, soft/hard states).
- ``floor``: a bare asyncio loop doing the same requests on the same grid with the same lean exchange,
  nothing else (no scheduler, timeout, state or events): the floor for Python.
- ``floor-streams``: the same bare loop with ``asyncio.open_connection`` (what most asyncio code does).
- ``jobs-per-target`` / ``jobs-per-slot``: APScheduler alone, no checks: one interval job per target
  against one job per 20 ms slot that walks its targets. This is the design choice measured.
- ``fork``: one ``curl`` process per check (ldirectord's and Nagios' way), as many as it manages on the
  same core with 32 in flight; its maximum rate is measured once on a subset of targets.

Lateness is how long after its slot on the fixed grid a check started.

    python bench/probes.py [--quick] [--json] [--targets N ...] [--duration S]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

BASE_PORT = 20000  # below the ephemeral range (32768+), so connects never collide with the servers
MAX_PORTS = 10000
INTERVAL = 1.0
BENCH_CPU = 0


# -- servers -----------------------------------------------------------------------------------------


def start_haproxy(ports: int, cpu: int, workdir: Path) -> subprocess.Popen[bytes]:
    config = workdir / "haproxy.cfg"
    config.write_text(f"""global
    maxconn 3000
    nbthread 1
defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 5s
frontend probes
    bind 127.0.0.1:{BASE_PORT}-{BASE_PORT + ports - 1}
    http-request return status 200 content-type text/plain string "healthy\\n"
""")
    proc = subprocess.Popen(["haproxy", "-f", str(config), "-db"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    return proc


async def _python_server(first: int, count: int) -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhealthy\n"

    class Answer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(response)  # type: ignore[attr-defined]
            self.transport.close()

    loop = asyncio.get_running_loop()
    for port in range(first, first + count):
        await loop.create_server(Answer, "127.0.0.1", port, backlog=256)
    await asyncio.Event().wait()


def start_python_servers(ports: int, cpus: set[int]) -> list[subprocess.Popen[bytes]]:
    procs, share = [], (ports + 3) // 4
    for first in range(BASE_PORT, BASE_PORT + ports, share):
        count = min(share, BASE_PORT + ports - first)
        procs.append(subprocess.Popen([sys.executable, __file__, "--serve", str(first), str(count)],
                                      preexec_fn=lambda: os.sched_setaffinity(0, cpus)))
    return procs


def wait_listening(ports: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    for port in (BASE_PORT, BASE_PORT + ports - 1):
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no server on port {port}") from None
                time.sleep(0.1)


# -- workers (one subprocess per scenario) ------------------------------------------------------------


def targets(count: int, ports: int) -> list[tuple[int, str]]:
    """(port, path) per target; every target is distinct, so the detector's dedupe does not shrink them."""
    return [(BASE_PORT + i % ports, f"/t{i}") for i in range(count)]


def runqueue_wait() -> float:
    """Seconds this process spent runnable but waiting for its CPU (another process had it)."""
    try:
        with open("/proc/self/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def usage(before: os.times_result, waited_before: float) -> dict[str, float]:
    after = os.times()
    return {"cpu_s": round(after.user - before.user + after.system - before.system
                           + after.children_user - before.children_user
                           + after.children_system - before.children_system, 3),
            "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "cpu_wait_s": round(runqueue_wait() - waited_before, 3)}


async def run_faultmgr(count: int, ports: int, duration: float) -> dict[str, Any]:
    from faultmgr_probes import ProbeDetector

    from faultmgr.runtime import Runtime

    events: list[Any] = []
    settings = ProbeDetector.Settings(
        targets=[{"name": f"t{i}", "type": "http", "host": "127.0.0.1", "port": port, "path": path}
                 for i, (port, path) in enumerate(targets(count, ports))],
        # One check in flight per target at most, as the floor (which skips busy targets) has.
        checkinterval=INTERVAL, checktimeout=2.0, failurecount=3, concurrency=count)
    detector = ProbeDetector("bench", settings, Runtime(emit=events.append))
    if os.environ.get("PROBE_BENCH_GC_FREEZE") == "1":
        # What a daemon can do once its instances are built: move them out of the collector's sight.
        gc.collect()
        gc.freeze()
    before, waited = os.times(), runqueue_wait()
    await detector.start()
    await asyncio.sleep(duration)
    await detector.stop()
    result = usage(before, waited)
    states = [c.state for c in detector.checks]
    reasons = Counter(s.last.reason for s in states if s.last is not None and not s.last.passed)
    failed = sum(reasons.values())
    result.update(started=detector.started_checks, completed=sum(s.runs for s in states), p50_late_ms=detector.lateness.percentile(0.5),
                  p99_late_ms=detector.lateness.percentile(0.99), failing_targets=failed,
                  overruns=sum(c.overruns for c in detector.checks), events=len(events),
                  failure_reasons=dict(reasons.most_common(3)),
                  slots=len(detector.schedule.slots))
    return result


async def run_floor(count: int, ports: int, duration: float, streams: bool) -> dict[str, Any]:
    from faultmgr_probes.checks.http import response_complete
    from faultmgr_probes.checks.rawtcp import exchange
    from faultmgr_probes.schedule import LatenessHistogram

    items = targets(count, ports)
    requests = [(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
                for port, path in items]
    complete = response_complete(65536)
    lateness = LatenessHistogram()
    counters = {"started": 0, "completed": 0, "failed": 0}
    busy = [False] * count  # a target still being checked is skipped, as the detector does
    tasks: set[asyncio.Task[None]] = set()

    async def one(index: int, port: int, request: bytes, due: float) -> None:
        lateness.add(time.time() - due)
        counters["started"] += 1
        busy[index] = True
        try:
            if streams:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                data = await reader.read(65536)
                writer.close()
            else:
                data = await exchange(socket.AF_INET, ("127.0.0.1", port), request, complete)
            if not data.startswith(b"HTTP/1.1 200"):
                counters["failed"] += 1
        except OSError:
            counters["failed"] += 1
        finally:
            busy[index] = False
        counters["completed"] += 1

    slots = max(1, min(count, round(INTERVAL / 0.02)))
    width = INTERVAL / slots
    numbered = [(i, port, request) for i, (port, request) in enumerate(requests)]
    per_slot = [numbered[i::slots] for i in range(slots)]
    before, waited = os.times(), runqueue_wait()
    start = time.time() + 0.05
    end = start + duration
    k = 0
    while True:
        for index in range(slots):
            due = start + k * INTERVAL + index * width
            if due >= end:
                break
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            for number, port, request in per_slot[index]:
                if busy[number]:
                    continue
                task = asyncio.create_task(one(number, port, request, due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        else:
            k += 1
            continue
        break
    if tasks:
        await asyncio.wait(tasks, timeout=5)
    result = usage(before, waited)
    result.update(started=counters["started"], completed=counters["completed"], failed=counters["failed"],
                  p50_late_ms=lateness.percentile(0.5), p99_late_ms=lateness.percentile(0.99))
    return result


async def run_fork(count: int, ports: int, duration: float, parallel: int = 32) -> dict[str, Any]:
    """As many ``curl`` processes as possible (``parallel`` at a time) for ``duration`` seconds."""
    items = targets(count, ports)
    done = failed = 0
    before, waited = os.times(), runqueue_wait()
    end = time.monotonic() + duration

    async def worker(offset: int) -> None:
        nonlocal done, failed
        i = offset
        while time.monotonic() < end:
            port, path = items[i % len(items)]
            i += parallel
            proc = await asyncio.create_subprocess_exec(
                "curl", "-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}",
                f"http://127.0.0.1:{port}{path}", stdout=asyncio.subprocess.PIPE)
            out, _ = await proc.communicate()
            done += 1
            failed += out != b"200"

    await asyncio.gather(*(worker(i) for i in range(parallel)))
    result = usage(before, waited)
    result.update(started=done, completed=done, failed=failed)
    return result


async def run_jobs(count: int, ports: int, duration: float, per_target: bool) -> dict[str, Any]:
    """APScheduler's own cost: ``count`` targets as one job each, or as 50 slot jobs that fan out.

    The jobs do no check at all (a slot job only walks its list), so the CPU is the scheduler's.
    """
    from datetime import UTC, datetime

    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.interval import IntervalTrigger
    from faultmgr_probes.schedule import LatenessHistogram

    lateness = LatenessHistogram()
    runs = [0]
    jobs = count if per_target else max(1, min(count, round(INTERVAL / 0.02)))
    per_job = [list(range(count))[i::jobs] for i in range(jobs)]
    start = time.time() + 0.5

    def job(index: int) -> Any:
        origin = start + index * INTERVAL / jobs

        async def fire() -> None:
            now = time.time()
            lateness.add(now - (origin + ((now - origin) // INTERVAL) * INTERVAL))
            for _ in per_job[index]:
                runs[0] += 1

        return fire

    scheduler = AsyncIOScheduler(timezone="UTC")
    for index in range(jobs):
        begin = datetime.fromtimestamp(start + index * INTERVAL / jobs, tz=UTC)
        scheduler.add_job(job(index), IntervalTrigger(seconds=INTERVAL, start_date=begin, timezone=UTC),
                          coalesce=True, misfire_grace_time=None)
    before, waited = os.times(), runqueue_wait()
    scheduler.start()
    await asyncio.sleep(duration)
    scheduler.shutdown(wait=False)
    result = usage(before, waited)
    result.update(started=runs[0], completed=runs[0], p99_late_ms=lateness.percentile(0.99), jobs=jobs)
    return result


def worker_main(mode: str, count: int, ports: int, duration: float) -> None:
    os.sched_setaffinity(0, {BENCH_CPU})
    if mode == "faultmgr":
        result = asyncio.run(run_faultmgr(count, ports, duration))
    elif mode in ("jobs-per-target", "jobs-per-slot"):
        result = asyncio.run(run_jobs(count, ports, duration, per_target=mode == "jobs-per-target"))
    elif mode in ("floor", "floor-streams"):
        result = asyncio.run(run_floor(count, ports, duration, streams=mode == "floor-streams"))
    else:
        result = asyncio.run(run_fork(count, ports, duration))
    print(json.dumps(result))


def run_worker(mode: str, count: int, ports: int, duration: float, gc_freeze: bool = False) -> dict[str, Any]:
    env = {**os.environ, "PROBE_BENCH_GC_FREEZE": "1" if gc_freeze else "0"}
    out = subprocess.run([sys.executable, __file__, "--worker", mode, str(count), str(ports), str(duration),
                          str(BASE_PORT)],
                         capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{mode} worker failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["checks_per_s"] = round(result["completed"] / duration, 1)
    return result


# -- driver ------------------------------------------------------------------------------------------


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def measure(sizes: list[int], duration: float, fork_duration: float, log: Any) -> dict[str, Any]:
    raise_fd_limit()
    ports = min(max(sizes), MAX_PORTS)
    server_cpus = set(range(os.cpu_count() or 1)) - {BENCH_CPU} or {BENCH_CPU}
    workdir = Path(tempfile.mkdtemp(prefix="probe-bench-"))
    if shutil.which("haproxy"):
        servers: list[subprocess.Popen[bytes]] = [start_haproxy(ports, min(server_cpus), workdir)]
        server_kind = "haproxy"
    else:
        servers = start_python_servers(ports, server_cpus)
        server_kind = "python"
    try:
        wait_listening(ports)
        for proc in servers:
            if proc.poll() is not None:  # someone else answers on these ports: the figures would be theirs
                raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        log(f"servers: {server_kind} on {ports} ports (CPU {sorted(server_cpus)}); bench on CPU {BENCH_CPU}")
        fork = run_worker("fork", min(max(sizes), 1000), ports, fork_duration) if shutil.which("curl") else None
        if fork:
            log(f"fork-per-check (curl, 32 in flight): {fork['checks_per_s']:.0f} checks/s max, "
                f"{fork['failed']} failed")
        report: dict[str, Any] = {"interval_s": INTERVAL, "duration_s": duration, "server": server_kind,
                                  "fork": fork, "sizes": {}}
        for count in sizes:
            ours = run_worker("faultmgr", count, ports, duration)
            floor = run_worker("floor", count, ports, duration)
            streams = run_worker("floor-streams", count, ports, duration)
            # APScheduler alone (no checks): one job per target against one job per slot.
            jobs_duration = min(duration, 15.0)
            per_target = run_worker("jobs-per-target", count, ports, jobs_duration)
            per_slot = run_worker("jobs-per-slot", count, ports, jobs_duration)
            entry = {
                "checks_per_s": ours["checks_per_s"], "scheduled_per_s": count / INTERVAL,
                "run_ratio": round(ours["completed"] / (count * duration / INTERVAL), 4),
                "p50_late_ms": ours["p50_late_ms"], "p99_late_ms": ours["p99_late_ms"],
                "cpu_s": ours["cpu_s"], "rss_mb": ours["rss_mb"], "failing_targets": ours["failing_targets"],
                "failure_reasons": ours["failure_reasons"], "floor_failed": floor["failed"],
                "overruns": ours["overruns"],
                "floor_cpu_s": floor["cpu_s"], "floor_checks_per_s": floor["checks_per_s"],
                "floor_p99_late_ms": floor["p99_late_ms"], "floor_rss_mb": floor["rss_mb"],
                "cpu_vs_floor": round(ours["cpu_s"] / floor["cpu_s"], 2) if floor["cpu_s"] else None,
                "floor_streams_cpu_s": streams["cpu_s"], "floor_streams_checks_per_s": streams["checks_per_s"],
                "sched_per_target_job_cpu_s_per_min": round(per_target["cpu_s"] * 60 / jobs_duration, 2),
                "sched_per_target_job_runs_per_s": per_target["checks_per_s"],
                "sched_per_target_job_p99_late_ms": per_target["p99_late_ms"],
                "sched_slot_jobs_cpu_s_per_min": round(per_slot["cpu_s"] * 60 / jobs_duration, 2),
                "fork_checks_per_s": fork["checks_per_s"] if fork else None,
                "vs_fork": round(ours["checks_per_s"] / fork["checks_per_s"], 1) if fork else None,
                # Rates capped by the schedule hide capacity: checks per CPU second compare the methods.
                "checks_per_cpu_s": round(ours["completed"] / ours["cpu_s"]) if ours["cpu_s"] else None,
                "floor_checks_per_cpu_s": round(floor["completed"] / floor["cpu_s"]) if floor["cpu_s"] else None,
                "fork_checks_per_cpu_s": round(fork["completed"] / fork["cpu_s"]) if fork and fork["cpu_s"] else None,
                # Time runnable but not running: other processes had the core (a loaded machine).
                "cpu_wait_s": ours["cpu_wait_s"], "floor_cpu_wait_s": floor["cpu_wait_s"],
            }
            if count == max(sizes):
                # The same run after gc.freeze(), as a daemon could do once its instances are built.
                frozen = run_worker("faultmgr", count, ports, duration, gc_freeze=True)
                entry.update(gc_freeze_checks_per_s=frozen["checks_per_s"],
                             gc_freeze_p99_late_ms=frozen["p99_late_ms"], gc_freeze_cpu_s=frozen["cpu_s"])
            report["sizes"][str(count)] = entry
            log(f"{count:>6} targets: {entry['checks_per_s']:>8.0f}/{count / INTERVAL:.0f} checks/s "
                f"({100 * entry['run_ratio']:.1f}%), late p50 {entry['p50_late_ms']} ms p99 "
                f"{entry['p99_late_ms']} ms, CPU {entry['cpu_s']:.1f}s = {entry['cpu_vs_floor']}x floor "
                f"({entry['floor_cpu_s']:.1f}s, {entry['floor_checks_per_s']:.0f}/s, p99 "
                f"{entry['floor_p99_late_ms']} ms; streams {entry['floor_streams_cpu_s']:.1f}s "
                f"{entry['floor_streams_checks_per_s']:.0f}/s), RSS {entry['rss_mb']} MB, "
                f"{entry['vs_fork']}x fork rate; checks per CPU second {entry['checks_per_cpu_s']} vs floor "
                f"{entry['floor_checks_per_cpu_s']} vs fork {entry['fork_checks_per_cpu_s']}; "
                f"APScheduler alone per minute: {entry['sched_per_target_job_cpu_s_per_min']} CPU s with a job "
                f"per target ({entry['sched_per_target_job_runs_per_s']:.0f} runs/s, p99 late "
                f"{entry['sched_per_target_job_p99_late_ms']} ms) vs {entry['sched_slot_jobs_cpu_s_per_min']} "
                f"with slot jobs; failing {entry['failing_targets']} {entry['failure_reasons'] or ''} (floor failed "
                f"{entry['floor_failed']} checks); waited for the CPU {entry['cpu_wait_s']}s "
                f"(floor {entry['floor_cpu_wait_s']}s)")
            if "gc_freeze_cpu_s" in entry:
                log(f"{count:>6} targets after gc.freeze(): {entry['gc_freeze_checks_per_s']:.0f} checks/s, p99 "
                    f"late {entry['gc_freeze_p99_late_ms']} ms, CPU {entry['gc_freeze_cpu_s']:.1f}s")
        return report
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    global BASE_PORT
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 targets for 15 s")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--targets", type=int, nargs="+", help="target counts (default 1000 5000 10000)")
    parser.add_argument("--duration", type=float, help="seconds per scenario (default 60, quick 15)")
    parser.add_argument("--base-port", type=int, default=BASE_PORT, help="first server port (default 20000)")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    BASE_PORT = args.base_port
    if args.serve:
        asyncio.run(_python_server(*args.serve))  # the Python fallback server, in its own process
        return
    if args.worker:
        mode, count, ports, duration, base = args.worker
        BASE_PORT = int(base)
        worker_main(mode, int(count), int(ports), float(duration))
        return
    sizes = args.targets or ([1000] if args.quick else [1000, 5000, 10000])
    duration = args.duration or (15.0 if args.quick else 60.0)

    def log(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    load = os.getloadavg()
    log(f"load average before: {load[0]:.2f} on {os.cpu_count()} CPUs (other work on the machine skews lateness)")
    report = measure(sizes, duration, min(duration, 10.0), log)
    report["loadavg_before"] = load[0]
    report["loadavg_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
