"""Matching events and alerts: kind globs, label matchers (``=``, ``!=``, ``=~``, ``!~``) and payload
conditions (``latency_ms > 500``). Everything is parsed and compiled once, at load time."""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_LABEL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(=~|!~|!=|==|=)\s*(.*?)\s*$")
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(==|!=|<=|>=|<|>|=~|!~)\s*(.*?)\s*$")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
#: Longest value a regex matcher looks at: bounds the work a hostile label can cause.
MAX_MATCH_INPUT = 4096


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _compile(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{what} regex {pattern!r} does not compile: {exc}") from None


def compile_glob(pattern: str) -> Callable[[str], bool]:
    """A fast predicate for a shell-style glob; exact strings compare directly."""
    if not any(c in pattern for c in "*?["):
        return pattern.__eq__
    if pattern == "*":
        return lambda _value: True
    return re.compile(fnmatch.translate(pattern)).match  # type: ignore[return-value]


@dataclass(frozen=True)
class LabelMatcher:
    """``name op value``; regex matchers are anchored (the whole value must match), as in Prometheus."""

    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            _compile(self.value, f"label {self.name!r}")
            object.__setattr__(self, "_re", re.compile(f"(?:{self.value})\\Z"))

    @classmethod
    def parse(cls, text: str) -> LabelMatcher:
        match = _LABEL.match(text)
        if not match:
            raise ValueError(f"label matcher {text!r} is not 'name=value', 'name!=value', 'name=~regex' "
                             f"or 'name!~regex'")
        name, op, value = match.groups()
        return cls(name, "=" if op == "==" else op, _unquote(value))

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = self._re.match(value[:MAX_MATCH_INPUT]) is not None  # type: ignore[attr-defined]
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


def parse_label_matchers(spec: list[str] | dict[str, str] | None) -> tuple[LabelMatcher, ...]:
    """Accept ``["node=~head-.*", "role!=test"]`` or ``{node: head-a}`` (equality)."""
    if not spec:
        return ()
    if isinstance(spec, dict):
        return tuple(LabelMatcher(str(k), "=", str(v)) for k, v in spec.items())
    return tuple(LabelMatcher.parse(item) for item in spec)


def _lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True)
class Condition:
    """A test on an event's payload: ``latency_ms > 500``, ``reason =~ timeout``, ``code == 3``."""

    field: str
    op: str
    value: Any

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = _CONDITION.match(text)
        if not match:
            raise ValueError(f"condition {text!r} is not 'field OP value' with OP one of "
                             f"==, !=, <, <=, >, >=, =~, !~")
        name, op, raw = match.groups()
        if raw[:1] in ("<", ">", "=", "!", "~") or not raw:
            raise ValueError(f"condition {text!r}: no value after {op!r}")
        value: Any = _unquote(raw)
        if op in ("=~", "!~"):
            value = _compile(value, f"condition on {name!r}")
        elif value == raw:
            for conv in (int, float):
                try:
                    value = conv(raw)
                    break
                except ValueError:
                    continue
            else:
                if raw in ("true", "false"):
                    value = raw == "true"
        return cls(name, op, value)

    def test(self, payload: Mapping[str, Any]) -> bool:
        actual = _lookup(payload, tuple(self.field.split(".")))
        if self.op in ("=~", "!~"):
            found = actual is not None and self.value.search(str(actual)[:MAX_MATCH_INPUT]) is not None
            return found if self.op == "=~" else not found
        if actual is None:
            return self.op == "!="
        try:
            return _COMPARE[self.op](actual, self.value)
        except TypeError:
            return False


class EventMatcher:
    """Everything an event must satisfy to match one rule condition."""

    __slots__ = ("kind", "source", "subject", "labels", "where", "min_severity", "_kind", "_source", "_subject",
                 "exact_kind")

    def __init__(self, kind: str = "*", source: str = "*", subject: str = "*",
                 labels: tuple[LabelMatcher, ...] = (), where: tuple[Condition, ...] = (),
                 min_severity: int = 0) -> None:
        self.kind, self.source, self.subject = kind, source, subject
        self.labels, self.where, self.min_severity = labels, where, min_severity
        self._kind = compile_glob(kind)
        self._source = compile_glob(source)
        self._subject = compile_glob(subject)
        self.exact_kind = kind if not any(c in kind for c in "*?[") else None

    def selects(self, kind: str, source: str, subject: str | None) -> bool:
        """The glob parts alone (cacheable); ``subject=None`` leaves the subject out."""
        return bool(self._kind(kind) and self._source(source) and (subject is None or self._subject(subject)))

    def selects_subject(self, subject: str) -> bool:
        return bool(self._subject(subject))

    def matches_rest(self, event: Any) -> bool:
        """The parts that depend on more than kind, source and subject: severity, labels, payload."""
        return (event.severity >= self.min_severity
                and all(m.matches(event.labels) for m in self.labels)
                and all(c.test(event.payload) for c in self.where))

    def matches(self, event: Any) -> bool:
        """True when ``event`` (an :class:`~faultmgr.event.Event`) satisfies every part."""
        return (
            self._kind(event.kind)
            and self._source(event.source)
            and self._subject(event.subject)
            and event.severity >= self.min_severity
            and all(m.matches(event.labels) for m in self.labels)
            and all(c.test(event.payload) for c in self.where)
        )

    def matches_labels(self, labels: Mapping[str, str]) -> bool:
        """Match an alert's label set (used by inhibition and silences): only label matchers apply."""
        return all(m.matches(labels) for m in self.labels)
