"""Heartbeat benchmark: are beats on time when the daemon is busy, and how fast is a dead peer detected?

Part 1, beats under load. A child process sends beats every 50 ms to this process while its event loop runs
CPU-bound Python (200 ms blocks holding the GIL, 10 ms breaks) and a CPU hog runs on every core. This
process receives the beats (its receiver thread real-time when allowed) and measures the gaps between
arrivals. Side by side:

- ``loop``: the reference, an asyncio task that sends on the event loop, as a plain plugin would;
- ``thread``: the heartbeat detector's default, a real-time sender thread in the daemon;
- ``process``: ``sender: process``, the beacon process that holds no GIL of the daemon's.

A gap of 150 ms or more would be a false ``peer.dead`` at ``deadtime 150ms`` (likewise 500 ms).

Part 2, detection. Two detectors on loopback (no load); one stops; the time from its stop to the other's
``heartbeat.peer.dead`` event, median of several runs, beside the configured deadtime.

    python bench/heartbeat.py [--quick] [--json] [--duration SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from faultmgr_heartbeat import HeartbeatDetector
from faultmgr_heartbeat.auth import Key, KeyRing, parse_key_file
from faultmgr_heartbeat.protocol import Packet, ProtocolError, decode, encode
from faultmgr_heartbeat.sender import go_realtime

from faultmgr.event import Event
from faultmgr.runtime import Runtime
from faultmgr.store import KeyValueStore

KEYS = "bench " + "5a" * 32
KEEPALIVE = 0.05
MODES = ("loop", "thread", "process")


def key_file(directory: Path) -> Path:
    path = directory / "bench.keys"
    path.write_text(KEYS + "\n")
    path.chmod(0o600)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- part 1: the child that sends under load ----------------------------------------------------------

async def busy_loop(duration: float) -> None:
    end = time.monotonic() + duration
    while time.monotonic() < end:
        started = time.perf_counter()
        while time.perf_counter() - started < 0.2:
            pass
        await asyncio.sleep(0.01)


async def loop_sender(port: int, duration: float) -> None:
    """The reference: beats sent by a task on the (busy) event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    key = parse_key_file(KEYS).send_key
    seq = 0

    async def beat() -> None:
        nonlocal seq
        while True:
            seq += 1
            sock.sendto(encode(Packet("bench", 1, seq, time.time(), {}), key), ("127.0.0.1", port))
            await asyncio.sleep(KEEPALIVE)

    task = asyncio.create_task(beat())
    await busy_loop(duration)
    task.cancel()


async def detector_sender(mode: str, port: int, duration: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = HeartbeatDetector.Settings(
            node="bench", peers=["receiver"], key_file=key_file(Path(tmp)), keepalive=KEEPALIVE,
            warntime=0.15, deadtime=0.3, initdead=3600, sender=mode,
            paths=[{"type": "udp", "bind": "127.0.0.1:0", "targets": [f"127.0.0.1:{port}"]}])
        detector = HeartbeatDetector("bench", settings, Runtime(emit=lambda e: None, state_dir=Path(tmp),
                                                                 store=KeyValueStore.memory()))
        await detector.start()
        await busy_loop(duration)
        await detector.stop()


def child(mode: str, port: int, duration: float) -> None:
    if mode == "loop":
        asyncio.run(loop_sender(port, duration))
    else:
        asyncio.run(detector_sender(mode, port, duration))


# -- part 1: the receiving side -----------------------------------------------------------------------

def receive(port: int, stop: threading.Event, arrivals: list[float]) -> None:
    go_realtime(20, __import__("logging").getLogger("bench"))
    ring = KeyRing([Key("bench", bytes.fromhex("5a" * 32))])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            data = sock.recv(2048)
        except TimeoutError:
            continue
        now = time.monotonic()
        try:
            decode(data, ring)
        except ProtocolError:
            continue
        arrivals.append(now)
    sock.close()


def beats_under_load(mode: str, duration: float) -> dict[str, Any]:
    port = free_port()
    arrivals: list[float] = []
    stop = threading.Event()
    receiver = threading.Thread(target=receive, args=(port, stop, arrivals), daemon=True)
    receiver.start()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        subprocess.run([sys.executable, __file__, "--child", mode, "--port", str(port),
                        "--duration", str(duration)], check=True, timeout=duration + 60)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        stop.set()
        receiver.join()
    # The first quarter second after the first beat is start-up, not steady beating.
    arrivals = [t for t in arrivals if t - arrivals[0] > 0.25] if arrivals else []
    gaps = sorted(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)) or [float("inf")]
    return {
        "beats": len(arrivals),
        "gap_p50_ms": round(gaps[len(gaps) // 2] * 1000, 1),
        "gap_p99_ms": round(gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))] * 1000, 1),
        "gap_max_ms": round(gaps[-1] * 1000, 1),
        "false_dead_at_150ms": sum(1 for g in gaps if g >= 0.15),
        "false_dead_at_500ms": sum(1 for g in gaps if g >= 0.5),
    }


