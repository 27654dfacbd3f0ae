"""Notification latency: from an alert firing to the page being accepted by a local SMTP server and by snmptrapd.

A real daemon (``faultmgr run`` in a subprocess) has one ``external`` detector, one rule and two receivers,
``email`` (plain SMTP to an aiosmtpd server started here) and ``snmp`` (v2c traps to net-snmp's snmptrapd
started here, FAULTMGR-MIB loaded), both with ``group_wait: 0s`` and ``group_by: ['...']`` so each alert is
its own notification. Events are injected through the control socket one at a time, ``--interval`` apart,
each for a new subject, so each opens one alert.

* Firing time: the alert's ``starts_at`` in the daemon's journal (the daemon's clock when it took the
  injected event; the engine fires in that same step). The time from the bench sending the inject request to
  that moment is reported apart (``inject_to_fire``).
* Accepted by SMTP: the clock read in aiosmtpd's DATA handler, before it answers 250.
* Accepted by snmptrapd: the clock read when snmptrapd's output line for that trap reaches the bench
  (snmptrapd runs in the foreground, one line a trap, read as it arrives).

The baseline is the floor without faultmgr, against the same two servers: aiosmtplib sending an equivalent
message directly and pysnmp sending the same FAULTMGR-MIB trap directly, timed from just before the send
call to the same acceptance points. Its sends are interleaved with the injected events (half an interval
after each), so both paths see the same machine load; ratios are faultmgr / baseline. The first few alerts
of each path are a warm-up and not counted. The daemon's journal starts empty. Needs snmptrapd and the
standard SMIv2 MIB modules (Debian packages snmptrapd and erlang-snmp).

    python bench/notify.py [--quick] [--json] [--alerts N] [--interval SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import math
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller
from faultmgr_snmp import mib_dir
from faultmgr_snmp.mib import alert_varbinds, notification_oid
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    NotificationType,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    send_notification,
)

from faultmgr.alert import AlertView
from faultmgr.control import ControlError, request

TARGET_P99_MS = 100.0
WARMUP = 5  # alerts sent first on each path and not counted: imports, first connections, MIB lookups
SUBJECT = re.compile(r"\b(svc-\d+)\b")
TRAP_SUBJECT = re.compile(r"faultmgrAlertSubject\.0 = STRING: \"?(svc-\d+)")

CONFIG = """\
daemon:
  state_dir: {state}
  tick: 50ms
  shutdown_timeout: 2s
detectors:
  ext:
    type: external
receivers:
  mail:
    type: email
    host: 127.0.0.1
    port: {smtp_port}
    security: none
    sender: faultmgr@bench.invalid
    to: [oncall@bench.invalid]
    local_hostname: bench.invalid
    group_by: ["..."]
    group_wait: 0s
    send_resolved: false
  nms:
    type: snmp
    stations: ["127.0.0.1:{trap_port}"]
    group_by: ["..."]
    group_wait: 0s
    send_resolved: false
rules:
  service-down:
    match: {{kind: service.down, source: ext}}
    notify: [mail, nms]
