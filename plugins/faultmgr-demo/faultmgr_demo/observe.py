"""What the demo sees while it runs: the daemons' journals (events and action runs, read-only), the mails
and traps the sinks received, and the client's requests. All times are wall-clock seconds (one host clock)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _rows(db: Path, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Read a daemon's journal without taking part in its writes (the daemon may be dead or busy)."""
    if not db.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)) as conn:
            return conn.execute(sql, args).fetchall()
    except sqlite3.Error:
        return []


def events(state_dir: Path, since: float, kind: str = "*") -> list[dict[str, Any]]:
    """Journalled events from ``since`` on, oldest first (the daemon writes them in batches, every second)."""
    rows = _rows(state_dir / "journal.db", "SELECT time, kind, source, subject, severity, message FROM events "
                 "WHERE time >= ? AND kind GLOB ? ORDER BY time", (since, kind))
    return [dict(zip(("time", "kind", "source", "subject", "severity", "message"), r, strict=True)) for r in rows]


def action_runs(state_dir: Path, since: float) -> list[dict[str, Any]]:
    """Action runs started from ``since`` on, oldest first (written when they start and when they end)."""
    rows = _rows(state_dir / "journal.db", "SELECT action, phase, state, detail, started_at, ended_at FROM "
                 "action_runs WHERE started_at >= ? ORDER BY started_at", (since,))
    keys = ("action", "phase", "state", "detail", "started_at", "ended_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def alerts(state_dir: Path, since: float) -> list[dict[str, Any]]:
    """Alerts that started firing from ``since`` on, oldest first: the rule that fired and its subject."""
    rows = _rows(state_dir / "journal.db", "SELECT rule, subject, severity, starts_at FROM alerts "
                 "WHERE starts_at >= ? ORDER BY starts_at", (since,))
    return [dict(zip(("rule", "subject", "severity", "starts_at"), r, strict=True)) for r in rows]


def json_lines(path: Path, since: float) -> list[dict[str, Any]]:
    """Records of a sink's file with ``time >= since``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("time", 0) >= since:
                records.append(record)
    return records


@dataclass
class ClientReport:
    """The client's view of one stretch of time."""

    requests: int
    failed: int
    interrupted_ms: float
    still_down: bool
    served_by: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, milliseconds rounded."""
        return {"requests": self.requests, "failed": self.failed, "interrupted_ms": round(self.interrupted_ms),
                "still_down": self.still_down, "served_by": self.served_by}


def client_report(path: Path, start: float, end: float) -> ClientReport:
    """Requests started between ``start`` and ``end``. The interruption runs from the last answered request
    before the first failure to the first answered request after the last failure (to ``end`` when none
    came): the gap in answers, as a user sees it; a partly failing pool counts as interrupted for as long as
    some requests fail."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        lines = []
    requests = failed = 0
    last_ok: float | None = None
    gap_from: float | None = None
    recovered: float | None = None
    failing = False
    served: dict[str, int] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        stamp, ok, who = float(parts[0]), parts[1] == "1", parts[2]
        if not start <= stamp <= end:
            continue
        requests += 1
        if ok:
            served[who] = served.get(who, 0) + 1
            if failing:
                recovered, failing = stamp, False
            last_ok = stamp
        else:
            failed += 1
            if gap_from is None:
                gap_from = last_ok if last_ok is not None else stamp
            failing, recovered = True, None
    if gap_from is None:
        return ClientReport(requests, 0, 0.0, False, served)
    until = end if failing else (recovered or end)
    return ClientReport(requests, failed, max(0.0, until - gap_from) * 1000, failing, served)
