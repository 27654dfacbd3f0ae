"""Lines -> records -> findings: the synchronous core of the ``audit`` detector (the benchmark drives it
directly)."""

from __future__ import annotations

import logging
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
        #: lines a parser raised on (a bug in it, for a line it did not expect); the line is skipped.
        self.parser_errors = 0
        self.log = logging.getLogger("faultmgr.audit.pipeline")

    def process(self, parser: Parser, lines: Iterable[str], now: float) -> list[Finding]:
        """Parse ``lines`` (empty ones are skipped) and return what they make the detector emit."""
        found: list[Finding] = []
        feed = parser.feed
        count = 0
        for line in lines:
            if not line:
                continue
            count += 1
            try:
                records = feed(line, now)
            except Exception:  # one line that trips a parser must not lose the lines after it
                self.parser_errors += 1
                if self.parser_errors == 1 or self.parser_errors % 1000 == 0:
                    self.log.exception("parser %s failed on a line (%d so far)", parser.name, self.parser_errors)
                continue
            for record in records:
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