"""


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Arrivals:
    """First arrival time of each subject, shared between the receiving threads and the bench."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.lock = threading.Lock()

    def add(self, subject: str, at: float) -> None:
        with self.lock:
            self.times.setdefault(subject, at)

    def wait(self, subjects: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(s in self.times for s in subjects):
                    return
            time.sleep(0.01)


class SmtpSink:
    """aiosmtpd in its own thread; the accept time of each message is taken in the DATA handler."""

    def __init__(self) -> None:
        self.arrivals = Arrivals()
        self.port = free_port(socket.SOCK_STREAM)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        at = time.time()
        head = envelope.original_content.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
        found = re.search(r"^Subject:.*$", head, re.MULTILINE)
        match = SUBJECT.search(found.group(0) if found else "")
        if match:
            self.arrivals.add(match.group(1), at)
        return "250 Message accepted"


def standard_mib_dir() -> str:
    """Debian's net-snmp leaves out SNMPv2-SMI and friends (non-free); erlang-snmp ships them."""
    found = sorted(glob.glob("/usr/lib/erlang/lib/snmp-*/mibs/SNMPv2-SMI.mib"))
    if not found:
        raise SystemExit("needs the standard SNMPv2 MIB modules (Debian package erlang-snmp)")
    return str(Path(found[-1]).parent)


class TrapSink:
    """snmptrapd in the foreground printing one line per trap to a pipe read by a thread."""

    def __init__(self, workdir: Path) -> None:
        self.arrivals = Arrivals()
        self.port = free_port(socket.SOCK_DGRAM)
        conf = workdir / "snmptrapd.conf"
        conf.write_text("authCommunity log public\n")
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(workdir), "SNMPCONFPATH": str(workdir)}
        # -n: no reverse lookups of the sender; -Lo: log to stdout, which snmptrapd flushes per line.
        self.process = subprocess.Popen(
            ["snmptrapd", "-f", "-C", "-n", "-c", str(conf), "-Lo", "-M", f"{standard_mib_dir()}:{mib_dir()}",
             "-m", "SNMPv2-MIB:FAULTMGR-MIB", "-F", "TRAP %v\n", f"udp:127.0.0.1:{self.port}"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise SystemExit("snmptrapd did not start")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            at = time.time()
            line = raw.decode(errors="replace")
            if "NET-SNMP version" in line:
                self.ready.set()
            match = TRAP_SUBJECT.search(line)
            if match:
                self.arrivals.add(match.group(1), at)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def latencies(starts: dict[str, float], arrivals: Arrivals) -> list[float]:
    with arrivals.lock:
        return [(arrivals.times[s] - t) * 1000 for s, t in starts.items() if s in arrivals.times]


def bench_alert(subject: str, serial: int) -> AlertView:
    now = time.time()
    return AlertView(id=serial, fingerprint=subject, rule="service-down", subject=subject, severity="critical",
                     state="firing", annotations={}, starts_at=now)


class DirectSender:
    """The baseline: the same two servers paged directly with aiosmtplib and pysnmp, no faultmgr."""

    def __init__(self, smtp: SmtpSink, trapd: TrapSink) -> None:
        self.smtp = smtp
        self.trapd = trapd
        self.engine = SnmpEngine()
        self.smtp_starts: dict[str, float] = {}
        self.snmp_starts: dict[str, float] = {}

    async def send(self, subject: str, serial: int) -> None:
        """One e-mail and one trap about ``subject``, each timed from just before its send call."""
        message = EmailMessage()
        message["From"], message["To"] = "bench@bench.invalid", "oncall@bench.invalid"
        message["Subject"] = f"[FIRING] service-down on {subject}"
        message.set_content(f"- FIRING critical {subject}: service-down\n")
        alert = bench_alert(subject, serial)
        trap = NotificationType(ObjectIdentity(notification_oid(alert))).add_varbinds(
            *(ObjectType(ObjectIdentity(oid), value) for oid, value in alert_varbinds(alert)))
        await asyncio.gather(self._mail(subject, message), self._trap(subject, trap))

    async def _mail(self, subject: str, message: EmailMessage) -> None:
        self.smtp_starts[subject] = time.time()
        await aiosmtplib.send(message, hostname="127.0.0.1", port=self.smtp.port, local_hostname="bench.invalid",
                              start_tls=False, timeout=15)

    async def _trap(self, subject: str, trap: NotificationType) -> None:
        self.snmp_starts[subject] = time.time()
        target = await UdpTransportTarget.create(("127.0.0.1", self.trapd.port), timeout=1, retries=0)
        error, _, _, _ = await send_notification(self.engine, CommunityData("public", mpModel=1), target,
                                                 ContextData(), "trap", trap)
        if error is not None:
            raise SystemExit(f"baseline trap failed: {error}")

    def close(self) -> None:
        self.engine.close_dispatcher()


class Daemon:
    """``faultmgr run`` in a subprocess with the bench's config."""

    def __init__(self, workdir: Path, smtp_port: int, trap_port: int) -> None:
        self.state = workdir / "state"
        self.config = workdir / "faultmgr.yaml"
        self.config.write_text(CONFIG.format(state=self.state, smtp_port=smtp_port, trap_port=trap_port))
        self.socket = self.state / "control.sock"
        self.log = workdir / "daemon.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "faultmgr", "run", "-c", str(self.config)],
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"faultmgr run exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                request(self.socket, "status", timeout=2)
                return
            except (ControlError, OSError):
                time.sleep(0.05)
        raise SystemExit(f"faultmgr run not ready:\n{self.log.read_text()}")

    def inject(self, subject: str) -> None:
        request(self.socket, "inject", timeout=10, event={"kind": "service.down", "subject": subject,
                                                          "source": "ext", "severity": "critical"})

    def fired(self) -> dict[str, float]:
        """Subject -> the alert's ``starts_at``, from the journal (read-only)."""
        db = sqlite3.connect(f"file:{self.state / 'journal.db'}?mode=ro", uri=True, timeout=10)
        try:
            return {s: t for s, t in db.execute("SELECT subject, starts_at FROM alerts WHERE firing > 0")}
        finally:
            db.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Timings:
    """Start times by subject: alerts fired (journal), inject requests sent, direct sends."""

    fired: dict[str, float]
    injected: dict[str, float]
    direct: DirectSender


async def interleaved(daemon: Daemon, direct: DirectSender, count: int, interval: float) -> dict[str, float]:
    """Alternate, half an interval apart, an event injected into faultmgr and a direct send of both pages, so
    both paths see the same machine load. The first ``WARMUP`` of each are not counted."""
    injected: dict[str, float] = {}
    try:
        for i in range(-WARMUP, count):
            subject = f"svc-{i + WARMUP:05d}"
            injected[subject] = time.time()
            daemon.inject(subject)  # blocking, but a local socket round trip; nothing else runs on this loop
            await asyncio.sleep(interval / 2)
            await direct.send(f"svc-{100000 + i + WARMUP}", i)
            await asyncio.sleep(interval / 2)
    finally:
        direct.close()  # pysnmp closes its socket through the loop, so while it runs
    return injected


def measure(workdir: Path, smtp: SmtpSink, trapd: TrapSink, count: int, interval: float) -> Timings:
    daemon = Daemon(workdir, smtp.port, trapd.port)
    direct = DirectSender(smtp, trapd)
    try:
        injected = asyncio.run(interleaved(daemon, direct, count, interval))
        for sink in (smtp, trapd):
            sink.arrivals.wait([*injected, *direct.smtp_starts], 30)
        fired = daemon.fired()
    finally:
        daemon.stop()
    counted = sorted(injected)[WARMUP:]
    for starts in (direct.smtp_starts, direct.snmp_starts):
        for subject in sorted(starts)[:WARMUP]:
            del starts[subject]
    return Timings({s: fired[s] for s in counted if s in fired}, {s: injected[s] for s in counted}, direct)


def summary(name: str, values: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of ``values`` in ms (``None`` when nothing arrived)."""
    if not values:
        return {f"{name}_p50_ms": None, f"{name}_p99_ms": None, f"{name}_max_ms": None}
    return {f"{name}_p50_ms": round(percentile(values, 50), 2), f"{name}_p99_ms": round(percentile(values, 99), 2),
            f"{name}_max_ms": round(max(values), 2)}


def run(count: int, interval: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="faultmgr-bench-notify-") as tmp:
        workdir = Path(tmp)
        smtp = SmtpSink()
        smtp.controller.start()
        trapd = TrapSink(workdir)
        try:
            timings = measure(workdir, smtp, trapd, count, interval)
        finally:
            trapd.stop()
            smtp.controller.stop()
    fired = timings.fired
    smtp_ms, snmp_ms = latencies(fired, smtp.arrivals), latencies(fired, trapd.arrivals)
    result: dict[str, Any] = {"alerts": count, "interval_ms": round(interval * 1000, 1), "warmup": WARMUP}
    result.update(summary("smtp", smtp_ms))
    result.update(summary("snmp", snmp_ms))
    result.update(summary("baseline_smtp", latencies(timings.direct.smtp_starts, smtp.arrivals)))
    result.update(summary("baseline_snmp", latencies(timings.direct.snmp_starts, trapd.arrivals)))
    result.update(summary("inject_to_fire", [(fired[s] - timings.injected[s]) * 1000 for s in fired]))
    for kind in ("smtp", "snmp"):
        for q in ("p50", "p99"):
            base = result[f"baseline_{kind}_{q}_ms"]
            mine = result[f"{kind}_{q}_ms"]
            result[f"{kind}_{q}_ratio"] = round(mine / base, 2) if mine is not None and base else None
    result["fired"] = len(fired)
    result["smtp_missing"] = count - len(smtp_ms)
    result["snmp_missing"] = count - len(snmp_ms)
    result["target_p99_ms"] = TARGET_P99_MS
    result["loadavg_1m"] = round(os.getloadavg()[0], 2)
    result["cpus"] = os.cpu_count()
    result["python"] = sys.version.split()[0]
    return result


def cell(value: float | None) -> str:
    return f"{value:>10.2f}" if value is not None else f"{'-':>10}"


def report(result: dict[str, Any]) -> None:
    print(f"{result['alerts']} alerts (+{result['warmup']} warm-up), one every {result['interval_ms']:g} ms, each "
          f"its own notification (group_wait 0s, group_by ['...']); {result['fired']} fired; load average "
          f"{result['loadavg_1m']} on {result['cpus']} CPUs")
    print(f"{'':26}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    rows = [("faultmgr -> SMTP accept", "smtp"), ("aiosmtplib direct", "baseline_smtp"),
            ("faultmgr -> snmptrapd", "snmp"), ("pysnmp direct", "baseline_snmp"),
            ("inject request -> fire", "inject_to_fire")]
    for label, key in rows:
        print(f"{label:26}{cell(result[f'{key}_p50_ms'])}{cell(result[f'{key}_p99_ms'])}"
              f"{cell(result[f'{key}_max_ms'])}")
    for kind in ("smtp", "snmp"):
        p99 = result[f"{kind}_p99_ms"]
        met = "met" if p99 is not None and p99 < TARGET_P99_MS else "NOT met"
        print(f"{kind}: faultmgr / direct = {result[f'{kind}_p50_ratio']}x at p50, {result[f'{kind}_p99_ratio']}x "
              f"at p99; lost {result[f'{kind}_missing']}; target p99 < {TARGET_P99_MS:g} ms {met}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (50 alerts)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--alerts", type=int, default=None, help="alerts (default 400, quick 50)")
    parser.add_argument("--interval", type=float, default=0.1,
                        help="seconds between injected events (default 0.1: wider than one SMTP exchange, so the "
                             "figures are latency, not a queue)")
    args = parser.parse_args(argv)
    count = args.alerts or (50 if args.quick else 400)
    result = run(count, args.interval)
    if args.json:
        print(json.dumps(result))
    else:
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
