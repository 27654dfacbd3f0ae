"""Failover benchmark: faultmgr side by side with keepalived in the same network lab (needs root).

Each run builds the lab of tests/plugins/faultmgr-vip/lab.py (heads, client, watcher on one bridge), starts
the contender in both heads (head-a preferred), lets it settle with the client polling a TCP service on the
VIP every few milliseconds, then cuts head-a's link. The outage is the longest gap between two answered
connections across the cut. A false failover is the VIP moving (or being held twice) before the cut.

    python bench/failover.py              # three settings (1 s, 100 ms, 50 ms), 5 runs each
    python bench/failover.py --quick      # 100 ms only, 3 runs each (under two minutes)
    python bench/failover.py --json       # one JSON object on stdout
    python bench/failover.py --only keepalived
    python bench/failover.py --hog-seconds 300   # robustness: false alarms under a CPU hog on every core

Timing is matched: keepalived ``advert_int T`` (VRRPv3 below one second) against faultmgr ``keepalive T,
deadtime 3T`` (VRRP declares the master down after three missed adverts plus a skew).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAB_DIR = ROOT / "tests" / "plugins" / "faultmgr-vip"
PORT = 18080
# keepalived below one second needs VRRPv3 (centisecond adverts); 50 ms is the fast target.
SETTINGS = {"1s": 1.0, "100ms": 0.1, "50ms": 0.05}
DEBUG = False


def load(name: str, filename: str) -> Any:
    """A module of the lab, loaded from the test suite by path (it is not an installed package)."""
    spec = importlib.util.spec_from_file_location(name, LAB_DIR / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


L = load("faultmgr_vip_lab", "lab.py")
D = load("faultmgr_vip_lab_daemons", "lab_daemons.py")


class Keepalived:
    """keepalived (VRRP only) in each head; head-a is MASTER with the higher priority."""

    name = "keepalived"

    @staticmethod
    def available() -> str | None:
        return None if shutil.which("keepalived") else "keepalived not installed (Debian package keepalived)"

    def start(self, lab: Any, interval: float, workdir: Path, deadtime: float | None = None) -> None:
        """``deadtime`` is ignored: VRRP's master-down timer is three adverts plus a skew."""
        for node, state, prio in (("head-a", "MASTER", 150), ("head-b", "BACKUP", 100)):
            conf = workdir / f"keepalived-{node}.conf"
            conf.write_text(f"""
global_defs {{
    router_id {node}
    vrrp_version {3 if interval < 1 else 2}
    enable_script_security
}}
vrrp_instance VI_1 {{
    state {state}
    interface eth0
    virtual_router_id 51
    priority {prio}
    advert_int {interval:g}
    virtual_ipaddress {{
        {L.VIP4} dev eth0
    }}
}}
""")
            lab.spawn(node, "keepalived", "-n", "-l", "-P", "-f", str(conf), "-p", str(workdir / f"{node}.pid"),
                      "-r", str(workdir / f"{node}-vrrp.pid"), "-c", str(workdir / f"{node}-check.pid"),
                      log=workdir / f"keepalived-{node}.log")

    @staticmethod
    def false_alarms(workdir: Path) -> int:
        """Times the backup became master (with the master alive, each is a false failover)."""
        return (workdir / "keepalived-head-b.log").read_text(errors="replace").count("Entering MASTER STATE")


class Faultmgr:
    """faultmgr daemons in both heads (lab_daemons.py): heartbeat on the segment only, as VRRP; the standby's
    rule runs vip.takeover when the primary is dead, behind the split-brain guard (dead on every path, client
    and watcher answer pings); head-a is the preferred holder. keepalive T, deadtime 3 T."""

    name = "faultmgr"

    @staticmethod
    def available() -> str | None:
        return D.daemon_available()

    def start(self, lab: Any, interval: float, workdir: Path, deadtime: float | None = None) -> None:
        deadtime = deadtime or 3 * interval
        timing = D.Timing(keepalive=interval, deadtime=deadtime, initdead=max(deadtime, 2.0))
        self.cluster = D.Cluster(lab, workdir, L.VIP4, timing=timing, xover=False)
        self.cluster.write(L.ip4)
        for node in ("head-a", "head-b"):
            self.cluster.start(node)

    def false_alarms(self, workdir: Path) -> int:
        """heartbeat.peer.dead events journalled by either head (with both alive, each is false)."""
        count = 0
        for node in ("head-a", "head-b"):
            proc = subprocess.run([D.faultmgr_program(), "history", "-c", str(self.cluster.config_path(node)),
                                   "--kind", "heartbeat.peer.dead", "--json", "-n", "1000"],
                                  capture_output=True, text=True, timeout=60)
            if proc.returncode != 0:
                raise RuntimeError(f"faultmgr history: {proc.stderr.strip()}")
            count += len(json.loads(proc.stdout or "[]"))
        return count


def hog_run(lab_mod: Any, contender: Any, seconds: float, interval: float = 0.1, deadtime: float = 0.5) -> int:
    """Both heads up, every core kept busy by a CPU hog for ``seconds``: false peer-dead alarms counted."""
    with tempfile.TemporaryDirectory(prefix="failover-hog-") as tmp, lab_mod.Lab() as lab:
        contender.start(lab, interval, Path(tmp), deadtime=deadtime)
        if not lab_mod.wait_for(lambda: lab.has_address("head-a", L.VIP4), timeout=20, interval=0.1):
            raise RuntimeError(f"{contender.name}: head-a never took the VIP")
        time.sleep(2.5)  # past initdead: both sides have heard each other
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
        try:
            time.sleep(seconds)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        time.sleep(1.5)  # the journal is flushed every second
        return int(contender.false_alarms(Path(tmp)))