# -- part 2: detection latency ------------------------------------------------------------------------

async def detection_once(keepalive: float, deadtime: float, directory: Path) -> tuple[float, float]:
    """(from the stop to peer.dead, from the last beat received to peer.dead), in seconds."""
    events: list[tuple[float, Event]] = []
    pa, pb = free_port(), free_port()

    def build(me: str, other: str, bind: int, target: int) -> HeartbeatDetector:
        settings = HeartbeatDetector.Settings(
            node=me, peers=[other], key_file=key_file(directory), keepalive=keepalive, warntime=deadtime * 0.6,
            deadtime=deadtime, initdead=deadtime * 10,
            paths=[{"type": "udp", "bind": f"127.0.0.1:{bind}", "targets": [f"127.0.0.1:{target}"]}])
        return HeartbeatDetector(me, settings, Runtime(emit=lambda e: events.append((time.monotonic(), e)),
                                                       state_dir=directory, store=KeyValueStore.memory()))

    a, b = build("a", "b", pa, pb), build("b", "a", pb, pa)
    await a.start()
    await b.start()
    while a.peer_state("b") != "up":
        await asyncio.sleep(0.01)
    await asyncio.sleep(keepalive * 3.3)  # stop at an arbitrary point between two beats
    await b.stop()
    stopped = time.monotonic()
    last_beat = stopped - a.status()["peers"]["b"]["last_seen_ms_ago"] / 1000
    while a.peer_state("b") != "dead":
        await asyncio.sleep(0.005)
    await a.stop()
    dead = next(t for t, e in events if e.kind == "heartbeat.peer.dead" and e.source == "a")
    return dead - stopped, dead - last_beat


def detection(settings: list[tuple[float, float]], runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for keepalive, deadtime in settings:
            runs_ = [asyncio.run(detection_once(keepalive, deadtime, Path(tmp))) for _ in range(runs)]
            samples, from_beat = [r[0] for r in runs_], [r[1] for r in runs_]
            median = statistics.median(samples)
            results[f"keepalive {keepalive * 1000:g}ms, deadtime {deadtime * 1000:g}ms"] = {
                "median_ms": round(median * 1000, 1), "max_ms": round(max(samples) * 1000, 1),
                "from_last_beat_median_ms": round(statistics.median(from_beat) * 1000, 1),
                "deadtime_ms": deadtime * 1000, "ratio_to_deadtime": round(median / deadtime, 3)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs, one detection setting")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--duration", type=float, help="seconds of load per mode (default 20, quick 5)")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    duration = args.duration or (5.0 if args.quick else 20.0)
    if args.child:
        child(args.child, args.port, duration)
        return
    load = {mode: beats_under_load(mode, duration) for mode in MODES}
    for mode in ("thread", "process"):
        load[f"ratio_max_gap_loop_over_{mode}"] = round(load["loop"]["gap_max_ms"] / max(load[mode]["gap_max_ms"],
                                                                                         0.1), 1)
    settings = [(0.05, 0.15)] if args.quick else [(0.05, 0.15), (0.1, 0.5), (1.0, 3.0)]
    result = {"keepalive_ms": KEEPALIVE * 1000, "load_seconds": duration, "cores": os.cpu_count(),
              "beats_under_load": load, "detection": detection(settings, 3 if args.quick else 7)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"Beats every {KEEPALIVE * 1000:g} ms, sender's loop CPU-bound, a hog on each of {os.cpu_count()} cores, "
          f"{duration:g} s per mode")
    print(f"{'mode':10} {'beats':>6} {'p50 gap':>9} {'p99 gap':>9} {'max gap':>9} {'>=150ms':>8} {'>=500ms':>8}")
    for mode in MODES:
        r = load[mode]
        print(f"{mode:10} {r['beats']:>6} {r['gap_p50_ms']:>7.1f}ms {r['gap_p99_ms']:>7.1f}ms "
              f"{r['gap_max_ms']:>7.1f}ms {r['false_dead_at_150ms']:>8} {r['false_dead_at_500ms']:>8}")
    print(f"max gap, loop / thread: {load['ratio_max_gap_loop_over_thread']}x; "
          f"loop / process: {load['ratio_max_gap_loop_over_process']}x")
    print("\nDetection: from a peer's stop to peer.dead (median; and from its last beat received)")
    for name, r in result["detection"].items():
        print(f"  {name}: {r['median_ms']:.1f} ms (max {r['max_ms']:.1f}), {r['ratio_to_deadtime']}x deadtime; "
              f"{r['from_last_beat_median_ms']:.1f} ms after the last beat")


if __name__ == "__main__":
    main()
