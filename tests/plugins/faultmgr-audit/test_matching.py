"""Match rules: field conditions, templates, bounded regexes."""

from __future__ import annotations

import time

import pytest
from faultmgr_audit.boundedregex import BoundedRegex, PatternError, check_pattern
from faultmgr_audit.matching import MatchRule, RuleSet, render
from faultmgr_audit.record import Record
from pydantic import ValidationError


def record(**fields: str) -> Record:
    return Record("syslog-auth", "ssh.failed", dict(fields), None, "raw line")


def test_where_where_not_and_type() -> None:
    rules = RuleSet([MatchRule(name="r", parser="syslog-auth", type="ssh.failed",
                               where={"user": ["root", "admin"]}, where_not={"source_ip": "10.0.0.1"},
                               subject="{source_ip}", labels={"who": "{user}@{host}"}, severity="critical")])
    (finding,) = rules.match(record(user="root", source_ip="192.0.2.9", host="web1", outcome="failure"))
    assert finding.kind == "audit.match" and finding.subject == "192.0.2.9" and finding.severity == "critical"
    assert finding.labels["who"] == "root@web1" and finding.labels["rule"] == "r"
    assert finding.labels["user"] == "root" and finding.labels["source_ip"] == "192.0.2.9"
    assert finding.labels["parser"] == "syslog-auth" and finding.payload["line"] == "raw line"
    assert rules.match(record(user="bob", source_ip="192.0.2.9")) == []
    assert rules.match(record(user="root", source_ip="10.0.0.1")) == []
    assert RuleSet([MatchRule(name="r", parser="dsi")]).match(record(user="root")) == []


def test_regex_condition_and_custom_kind() -> None:
    rules = RuleSet([MatchRule(name="tmp-exec", regex={"command": r"^/(tmp|dev/shm)/"}, kind="audit.tmp_exec")])
    assert rules.match(record(command="/tmp/x"))[0].kind == "audit.tmp_exec"
    assert rules.match(record(command="/usr/bin/id")) == []
    assert rules.match(record()) == []


def test_subject_falls_back_to_rule_name() -> None:
    (finding,) = RuleSet([MatchRule(name="any")]).match(record())
    assert finding.subject == "any"


def test_template_has_no_attribute_or_index_access() -> None:
    r = record(user="root")
    assert render("{user.__class__}", r) == "{user.__class__}" or "class" not in render("{user.__class__}", r)
    assert render("{user[0]}", r) == "{user[0]}"
    assert render("{user}:{missing}", r) == "root:"
    assert render("{user}", record(user="x" * 10_000)) == "x" * 256


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a*)*b", r"(\w+\s?)*$", r"^(\d+)*x", r"(x+x+)+y",
                                     r"(a)\1", r"(?=(a+)+)b"])
def test_pathological_pattern_refused(pattern: str) -> None:
    with pytest.raises(PatternError):
        check_pattern(pattern)
    with pytest.raises(ValidationError, match="refused"):
        MatchRule(name="bad", regex={"user": pattern})


@pytest.mark.parametrize("pattern", [r"^/etc/(shadow|passwd)$", r"(\d{1,3}\.){3}\d{1,3}", r"\bsu(do)?\b",
                                     r"^[a-z_][a-z0-9_-]{0,31}$", r"(ab)+c"])
def test_ordinary_patterns_accepted(pattern: str) -> None:
    check_pattern(pattern)


def test_uncompilable_or_huge_pattern_refused() -> None:
    with pytest.raises(PatternError, match="does not compile"):
        check_pattern("(unclosed")
    with pytest.raises(PatternError, match="limit"):
        check_pattern("a" * 5000)


def test_slow_pattern_times_out() -> None:
    """An ambiguous alternation passes the shape check but is exponential: the time limit stops it."""
    pattern = BoundedRegex(r"(a|aa)+$", timeout=0.05)
    started = time.perf_counter()
    assert pattern.search("a" * 3000 + "!") is False
    assert time.perf_counter() - started < 2.0
    assert pattern.timeouts == 1


def test_subject_length_is_bounded() -> None:
    pattern = BoundedRegex(r"needle", max_chars=100)
    assert pattern.search("x" * 50 + "needle")
    assert not pattern.search("x" * 200 + "needle")  # beyond max_chars: not searched
