"""Regular expressions from rule files, with their work bounded.

A poisoned log line is attacker-chosen text, and a rule's regex runs over it: a backtracking pattern such
as ``(a+)+$`` takes exponential time on ``aaaa…!`` and would stall the detector (the classic ReDoS). Three
bounds, each covering what the one before may miss:

1. At load time, :func:`check_pattern` refuses the known-pathological shapes, found by walking the
   parse tree of Python's own regex parser: an unbounded repeat inside an unbounded repeat (``(a+)+``,
   ``(a*)*``, ``(\\w+\\s?)*``), and backreferences. The error names the pattern and says why.
2. At match time the subject is cut to ``max_chars`` characters, so even a polynomial pattern
   (``.*a.*a.*b``) has a bounded input.
3. Patterns run on the third-party ``regex`` module with a ``timeout``: a pattern that passes 1 but is
   still slow (an ambiguous alternation such as ``(a|aa)+$``) raises ``TimeoutError`` after
   ``timeout`` seconds; the match counts as failed and :attr:`BoundedRegex.timeouts` is incremented,
   which the detector reports.

Tests: test_matching.py::test_pathological_pattern_refused and ::test_slow_pattern_times_out.
"""

from __future__ import annotations

import re
import re._constants as sre_constants
import re._parser as sre_parse
from typing import Any

import regex

MAX_PATTERN_CHARS = 1000
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT}
_UNBOUNDED = 64  # a repeat whose upper bound is at least this counts as unbounded


class PatternError(ValueError):
    """A rule's pattern does not compile or is refused as pathological."""


def _nested_repeat(items: Any, inside_repeat: bool) -> str | None:
    """The first offending construct in a parsed pattern, described, or ``None``."""
    for op, arg in items:
        if op in _REPEATS:
            low, high, sub = arg
            unbounded = high >= _UNBOUNDED
            if unbounded and inside_repeat:
                return ("a repeat inside a repeat (such as (a+)+ or (a*)*) can take exponential time; "
                        "rewrite it without the nesting (e.g. (a+)+ -> a+)")
            found = _nested_repeat(sub, inside_repeat or unbounded)
            if found:
                return found
        elif op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            return "backreferences are not allowed in audit rules"
        elif op is sre_constants.BRANCH:
            for branch in arg[1]:
                found = _nested_repeat(branch, inside_repeat)
                if found:
                    return found
        elif op is sre_constants.SUBPATTERN:
            found = _nested_repeat(arg[-1], inside_repeat)
            if found:
                return found
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            found = _nested_repeat(arg[1], inside_repeat)
            if found:
                return found
    return None


def check_pattern(pattern: str) -> None:
    """Raise :class:`PatternError` if ``pattern`` does not compile or has a pathological shape."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"pattern is {len(pattern)} characters long; the limit is {MAX_PATTERN_CHARS}")
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        raise PatternError(f"pattern {pattern!r} does not compile: {exc}") from None
    problem = _nested_repeat(parsed, False)
    if problem:
        raise PatternError(f"pattern {pattern!r} refused: {problem}")


class BoundedRegex:
    """A checked pattern run with a bounded subject length and a time limit."""

    __slots__ = ("pattern", "max_chars", "timeout", "timeouts", "_compiled")

    def __init__(self, pattern: str, *, max_chars: int = 4096, timeout: float = 0.05) -> None:
        check_pattern(pattern)
        self.pattern = pattern
        self.max_chars = max_chars
        self.timeout = timeout
        self.timeouts = 0
        self._compiled = regex.compile(pattern)

    def search(self, text: str) -> bool:
        """True when the pattern matches somewhere in the first ``max_chars`` characters of ``text``."""
        try:
            return self._compiled.search(text[:self.max_chars], timeout=self.timeout) is not None
        except TimeoutError:
            self.timeouts += 1
            return False

    def __repr__(self) -> str:
        return f"BoundedRegex({self.pattern!r})"
