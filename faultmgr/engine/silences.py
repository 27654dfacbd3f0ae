"""Silences: label matchers and a time window; matching alerts are not notified while one is active."""

from __future__ import annotations

from dataclasses import dataclass

from faultmgr import jsontext
from faultmgr.engine.journal import Journal
from faultmgr.matchers import LabelMatcher, parse_label_matchers


@dataclass
class Silence:
    id: int
    matchers: tuple[LabelMatcher, ...]
    starts_at: float
    ends_at: float
    author: str
    comment: str
    created_at: float

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "matchers": [str(m) for m in self.matchers], "starts_at": self.starts_at,
                "ends_at": self.ends_at, "author": self.author, "comment": self.comment,
                "created_at": self.created_at}


class SilenceStore:
    """Silences kept in the journal."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.items: dict[int, Silence] = {}
        with journal.lock:
            rows = journal.db.execute("SELECT id, matchers, starts_at, ends_at, author, comment, created_at "
                                      "FROM silences").fetchall()
        for row in rows:
            self.items[row[0]] = Silence(row[0], parse_label_matchers(jsontext.loads(row[1])), *row[2:])

    def add(self, matchers: list[str], starts_at: float, ends_at: float, author: str, comment: str,
            now: float) -> Silence:
        """Create a silence; raises ``ValueError`` for bad matchers or an empty window."""
        if not matchers:
            raise ValueError("a silence needs at least one matcher")
        parsed = parse_label_matchers(matchers)
        if ends_at <= starts_at:
            raise ValueError("a silence must end after it starts")
        if not author.strip():
            raise ValueError("a silence needs an author")
        with self.journal.lock:
            row = self.journal.db.execute(
                "INSERT INTO silences (matchers, starts_at, ends_at, author, comment, created_at) VALUES "
                "(?,?,?,?,?,?) RETURNING id", (jsontext.dumps([str(m) for m in parsed]), starts_at, ends_at, author,
                                                comment, now)).fetchone()
        silence = Silence(int(row[0]), parsed, starts_at, ends_at, author, comment, now)
        self.items[silence.id] = silence
        return silence

    def expire(self, silence_id: int, now: float) -> Silence:
        silence = self.items.get(silence_id)
        if silence is None:
            raise KeyError(f"no silence #{silence_id}")
        silence.ends_at = min(silence.ends_at, now)
        with self.journal.lock:
            self.journal.db.execute("UPDATE silences SET ends_at=? WHERE id=?", (silence.ends_at, silence_id))
        return silence

    def matching(self, labels: dict[str, str], now: float) -> Silence | None:
        return next((s for s in self.items.values() if s.active(now) and s.matches(labels)), None)

    def listing(self, now: float, include_expired: bool = False) -> list[Silence]:
        return sorted((s for s in self.items.values() if include_expired or now < s.ends_at), key=lambda s: s.id)
