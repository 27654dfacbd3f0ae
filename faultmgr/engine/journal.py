"""The journal: one SQLite database (WAL) holding events, alerts, action runs, the notification outbox,
silences and the record of control actions (who acknowledged, silenced, reloaded).

All access goes through this class, from the event loop's thread. Events are written in batches (they are
many and individually cheap to lose on a crash: the detector re-reports state); alerts, action runs and the
outbox are committed at once, because they are what must survive a crash.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from faultmgr import jsontext
from faultmgr.event import Event
from faultmgr.store import KeyValueStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,
    subject TEXT NOT NULL, severity TEXT NOT NULL, message TEXT NOT NULL, labels TEXT NOT NULL,
    payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE, rule TEXT NOT NULL, subject TEXT NOT NULL,
    state TEXT NOT NULL, severity TEXT NOT NULL, firing INTEGER NOT NULL, starts_at REAL NOT NULL,
    ends_at REAL, updated_at REAL NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS action_runs (
    id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, firing INTEGER NOT NULL, action TEXT NOT NULL,
    phase TEXT NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', started_at REAL NOT NULL,
    ended_at REAL, UNIQUE (fingerprint, firing, action, phase));
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, receiver TEXT NOT NULL, dedup_key TEXT NOT NULL, subject_key TEXT NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, last_error TEXT NOT NULL DEFAULT '', receipt TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, receiver, id);
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY, matchers TEXT NOT NULL, starts_at REAL NOT NULL, ends_at REAL NOT NULL,
    author TEXT NOT NULL, comment TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS control_log (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '');
"""

EVENT_BATCH = 256


