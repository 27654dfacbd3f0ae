"""The HTTP API's cost: injecting events, listing alerts, scraping metrics and the live feed's delay.

A real daemon (``faultmgr run`` in a subprocess) with one ``external`` detector, one rule, a ``log``
receiver and the ``api:`` section on a loopback port. Each figure is set beside the same operation through
the daemon's local control socket (one Unix-socket request per operation, as ``faultmgr inject`` and
``faultmgr alerts`` do) measured in the same run; ratios are API / control socket.

* inject: N events, one at a time (``POST /api/v1/events`` over one keep-alive connection, token checked,
  body validated) vs the control socket's ``inject``; per-request latency p50/p99 and events/s.
* feed: from sending an injected event to its frame arriving on ``/api/v1/stream`` (p50/p99).
* alerts: listing M firing alerts (``GET /api/v1/alerts``) vs the control socket's ``alerts``.
* metrics: one ``/metrics`` scrape with M firing alerts.

    python bench/api.py [--quick] [--json] [--events N] [--alerts M]
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from faultmgr.control import request as control

FAULTMGR = str(Path(sys.executable).with_name("faultmgr"))
TOKEN = "bench-admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(work: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    tokens = work / "tokens"
    tokens.write_text(f"bench admin {TOKEN}\n")
    tokens.chmod(0o600)
    port = free_port()
    config = work / "faultmgr.yaml"
    config.write_text(f"""\
daemon: {{state_dir: {work / 'state'}, node: bench}}
detectors: {{ext: {{type: external}}}}
receivers: {{sink: {{type: log, path: {work / 'notify.log'}, group_wait: 1h, group_by: [rule]}}}}
rules:
  down: {{match: {{kind: app.down}}, severity: critical, notify: [sink]}}
api: {{listen: "127.0.0.1:{port}", tokens_file: {tokens}}}
""")
    proc = subprocess.Popen([FAULTMGR, "run", "-c", str(config)], stdout=(work / "daemon.log").open("wb"),
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/api/v1/openapi.json", timeout=1).ok:
                return proc, url, work / "state" / "control.sock"
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"daemon did not start: {(work / 'daemon.log').read_text()}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(calls: int, call: Any) -> list[float]:
    out = []
    for i in range(calls):
        started = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


class Feed(threading.Thread):
    """Reads /api/v1/stream and records when each subject's event arrives."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.seen, self.ready = url, {}, threading.Event()  # type: ignore[var-annotated]

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with requests.get(self.url + "/api/v1/stream?kinds=event", headers=headers, stream=True, timeout=600) as r:
            self.ready.set()
            for raw in r.iter_lines(decode_unicode=True):
                line = raw if isinstance(raw, str) else raw.decode()
                if line.startswith("data: "):
                    self.seen[json.loads(line[6:])["subject"]] = time.perf_counter()


def run(events: int, alerts: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="faultmgr-bench-api-") as tmp:
        proc, url, sock = start(Path(tmp))
        try:
            return measure(url, sock, events, alerts)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def measure(url: str, sock: Path, events: int, alerts: int) -> dict[str, Any]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    feed = Feed(url)
    feed.start()
    feed.ready.wait(10)
    sent: dict[str, float] = {}

    def via_api(i: int) -> None:
        subject = f"api-{i}"
        sent[subject] = time.perf_counter()
        r = session.post(url + "/api/v1/events", json={"kind": "app.note", "source": "ext", "subject": subject})
        assert r.status_code == 202, r.text

    def via_control(i: int) -> None:
        control(sock, "inject", event={"kind": "app.note", "source": "ext", "subject": f"ctl-{i}"})

    warm = max(10, events // 20)
    timed(warm, lambda i: via_api(events + i))
    timed(warm, lambda i: via_control(events + i))
    api_ms, ctl_ms = [], []
    for half in range(2):  # interleave halves so both paths see the same machine state
        api_ms += timed(events // 2, lambda i, h=half: via_api(h * events // 2 + i))
        ctl_ms += timed(events // 2, lambda i, h=half: via_control(h * events // 2 + i))
    time.sleep(1.0)
    feed_ms = [(feed.seen[s] - t) * 1000 for s, t in sent.items() if s in feed.seen and int(s[4:]) < events]

    for i in range(alerts):
        session.post(url + "/api/v1/events", json={"kind": "app.down", "source": "ext", "subject": f"down-{i}",
                                                   "severity": "critical"})
    deadline = time.monotonic() + 60
    while len(session.get(url + "/api/v1/alerts").json()["alerts"]) < alerts and time.monotonic() < deadline:
        time.sleep(0.2)
    rounds = 20
    list_api = timed(rounds, lambda i: session.get(url + "/api/v1/alerts").json())
    list_ctl = timed(rounds, lambda i: control(sock, "alerts"))
    scrape = timed(rounds, lambda i: session.get(url + "/metrics").text)
    return {
        "events": events, "alerts": alerts,
        "inject_api_p50_ms": round(pct(api_ms, 0.5), 3), "inject_api_p99_ms": round(pct(api_ms, 0.99), 3),
        "inject_control_p50_ms": round(pct(ctl_ms, 0.5), 3), "inject_control_p99_ms": round(pct(ctl_ms, 0.99), 3),
        "inject_api_per_s": round(1000 / statistics.mean(api_ms), 1),
        "inject_control_per_s": round(1000 / statistics.mean(ctl_ms), 1),
        "inject_ratio_p50": round(pct(api_ms, 0.5) / pct(ctl_ms, 0.5), 2),
        "feed_seen": len(feed_ms), "feed_p50_ms": round(pct(feed_ms, 0.5), 3) if feed_ms else None,
        "feed_p99_ms": round(pct(feed_ms, 0.99), 3) if feed_ms else None,
        "alerts_api_p50_ms": round(pct(list_api, 0.5), 3), "alerts_control_p50_ms": round(pct(list_ctl, 0.5), 3),
        "alerts_ratio_p50": round(pct(list_api, 0.5) / pct(list_ctl, 0.5), 2),
        "metrics_scrape_p50_ms": round(pct(scrape, 0.5), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--events", type=int, help="events injected through each path (default 2000)")
    parser.add_argument("--alerts", type=int, help="firing alerts listed (default 1000)")
    args = parser.parse_args()
    events = args.events or (100 if args.quick else 2000)
    alerts = args.alerts or (50 if args.quick else 1000)
    result = run(events, alerts)
    if args.json:
        print(json.dumps(result))
        return
    print(f"inject, one at a time ({events} events): API p50 {result['inject_api_p50_ms']} ms "
          f"p99 {result['inject_api_p99_ms']} ms ({result['inject_api_per_s']}/s); control socket p50 "
          f"{result['inject_control_p50_ms']} ms p99 {result['inject_control_p99_ms']} ms "
          f"({result['inject_control_per_s']}/s); ratio p50 {result['inject_ratio_p50']}")
    print(f"live feed, send to frame: p50 {result['feed_p50_ms']} ms, p99 {result['feed_p99_ms']} ms "
          f"({result['feed_seen']} seen)")
    print(f"list {alerts} firing alerts: API p50 {result['alerts_api_p50_ms']} ms; control socket p50 "
          f"{result['alerts_control_p50_ms']} ms; ratio {result['alerts_ratio_p50']}")
    print(f"/metrics scrape with {alerts} firing alerts: p50 {result['metrics_scrape_p50_ms']} ms")


if __name__ == "__main__":
    main()
