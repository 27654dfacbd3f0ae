"""Engine benchmark: events per second through 1,000 rules into alerts, and the p99 latency from an event's
arrival to its notification being handed to the notifier, beside a plain loop that only matches the same
events against the same rules (the floor).

No real I/O: the engine journals into an in-memory SQLite database (``Journal(None)``) and hands
notifications to a sink that only timestamps them. The loop is closed (the next event arrives when the
engine is done with the previous one), so the latency is the engine's own work, no queueing. The receiver
pages at once (``group_wait: 0s``, ``group_interval: 0s``, every alert its own group), so both firing and
resolved notifications are handed over inside ``Engine.ingest``; ``Engine.tick`` runs every 250 ms as in the
daemon, and its cost counts in the throughput.

The event mix, over ten subjects per rule: 25 % new failures, 30 % repeats of a failure, 25 % recoveries,
20 % events no rule wants (informational kinds, recoveries of healthy subjects). Rules (``--kinds`` distinct
failure kinds, 20 by default, so about 50 rules share a kind): exact kinds with subject globs, label
matchers (``=~``, ``!=``), payload conditions, Monit-style counts, and one in twenty with a globbed kind.

Besides wall-clock figures it reports CPU-time ones (``events_per_cpu_s``, ``p99_cpu_ms``): on a shared
machine other processes preempt the pinned core, which inflates wall-clock latency and deflates wall-clock
rates; the floor/engine ratios use CPU-time rates for that reason.

    python bench/engine.py                  # 1,000 rules, 300,000 events, best of 3 (60 s budget per run)
    python bench/engine.py --quick          # 50,000 events, one run, 10 s budget (well under a minute)
    python bench/engine.py --json           # one JSON object on stdout
    python bench/engine.py --profile        # also where the engine's time goes (cProfile, on stderr)
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faultmgr.alert import AlertView, Notification
from faultmgr.clock import SystemClock
from faultmgr.config.build import Config, load
from faultmgr.engine.engine import Engine
from faultmgr.engine.journal import Journal
from faultmgr.event import Event, Severity
from faultmgr.plugin.manager import Plugins, load_plugins

TARGET_EVENTS_PER_S = 20_000
TARGET_P99_MS = 10.0
TICK = 0.25
SUBJECTS_PER_RULE = 10
# Detector families (detector name, kind prefix) and their checks: kind ``probe.http.failed`` recovers with
# ``probe.http.ok`` (same kind family) and has the informational ``probe.http.latency``.
FAMILIES = [("probes", "probe"), ("services", "service"), ("hb", "heartbeat"), ("disks", "fs"), ("vips", "vip")]
CHECKS = ["http", "dns", "tcp", "smtp", "ping", "sip", "mount", "link", "raid", "arp", "path", "quorum"]
Spec = tuple[str, str, str, Severity, dict[str, str], dict[str, Any]]


# -- the workload -------------------------------------------------------------------------------------
def kind_of(index: int, kinds: int) -> tuple[str, str]:
    """(detector, kind stem) of rule ``index``: ``kinds`` distinct failure kinds, spread over the families."""
    j = index % kinds
    source, prefix = FAMILIES[j % len(FAMILIES)]
    return source, f"{prefix}.{CHECKS[(j // len(FAMILIES)) % len(CHECKS)]}{j // (len(FAMILIES) * len(CHECKS)) or ''}"


def rule_section(index: int, kinds: int) -> dict[str, Any]:
    """Rule ``index``: one failure kind, the subjects ``<stem>-<group>-*``. By group: 70 % plain, 10 % label
    matchers, 10 % payload conditions, 5 % a globbed kind, 5 % Monit-style counts."""
    source, stem = kind_of(index, kinds)
    group = index // kinds
    match: dict[str, Any] = {"kind": f"{stem}.failed", "source": source, "subject": f"{stem}-{group:03d}-*"}
    section: dict[str, Any] = {"match": match, "notify": ["pager"],
                               "annotations": {"summary": "{rule}: {subject} ({labels.node})"}}
    variant = group % 20
    if variant in (14, 15):
        match["labels"] = [f"node=~node-{group % 50:02d}", "env!=test"]
    elif variant in (16, 17):
        match["where"] = ["latency_ms > 100"]
    elif variant == 18:
        match["kind"] = stem.split(".")[0] + ".*.failed"
        match["severity"] = "warning"
    elif variant == 19:
        section["count"] = "2 within 1m"
    return section


def config_document(rules: int, kinds: int) -> dict[str, Any]:
    return {
        "detectors": {source: {"type": "external"} for source, _ in FAMILIES},
        "receivers": {"pager": {"type": "log", "group_by": ["..."], "group_wait": "0s", "group_interval": "0s"}},
        "rules": {f"rule-{i:04d}": rule_section(i, kinds) for i in range(rules)},
    }


def build_config(rules: int, kinds: int) -> tuple[Config, Plugins]:
    """The rule file written out and loaded as the daemon loads it (YAML is a superset of JSON)."""
    plugins = load_plugins()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(json.dumps(config_document(rules, kinds), indent=1))
        return load([path], plugins), plugins


def workload(rules: int, kinds: int, count: int, seed: int) -> list[Spec]:
    """``count`` events as (kind, source, subject, severity, labels, payload), from a per-subject state
    machine: healthy subjects fail, failing ones repeat or recover, and a share of noise."""
    rng = random.Random(seed)
    subjects = []
    for index in range(rules):
        source, stem = kind_of(index, kinds)
        group = index // kinds
        for k in range(SUBJECTS_PER_RULE):
            node = f"node-{group % 50:02d}" if k < SUBJECTS_PER_RULE // 2 else f"node-{rng.randrange(50):02d}"
            labels = {"node": node, "env": "test" if rng.random() < 0.1 else "prod"}
            subjects.append((source, stem, f"{stem}-{group:03d}-{k}", labels))
    healthy = list(range(len(subjects)))
    failing: list[int] = []
    out: list[Spec] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.2 or (0.2 <= roll < 0.75 and not failing) or (roll >= 0.75 and not healthy):
            # Noise: an informational event about anyone, or a recovery of a healthy subject (resolves nothing).
            if healthy and rng.random() < 0.5:
                source, stem, subject, labels = subjects[healthy[rng.randrange(len(healthy))]]
                kind, severity = f"{stem}.ok", Severity.OK
            else:
                source, stem, subject, labels = subjects[rng.randrange(len(subjects))]
                kind, severity = f"{stem}.latency", Severity.INFO
        elif roll < 0.5:
            source, stem, subject, labels = subjects[failing[rng.randrange(len(failing))]]
            kind, severity = f"{stem}.failed", Severity.CRITICAL
        elif roll < 0.75:
            pick = failing.pop(rng.randrange(len(failing)))
            healthy.append(pick)
            source, stem, subject, labels = subjects[pick]
            kind, severity = f"{stem}.ok", Severity.OK
        else:
            pick = healthy.pop(rng.randrange(len(healthy)))
            failing.append(pick)
            source, stem, subject, labels = subjects[pick]
            kind = f"{stem}.failed"
            severity = Severity.CRITICAL if rng.random() < 0.7 else Severity.WARNING
        out.append((kind, source, subject, severity, labels, {"latency_ms": rng.randrange(1000)}))
    return out


# -- the engine ---------------------------------------------------------------------------------------
class HandOver:
    """The effects sink: timestamps each notification as it is handed over, against its event's arrival."""

    def __init__(self) -> None:
        self.arrival: int | None = None
        self.arrival_cpu = 0
        self.latencies: list[int] = []
        self.cpu_latencies: list[int] = []
        self.timer_notifications = 0
        self.changes = 0

    def notify(self, notification: Notification, subject_key: str) -> None:
        if self.arrival is None:
            self.timer_notifications += 1
        else:
            self.latencies.append(time.perf_counter_ns() - self.arrival)
            self.cpu_latencies.append(time.thread_time_ns() - self.arrival_cpu)

    def run_actions(self, alert: AlertView, actions: list[str], event: Event | None, resolved: bool) -> None:
        pass

    def alert_changed(self, alert: AlertView, change: str) -> None:
        self.changes += 1