def one_run(lab_mod: Any, contender: Any, interval: float) -> dict[str, Any]:
    """One lab, one cut: the client's outage and whether the VIP moved before the cut."""
    with tempfile.TemporaryDirectory(prefix="failover-") as tmp, lab_mod.Lab() as lab:
        lab.serve(PORT)
        contender.start(lab, interval, Path(tmp))
        if not lab_mod.wait_for(lambda: lab.has_address("head-a", L.VIP4), timeout=20, interval=0.1):
            logs = "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-3000:]}" for p in Path(tmp).rglob("*.log"))
            raise RuntimeError(f"{contender.name}: head-a never took the VIP\n{logs}")
        # A connect to a dead holder only ends at its timeout: keep it short so the gap is measured finely.
        poller = lab.poller(L.VIP4, PORT, interval_ms=5, timeout_ms=15)
        time.sleep(max(1.5, 3 * interval))
        moved_early = lab.has_address("head-b", L.VIP4)
        lab.cut("head-a")
        # The link is down somewhere during the `ip` command; its end is the safe reference point.
        cut_at = time.monotonic()
        took = lab_mod.wait_for(lambda: lab.has_address("head-b", L.VIP4), timeout=30, interval=0.02)
        # Let the client see the new holder for a while, so the gap is closed on the far side.
        time.sleep(1.0)
        report = poller.stop()
        report["cut_at"] = cut_at
        if DEBUG:
            print(json.dumps(report), file=sys.stderr)
    early_changes = [c for c in report["changes"][1:] if c[0] < cut_at]
    after = [c for c in report["changes"] if c[0] >= cut_at]
    outage = None
    if took and after and report["gap_from"] is not None and report["gap_from"] <= cut_at <= report["gap_end"]:
        outage = round(report["longest_gap_ms"], 1)
    return {"outage_ms": outage, "false_failover": bool(moved_early or early_changes),
            "served_by_after": report["last"], "ok": report["ok"], "failed": report["failed"]}


def bench_setting(lab_mod: Any, contenders: list[Any], label: str, interval: float, runs: int,
                  log: Any) -> dict[str, Any]:
    """``runs`` runs of each contender at one setting; medians and the faultmgr/keepalived ratio."""
    result: dict[str, Any] = {"interval_s": interval}
    for contender in contenders:
        outages, false = [], 0
        for i in range(runs):
            run = one_run(lab_mod, contender, interval)
            false += run["false_failover"]
            if run["outage_ms"] is not None:
                outages.append(run["outage_ms"])
            log(f"  {label} {contender.name} run {i + 1}/{runs}: outage {run['outage_ms']} ms, "
                f"served by {run['served_by_after']}, false failover {run['false_failover']}")
        result[f"{contender.name}_ms"] = statistics.median(outages) if outages else None
        result[f"{contender.name}_runs_ms"] = outages
        result[f"{contender.name}_false_failovers"] = false
    result["false_failovers"] = sum(result.get(f"{c.name}_false_failovers", 0) for c in contenders)
    fm, ka = result.get("faultmgr_ms"), result.get("keepalived_ms")
    result["ratio"] = round(fm / ka, 3) if fm and ka else None
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 ms setting only, 3 runs per contender")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs per contender and setting (default 5, --quick 3; 0: robustness only)")
    parser.add_argument("--only", choices=["faultmgr", "keepalived"], help="run one contender")
    parser.add_argument("--hog-seconds", type=float, default=None,
                        help="robustness: seconds of CPU hog on every core with keepalive 100ms, deadtime 500ms "
                             "(default 180, --quick 20, 0 to skip)")
    args = parser.parse_args()
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.json else print
    settings = {"100ms": 0.1} if args.quick else SETTINGS
    runs = args.runs if args.runs is not None else (3 if args.quick else 5)
    contenders: list[Any] = []
    skipped: dict[str, str] = {}
    for cls in (Faultmgr, Keepalived):
        if args.only and cls.name != args.only:
            continue
        why = cls.available()
        if why:
            skipped[cls.name] = why
            log(f"skipping {cls.name}: {why}")
        else:
            contenders.append(cls())
    L.remove_stale()
    out: dict[str, Any] = {"runs": runs, "settings": {}, "skipped": skipped}
    for label, interval in settings.items() if runs > 0 else ():
        out["settings"][label] = bench_setting(L, contenders, label, interval, runs, log)
    hog = args.hog_seconds if args.hog_seconds is not None else (20.0 if args.quick else 180.0)
    if hog > 0:
        robust: dict[str, Any] = {"hog_s": hog, "keepalive_s": 0.1, "deadtime_s": 0.5}
        for contender in contenders:
            robust[f"{contender.name}_false_alarms"] = hog_run(L, contender, hog)
            log(f"  CPU hog {hog:g}s: {contender.name} false alarms {robust[f'{contender.name}_false_alarms']}")
        out["robustness"] = robust
    if args.json:
        print(json.dumps(out))
    else:
        print(f"\n{'setting':>8} {'faultmgr ms':>12} {'keepalived ms':>14} {'ratio':>6} {'false':>6}")
        for label, r in out["settings"].items():
            print(f"{label:>8} {r.get('faultmgr_ms')!s:>12} {r.get('keepalived_ms')!s:>14} {r['ratio']!s:>6} "
                  f"{r['false_failovers']:>6}")
        if "robustness" in out:
            r = out["robustness"]
            alarms = ", ".join(f"{k.removesuffix('_false_alarms')} {v}" for k, v in r.items() if k.endswith("alarms"))
            print(f"CPU hog on every core for {r['hog_s']:g}s (keepalive 100ms, deadtime 500ms): false alarms: {alarms}")
        for name, why in skipped.items():
            print(f"({name} skipped: {why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