class Journal:
    """The daemon's database. ``path=None`` keeps it in memory (``simulate``, tests, benchmarks)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(path, 0o600)
        self.db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False,
                                  isolation_level=None)
        self.lock = threading.RLock()
        # auto_vacuum can only be chosen before the first table exists. A new journal gets INCREMENTAL, so
        # retention can hand freed pages back to the file system; a journal made by an older version keeps NONE:
        # the byte bound still holds what it keeps, and freed pages are reused, but the file does not shrink.
        if self.db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0:
            self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        if path is not None:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            for suffix in ("-wal", "-shm"):
                side = Path(f"{path}{suffix}")
                if side.exists():
                    os.chmod(side, 0o600)
        self.db.executescript(SCHEMA)
        #: whether the file can shrink (see :meth:`shrink`)
        self.incremental = self.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        self.store = KeyValueStore(self.db, self.lock)
        self._pending_events: list[tuple[Any, ...]] = []
        self._next_event_id = (self.db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]) + 1

    # -- events ---------------------------------------------------------------------------------------
    def record_event(self, event: Event) -> int:
        """Give the event an id and queue it for the next batch write."""
        event.id = self._next_event_id
        self._next_event_id += 1
        self._pending_events.append((event.id, event.time, event.kind, event.source, event.subject,
                                     str(event.severity), event.message, jsontext.dumps(event.labels),
                                     jsontext.dumps(event.payload)))
        if len(self._pending_events) >= EVENT_BATCH:
            self.flush_events()
        return event.id

    def flush_events(self) -> None:
        if not self._pending_events:
            return
        rows, self._pending_events = self._pending_events, []
        with self.lock:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", rows)
            self.db.execute("COMMIT")

    def events(self, *, kind: str | None = None, subject: str | None = None, source: str | None = None,
               since: float | None = None, until: float | None = None, limit: int = 100,
               before_id: int | None = None) -> list[dict[str, Any]]:
        """Events, newest first, filtered (``kind`` and ``subject`` accept SQL-free globs: ``*`` and ``?``)."""
        self.flush_events()
        where: list[str] = []
        args: list[object] = []
        for column, value in (("kind", kind), ("subject", subject), ("source", source)):
            if value:
                where.append(f"{column} GLOB ?")
                args.append(value)
        if since is not None:
            where.append("time >= ?")
            args.append(since)
        if until is not None:
            where.append("time <= ?")
            args.append(until)
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        sql = "SELECT id, time, kind, source, subject, severity, message, labels, payload FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self.lock:
            rows = self.db.execute(sql, args).fetchall()
        return [{"id": r[0], "time": r[1], "kind": r[2], "source": r[3], "subject": r[4], "severity": r[5],
                 "message": r[6], "labels": jsontext.loads(r[7]), "payload": jsontext.loads(r[8])} for r in rows]

    # -- alerts ---------------------------------------------------------------------------------------
    def save_alert(self, data: dict[str, Any]) -> int:
        """Insert or update an alert by fingerprint; returns its id."""
        with self.lock:
            row = self.db.execute(
                "INSERT INTO alerts (fingerprint, rule, subject, state, severity, firing, starts_at, ends_at, "
                "updated_at, data) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (fingerprint) DO UPDATE SET "
                "rule=excluded.rule, subject=excluded.subject, state=excluded.state, severity=excluded.severity, "
                "firing=excluded.firing, starts_at=excluded.starts_at, ends_at=excluded.ends_at, "
                "updated_at=excluded.updated_at, data=excluded.data RETURNING id",
                (data["fingerprint"], data["rule"], data["subject"], data["state"], data["severity"],
                 data["firing"], data["starts_at"], data.get("ends_at"), data["updated_at"],
                 jsontext.dumps(data))).fetchone()
        return int(row[0])

    def set_alert_notified(self, fingerprint: str, notified: list[str]) -> None:
        """Update only the receivers an alert's page was written for (SQLite's JSON functions: the rest of
        the record is not re-encoded)."""
        with self.lock:
            self.db.execute("UPDATE alerts SET data=json_set(data, '$.notified', json(?)) WHERE fingerprint=?",
                            (jsontext.dumps(notified), fingerprint))

    def alert(self, *, fingerprint: str | None = None, alert_id: int | None = None) -> dict[str, Any] | None:
        """One alert by fingerprint or id (indexed look-ups)."""
        column, value = ("fingerprint", fingerprint) if fingerprint is not None else ("id", alert_id)
        with self.lock:
            row = self.db.execute(f"SELECT id, data FROM alerts WHERE {column}=?", (value,)).fetchone()
        if row is None:
            return None
        item: dict[str, Any] = jsontext.loads(row[1])
        item["id"] = row[0]
        return item

    def alerts(self, states: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.execute("SELECT id, data FROM alerts ORDER BY id").fetchall()
        out = []
        for alert_id, data in rows:
            item = jsontext.loads(data)
            item["id"] = alert_id
            if states is None or item["state"] in states:
                out.append(item)
        return out

    def paged_since(self, receiver: str, fingerprint: str, since: float, status: str) -> bool:
        """Whether the outbox holds a notification to ``receiver`` written since ``since`` that carries the
        alert ``fingerprint`` in state ``status`` (the outbox is the truth about what was paged)."""
        with self.lock:
            rows = self.db.execute("SELECT payload FROM outbox WHERE receiver=? AND created_at >= ? AND payload "
                                   "LIKE ?", (receiver, since, f'%{fingerprint}%')).fetchall()
        for (payload,) in rows:
            try:
                alerts = jsontext.loads(payload).get("alerts", [])
            except ValueError:
                continue
            if any(a.get("fingerprint") == fingerprint and a.get("state") == status for a in alerts):
                return True
        return False

    # -- action runs ----------------------------------------------------------------------------------
    def claim_action(self, fingerprint: str, firing: int, action: str, phase: str, now: float) -> bool:
        """Record that an action starts; false when it already ran (or started) for this firing."""
        with self.lock:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO action_runs (fingerprint, firing, action, phase, state, started_at) "
                "VALUES (?,?,?,?, 'started', ?)", (fingerprint, firing, action, phase, now))
        return cur.rowcount == 1

    def finish_action(self, fingerprint: str, firing: int, action: str, phase: str, state: str, detail: str,
                      now: float) -> None:
        with self.lock:
            self.db.execute("UPDATE action_runs SET state=?, detail=?, ended_at=? WHERE fingerprint=? AND "
                            "firing=? AND action=? AND phase=?", (state, detail[:2000], now, fingerprint, firing,
                                                                  action, phase))

    def interrupted_actions(self) -> int:
        """Runs that were in progress when the daemon died: never repeated, marked ``interrupted``."""
        with self.lock:
            return self.db.execute("UPDATE action_runs SET state='interrupted' WHERE state='started'").rowcount

    def action_runs(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.execute("SELECT fingerprint, firing, action, phase, state, detail, started_at, ended_at "
                                   "FROM action_runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        keys = ("fingerprint", "firing", "action", "phase", "state", "detail", "started_at", "ended_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # -- control log ----------------------------------------------------------------------------------
    def record_control(self, who: str, action: str, target: str, detail: str, now: float) -> None:
        with self.lock:
            self.db.execute("INSERT INTO control_log (time, who, action, target, detail) VALUES (?,?,?,?,?)",
                            (now, who, action, target, detail))

    def control_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.execute("SELECT time, who, action, target, detail FROM control_log ORDER BY id DESC "
                                   "LIMIT ?", (limit,)).fetchall()
        return [dict(zip(("time", "who", "action", "target", "detail"), r, strict=True)) for r in rows]

    # -- retention ------------------------------------------------------------------------------------
    def apply_retention(self, now: float, max_age: float, max_events: int, max_bytes: int = 0,
                        flush: bool = True) -> int:
        """Delete events older than ``max_age`` and beyond the newest ``max_events``; also finished outbox
        rows, resolved alerts, finished or interrupted action runs and control-log entries past the age; then
        the oldest events until the data fits in ``max_bytes`` (0: no byte bound); then give freed pages back
        (:meth:`shrink`). Returns the number of events deleted."""
        if flush:  # from another thread the caller flushes first, on the thread that records events
            self.flush_events()
        cutoff = now - max_age
        with self.lock:
            deleted = self.db.execute("DELETE FROM events WHERE time < ?", (cutoff,)).rowcount
            deleted += self.db.execute("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?",
                                       (max_events,)).rowcount
            self.db.execute("DELETE FROM outbox WHERE state IN ('done', 'dead', 'forwarded', 'dropped') AND "
                            "updated_at < ?", (cutoff,))
            self.db.execute("DELETE FROM alerts WHERE state='resolved' AND updated_at < ?", (cutoff,))
            # An interrupted run never ends; its start dates it. A 'started' run is never deleted: it is what
            # stops a restart from running the action again.
            self.db.execute("DELETE FROM action_runs WHERE (ended_at IS NOT NULL AND ended_at < ?) OR "
                            "(state='interrupted' AND started_at < ?)", (cutoff, cutoff))
            self.db.execute("DELETE FROM control_log WHERE time < ?", (cutoff,))
        if max_bytes:
            deleted += self.bound_size(max_bytes, shrink=False, flush=False)
        self.shrink()
        return deleted

    def size(self) -> tuple[int, int]:
        """(bytes holding data, bytes of the database file), from SQLite's page counts (free pages are the
        difference; the write-ahead log is not counted: checkpoints keep it small)."""
        with self.lock:
            page = self.db.execute("PRAGMA page_size").fetchone()[0]
            count = self.db.execute("PRAGMA page_count").fetchone()[0]
            free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return (count - free) * page, count * page

    def bound_size(self, max_bytes: int, shrink: bool = True, flush: bool = True) -> int:
        """Delete the oldest events until the data fits in ``max_bytes``; returns how many. Cheap when it
        already fits (three pragmas), so the daemon checks often: a flood of events fills bytes faster than
        the age and count bounds notice."""
        if flush:
            self.flush_events()
        deleted = 0
        for _ in range(20):  # each pass deletes a little more than the excess share: one or two passes
            used, _ = self.size()
            if used <= max_bytes:
                break
            with self.lock:
                low, high = self.db.execute("SELECT MIN(id), MAX(id) FROM events").fetchone()
                if low is None:
                    break  # what is left is alerts, outbox and runs: live state, never deleted for size
                share = (used - max_bytes) / used
                count = max(EVENT_BATCH, int((high - low + 1) * share * 1.2))
                deleted += self.db.execute("DELETE FROM events WHERE id < ?", (low + count,)).rowcount
        if deleted and shrink:
            self.shrink()
        return deleted

    def shrink(self) -> None:
        """Give free pages back to the file system (incremental vacuum, then a checkpoint that truncates the
        write-ahead log, where the vacuum's work sits until then). A journal without incremental vacuum (made
        by an older version) only reuses its free pages."""
        if self.path is None:
            return
        with self.lock:
            if self.incremental:
                # execute() steps a statement once, which frees one page; executescript runs it to the end
                self.db.executescript("PRAGMA incremental_vacuum;")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        self.flush_events()
        with self.lock:
            self.db.close()