def percentile(values: list[int], share: float) -> float:
    """The ``share`` quantile of nanosecond ``values``, in milliseconds."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] / 1e6


def new_engine(config: Config, plugins: Plugins) -> tuple[Engine, HandOver]:
    """An engine as the daemon builds it (its plugin hooks included), on an in-memory journal."""
    sink = HandOver()
    return Engine(config, Journal(None), sink, SystemClock(), plugins.hook), sink


def run_engine(built: tuple[Engine, HandOver], specs: list[Spec], warmup: int,
               budget: float = float("inf")) -> dict[str, Any]:
    """Feed ``specs`` through a fresh engine (the first ``warmup`` uncounted); stops early once ``budget``
    seconds are spent."""
    engine, sink = built
    per_event: list[int] = []
    next_tick = time.monotonic() + TICK
    begun = start = time.perf_counter()
    cpu_begun = cpu_start = time.thread_time()
    done = len(specs)
    for n, (kind, source, subject, severity, labels, payload) in enumerate(specs):
        if n == warmup:
            sink.latencies.clear()
            sink.cpu_latencies.clear()
            per_event.clear()
            start, cpu_start = time.perf_counter(), time.thread_time()
        arrival = time.perf_counter_ns()
        sink.arrival, sink.arrival_cpu = arrival, time.thread_time_ns()
        engine.ingest(Event(kind, source, subject, severity, dict(labels), payload, time.time()))
        per_event.append(time.perf_counter_ns() - arrival)
        if not n & 63 and time.monotonic() >= next_tick:
            sink.arrival = None
            engine.tick()
            next_tick += TICK
            if time.perf_counter() - begun > budget:
                done = n + 1
                break
    if done <= warmup:  # a slow engine spent the budget warming up: count everything (floors do the same)
        start, cpu_start = begun, cpu_begun
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu_start
    measured = done - warmup if done > warmup else done
    return {"events_per_s": round(measured / elapsed), "events_per_cpu_s": round(measured / cpu),
            "events_measured": measured, "events_done": done,
            "p99_ms": round(percentile(sink.latencies, 0.99), 3),
            "p99_cpu_ms": round(percentile(sink.cpu_latencies, 0.99), 3),
            "p50_ms": round(percentile(sink.latencies, 0.5), 3),
            "max_ms": round(percentile(sink.latencies, 1.0), 3),
            "event_p99_ms": round(percentile(per_event, 0.99), 3),
            "notifications": len(sink.latencies), "timer_notifications": sink.timer_notifications,
            "alert_changes": sink.changes, "evaluations_per_event": round(engine.evaluations / done, 1),
            "firing_at_end": len(engine.alerts.firing())}


# -- the floor ----------------------------------------------------------------------------------------
def floor_matchers(config: Config, indexed: bool) -> Callable[[Event], list[Any]]:
    """The compiled condition matchers of every rule, or (indexed) those the engine's kind index selects."""
    engine = Engine(config, Journal(None), HandOver(), SystemClock())
    everything = [m for rule in engine.rules.values() for m in rule.conditions]
    if not indexed:
        return lambda _event: everything
    by_kind = {kind: [rule.conditions[i] for rule, i in pairs] for kind, pairs in engine.by_kind.items()}
    globbed = [rule.conditions[i] for rule, i in engine.globbed]
    return lambda event: by_kind.get(event.kind, []) + globbed


