"""Match rules: field conditions on parsed records that emit ``audit.match`` (or a kind of their own).

Conditions are tested cheapest first: parser and record type, then exact field values, then regexes
(bounded, see :mod:`faultmgr_audit.boundedregex`). Rules are indexed by parser so a line is only tested
against the rules that can match it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator

from faultmgr.config.settings import PluginSettings
from faultmgr.event import Severity
from faultmgr_audit.boundedregex import BoundedRegex, PatternError, check_pattern
from faultmgr_audit.record import NORMALISED_FIELDS, Finding, Record

_PLACEHOLDER = re.compile(r"\{([\w.-]+)\}")
#: Longest value a template places into a subject, label or message.
MAX_RENDERED_CHARS = 256


def render(template: str, record: Record) -> str:
    """``"{user}@{source_ip}"`` -> field values. Only plain field names: no attribute or index access,
    so a template cannot reach into Python objects whatever the fields hold."""
    if "{" not in template:
        return template
    fields = record.fields

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name == "parser":
            return record.parser
        if name == "type":
            return record.type
        return fields.get(name, "")[:MAX_RENDERED_CHARS]

    return _PLACEHOLDER.sub(value, template)


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


#: A list of strings that rule files may also write as one string.
OneOrMany = Annotated[
    list[str],
    BeforeValidator(_listed),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]


def _as_set(value: str | list[str]) -> frozenset[str]:
    return frozenset([value] if isinstance(value, str) else value)


class MatchRule(PluginSettings):
    """One field-matching rule of an ``audit`` detector."""

    name: str = Field(description="the rule's name (label ``rule`` of the events it emits)")
    parser: str | None = Field(None, description="only records of this parser type (any when unset)")
    type: OneOrMany = Field([], description="only records of these types (SYSCALL, ssh.failed, DSI_ACCESS...); "
                                            "one type or a list")
    where: dict[str, str | list[str]] = Field({}, description="field -> value (or list of values) that must "
                                                              "be equal")
    where_not: dict[str, str | list[str]] = Field({}, description="field -> value(s) that must not be equal")
    regex: dict[str, str] = Field({}, description="field -> pattern that must match (searched, bounded: "
                                                  "nested repeats and backreferences are refused)")
    kind: str = Field("audit.match", description="event kind to emit")
    severity: str = Field("warning", description="event severity")
    subject: str = Field("{user}", description="event subject, a template of {field} names (the rule's "
                                               "name when it renders empty)")
    labels: dict[str, str] = Field({}, description="extra labels: name -> template of {field} names")
    message: str = Field("", description="event message, a template of {field} names")

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: str) -> str:
        return str(Severity.parse(value))

    @field_validator("regex")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for field_name, pattern in value.items():
            try:
                check_pattern(pattern)
            except PatternError as exc:
                raise ValueError(f"regex for field {field_name!r}: {exc}") from None
        return value


class CompiledRule:
    """A :class:`MatchRule` ready to test records."""

    __slots__ = ("rule", "types", "where", "where_not", "regexes")

    def __init__(self, rule: MatchRule, max_chars: int, timeout: float) -> None:
        self.rule = rule
        self.types = frozenset(rule.type)
        self.where = [(k, _as_set(v)) for k, v in rule.where.items()]
        self.where_not = [(k, _as_set(v)) for k, v in rule.where_not.items()]
        self.regexes = [(k, BoundedRegex(p, max_chars=max_chars, timeout=timeout)) for k, p in rule.regex.items()]

    def test(self, record: Record) -> bool:
        """True when every condition of the rule holds for ``record``."""
        if self.types and record.type not in self.types:
            return False
        fields = record.fields
        for key, allowed in self.where:
            if fields.get(key) not in allowed:
                return False
        for key, refused in self.where_not:
            if fields.get(key) in refused:
                return False
        for key, pattern in self.regexes:
            value = fields.get(key)
            if value is None or not pattern.search(value):
                return False
        return True

    def finding(self, record: Record) -> Finding:
        """The event this rule emits for ``record`` (labels, subject and message rendered from its fields)."""
        rule = self.rule
        labels = {"rule": rule.name, "parser": record.parser, "type": record.type}
        for name in NORMALISED_FIELDS:
            value = record.fields.get(name)
            if value:
                labels[name] = value[:MAX_RENDERED_CHARS]
        for name, template in rule.labels.items():
            labels[name] = render(template, record)
        return Finding(rule.kind, render(rule.subject, record) or rule.name, rule.severity, labels,
                       {"fields": dict(record.fields), "line": record.line, "time": record.time,
                        "count": record.count},
                       render(rule.message, record) or f"audit rule {rule.name} matched")


class RuleSet:
    """Every match rule of one detector, indexed by parser type."""

    def __init__(self, rules: Iterable[MatchRule], *, max_chars: int = 4096, timeout: float = 0.05) -> None:
        self._by_parser: dict[str | None, list[CompiledRule]] = {}
        for rule in rules:
            self._by_parser.setdefault(rule.parser, []).append(CompiledRule(rule, max_chars, timeout))
        self._any = self._by_parser.pop(None, [])

    def match(self, record: Record) -> list[Finding]:
        """Findings of every rule that matches ``record``."""
        found: list[Finding] = []
        for compiled in self._by_parser.get(record.parser, ()):
            if compiled.test(record):
                found.append(compiled.finding(record))
        for compiled in self._any:
            if compiled.test(record):
                found.append(compiled.finding(record))
        return found

    @property
    def regex_timeouts(self) -> int:
        """Regex runs that hit their time limit (each counted as no match)."""
        rules = [c for group in self._by_parser.values() for c in group] + self._any
        return sum(pattern.timeouts for c in rules for _, pattern in c.regexes)
