"""Lines -> records -> findings: the synchronous core of the ``audit`` detector (the benchmark drives it
directly)."""

from __future__ import annotations

from collections.abc import Iterable

from faultmgr_audit.detections import Detections
from faultmgr_audit.matching import RuleSet
from faultmgr_audit.parser import Parser
from faultmgr_audit.record import Finding, Record


class AuditPipeline:
    """Feeds lines to a source's parser and every completed record to the match rules and detections."""

    def __init__(self, rules: RuleSet, detections: Detections) -> None:
        self.rules = rules
        self.detections = detections
        self.records = 0
        self.lines = 0

    def process(self, parser: Parser, lines: Iterable[str], now: float) -> list[Finding]:
        """Parse ``lines`` (empty ones are skipped) and return what they make the detector emit."""
        found: list[Finding] = []
        feed = parser.feed
        count = 0
        for line in lines:
            if line:
                count += 1
                for record in feed(line, now):
                    self._record(record, now, found)
        self.lines += count
        return found

    def flush(self, parser: Parser, now: float, force: bool = False) -> list[Finding]:
        """Findings of records a parser held back and that are now due (all of them with ``force``)."""
        found: list[Finding] = []
        for record in parser.flush(now, force):
            self._record(record, now, found)
        return found

    def tick(self, now: float) -> list[Finding]:
        """Time-driven findings (brute-force recoveries)."""
        return self.detections.tick(now)

    def _record(self, record: Record, now: float, found: list[Finding]) -> None:
        self.records += 1
        found.extend(self.rules.match(record))
        found.extend(self.detections.observe(record, now))