def run_floor(config: Config, specs: list[Spec], warmup: int, indexed: bool) -> dict[str, Any]:
    """For each event, for each candidate matcher: ``matcher.matches(event)``. Nothing else."""
    candidates = floor_matchers(config, indexed)
    warmup = warmup if len(specs) > warmup else 0
    per_event: list[int] = []
    matched = 0
    start, cpu_start = time.perf_counter(), time.thread_time()
    for n, (kind, source, subject, severity, labels, payload) in enumerate(specs):
        if n == warmup:
            per_event.clear()
            start, cpu_start = time.perf_counter(), time.thread_time()
        arrival = time.perf_counter_ns()
        event = Event(kind, source, subject, severity, dict(labels), payload, time.time())
        for matcher in candidates(event):
            if matcher.matches(event):
                matched += 1
        per_event.append(time.perf_counter_ns() - arrival)
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu_start
    return {"events_per_s": round((len(specs) - warmup) / elapsed),
            "events_per_cpu_s": round((len(specs) - warmup) / cpu),
            "p99_ms": round(percentile(per_event, 0.99), 3), "matches": matched}


def profile_engine(config: Config, plugins: Plugins, specs: list[Spec], budget: float) -> str:
    """The engine's functions by share of the run (cumulative and own time), under cProfile."""
    built = new_engine(config, plugins)  # compiling the rules is not the engine's per-event work
    profiler = cProfile.Profile()
    profiler.enable()
    run_engine(built, specs, 0, budget)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(((cum, own, calls, f"{Path(file).parent.name}/{Path(file).name}:{line}({name})")
                   for (file, line, name), (_, calls, own, cum, _) in stats.stats.items()  # type: ignore[attr-defined]
                   ), reverse=True)
    lines = [f"where the engine's time goes (cProfile, {total:.1f} s): cumulative, own, calls, function"]
    lines += [f"{100 * cum / total:6.1f}% {100 * own / total:6.1f}% {calls:>9} {name}" for cum, own, calls, name
              in rows[:30]]
    return "\n".join(lines)


