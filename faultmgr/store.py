"""A small durable key/value store (in the journal's SQLite file) for plugin state that survives restarts:
read positions of followed logs, maintenance switches, the last known holder of a VIP."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from faultmgr import jsontext


class KeyValueStore:
    """JSON values under ``(namespace, key)``. Writes are committed at once."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock | None = None) -> None:
        self._db = db
        self._lock = lock or threading.RLock()
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, key TEXT NOT NULL, "
                             "value TEXT NOT NULL, PRIMARY KEY (ns, key))")
            self._db.commit()

    def get(self, namespace: str, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE ns=? AND key=?", (namespace, key)).fetchone()
        return jsontext.loads(row[0]) if row else default

    def set(self, namespace: str, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute("INSERT INTO kv (ns, key, value) VALUES (?, ?, ?) ON CONFLICT (ns, key) "
                             "DO UPDATE SET value=excluded.value", (namespace, key, jsontext.dumps(value)))
            self._db.commit()

    def delete(self, namespace: str, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM kv WHERE ns=? AND key=?", (namespace, key))
            self._db.commit()

    def items(self, namespace: str) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM kv WHERE ns=? ORDER BY key", (namespace,)).fetchall()
        return {k: jsontext.loads(v) for k, v in rows}

    @classmethod
    def memory(cls) -> KeyValueStore:
        """A store in memory (tests, ``simulate``)."""
        return cls(sqlite3.connect(":memory:", check_same_thread=False))
