"""Small programs the network lab runs inside its namespaces (``python lab_programs.py serve|poll ...``).

``serve PORT NAME``: a TCP service bound to 0.0.0.0, so whichever head holds the VIP answers; it writes its
node name and closes. ``poll ADDRESS PORT INTERVAL_MS``: the client's view of the service: it connects every
few milliseconds and, on SIGTERM, prints one JSON object with the longest gap between two answered
connections (the outage) and which node answered when.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import time


def serve(port: int, name: str) -> None:
    """Answer every connection with ``name``; never exit on a client's error."""
    family = socket.AF_INET6
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.bind(("::", port))
    srv.listen(512)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        try:
            conn.sendall(name.encode() + b"\n")
        except OSError:
            pass
        finally:
            conn.close()


def connect_once(address: str, port: int, timeout: float) -> str | None:
    """The answering node's name, or ``None`` when the connection failed or timed out."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            return sock.recv(64).decode().strip() or None
        except OSError:
            return None


def poll(address: str, port: int, interval_ms: float, timeout_ms: float) -> None:
    """Connect every ``interval_ms``; report on SIGTERM."""
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    last_ok: float | None = None
    longest, gap_end, gap_from = 0.0, None, None
    ok = failed = 0
    answers: dict[str, int] = {}
    changes: list[tuple[float, str]] = []
    current: str | None = None
    print("ready", flush=True)
    while not stop:
        t = time.monotonic()
        who = connect_once(address, port, timeout_ms / 1000)
        done = time.monotonic()
        if who is None:
            failed += 1
        else:
            ok += 1
            answers[who] = answers.get(who, 0) + 1
            if who != current:
                changes.append((done, who))
                current = who
            if last_ok is not None and done - last_ok > longest:
                longest, gap_from, gap_end = done - last_ok, last_ok, done
            last_ok = done
        pause = interval_ms / 1000 - (time.monotonic() - t)
        if pause > 0:
            time.sleep(pause)
    # Times are CLOCK_MONOTONIC seconds, comparable with the lab's own time.monotonic() (one clock per host).
    print(json.dumps({"ok": ok, "failed": failed, "longest_gap_ms": round(longest * 1000, 1),
                      "gap_from": gap_from, "gap_end": gap_end, "answers": answers, "changes": changes,
                      "last": current, "started": started, "ran_s": round(time.monotonic() - started, 3)}),
          flush=True)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
    elif command == "poll":
        poll(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
    else:
        raise SystemExit(f"unknown command {command}")