def pin(cpu: int | None) -> int:
    """Run on one core (the last allowed one unless told), so the figures are one core's."""
    allowed = sorted(os.sched_getaffinity(0))
    chosen = cpu if cpu is not None else allowed[-1]
    os.sched_setaffinity(0, {chosen})
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events, one run, 10 s budget per run")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--events", type=int, help="events per run (default 300000, quick 50000)")
    parser.add_argument("--rules", type=int, default=1000, help="rules (default 1000)")
    parser.add_argument("--kinds", type=int, default=20, help="distinct failure kinds the rules use (default 20)")
    parser.add_argument("--repeat", type=int, help="runs; the fastest is reported (default 3, quick 1)")
    parser.add_argument("--budget", type=float, help="seconds per engine run before it stops early "
                        "(default 60, quick 10); events/s counts what was done")
    parser.add_argument("--seed", type=int, default=1, help="workload seed")
    parser.add_argument("--cpu", type=int, help="core to pin to (default: the last allowed)")
    parser.add_argument("--profile", action="store_true", help="print the engine's top functions (cProfile)")
    args = parser.parse_args(argv)
    events = args.events or (50_000 if args.quick else 300_000)
    repeat = args.repeat or (1 if args.quick else 3)
    budget = args.budget or (10.0 if args.quick else 60.0)
    warmup = min(events // 10, 10_000)
    cpu = pin(args.cpu)
    config, plugins = build_config(args.rules, args.kinds)
    specs = workload(args.rules, args.kinds, events + warmup, args.seed)
    gc.collect()
    gc.freeze()  # as the daemon does after start-up: the config and the workload are not the engine's garbage
    engine = max((run_engine(new_engine(config, plugins), specs, warmup, budget) for _ in range(repeat)),
                 key=lambda r: r["events_per_s"])
    same = specs[: engine.pop("events_done")]  # the floor matches the events the engine got through
    floor = max((run_floor(config, same, warmup, False) for _ in range(repeat)), key=lambda r: r["events_per_s"])
    indexed = max((run_floor(config, same, warmup, True) for _ in range(repeat)), key=lambda r: r["events_per_s"])
    result = {
        "rules": args.rules, "kinds": args.kinds, "events": events, "warmup_events": warmup, "repeat": repeat,
        "cpu": cpu, "load_average": round(os.getloadavg()[0], 2), "python": sys.version.split()[0], **engine,
        "floor_events_per_s": floor["events_per_s"], "floor_events_per_cpu_s": floor["events_per_cpu_s"],
        "floor_p99_ms": floor["p99_ms"],
        "floor_indexed_events_per_s": indexed["events_per_s"],
        "floor_indexed_events_per_cpu_s": indexed["events_per_cpu_s"], "floor_indexed_p99_ms": indexed["p99_ms"],
        "floor_matches": floor["matches"],
        # ratios of CPU-time rates: other processes on the core inflate wall-clock figures unevenly
        "floor_over_engine": round(floor["events_per_cpu_s"] / engine["events_per_cpu_s"], 2),
        "floor_indexed_over_engine": round(indexed["events_per_cpu_s"] / engine["events_per_cpu_s"], 2),
        "target_events_per_s": TARGET_EVENTS_PER_S, "target_p99_ms": TARGET_P99_MS,
        "meets_target": engine["events_per_s"] >= TARGET_EVENTS_PER_S and engine["p99_ms"] < TARGET_P99_MS,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"engine benchmark: {args.rules} rules over {args.kinds} failure kinds, "
              f"{engine['events_measured']} of {events} events measured (+{warmup} warm-up), best of {repeat}, "
              f"pinned to CPU {cpu}, load average {result['load_average']}")
        print(f"{'':34}{'events/s':>10}{'per CPU s':>11}{'p99 ms':>9}")
        for name, row, ratio in (("engine (ingest -> notify)", engine, ""),
                                 ("floor: match every rule", floor, f"floor/engine {result['floor_over_engine']}x"),
                                 ("floor: match kind-indexed rules", indexed,
                                  f"floor/engine {result['floor_indexed_over_engine']}x")):
            print(f"{name:34}{row['events_per_s']:>10,}{row['events_per_cpu_s']:>11,}{row['p99_ms']:>9.3f}   {ratio}")
        print(f"engine: p50 {engine['p50_ms']:.3f} ms, max {engine['max_ms']:.3f} ms, p99 in CPU time "
              f"{engine['p99_cpu_ms']:.3f} ms (what preemption by other processes does not inflate), "
              f"{engine['notifications']} "
              f"notifications, {engine['evaluations_per_event']} rule conditions tried per event")
        print(f"target: >= {TARGET_EVENTS_PER_S:,} events/s and p99 < {TARGET_P99_MS} ms: "
              f"{'met' if result['meets_target'] else 'NOT met'}")
    if args.profile:
        print(profile_engine(config, plugins, specs, budget), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
