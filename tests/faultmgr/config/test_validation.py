"""Validation: every error reported, each one line `file:line:col: message`, with did-you-mean hints."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultmgr.config.build import load
from faultmgr.config.errors import ConfigError
from faultmgr.plugin.manager import load_plugins

BROKEN = """\
detectors:
  ext: {type: external, kindz: ["*"]}
  typo: {type: externl}
receivers:
  ops: {type: log, group_wiat: 3s}
  hook: {type: webhook, url: "not a url", fallback: opz}
rules:
  r1:
    match: {kind: probe.failed, labels: ["a=~("], where: ["x >< 3"]}
    notify: [opps]
    for: 3x
  r2: {notify: [ops]}
  r3: {match: {kind: x}, count: "3 whithin 1m", notify: [ops]}
bogus: 1
"""


def test_all_errors_with_positions_and_hints(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    with pytest.raises(ConfigError) as info:
        load([path], load_plugins())
    lines = [str(i) for i in info.value.errors]
    expected = [
        f"{path}:2:25: unknown key 'kindz' in detector 'ext' (external) — did you mean 'kinds'?",
        f"{path}:3:16: unknown detector type 'externl' — did you mean 'external'?",
        f"{path}:5:20: unknown key 'group_wiat' in receiver 'ops' (log) — did you mean 'group_wait'?",
        f"{path}:6:30: receiver 'hook' (webhook): url: Input should be a valid URL",
        f"{path}:9:41: rule 'r1': match.labels: label 'a' regex '(' does not compile",
        f"{path}:11:10: rule 'r1': for: invalid duration '3x'",
        f"{path}:12:7: rule 'r2': a rule needs exactly one of 'match', 'all' or 'any'",
        f"{path}:13:33: rule 'r3': count: count must be a number or 'N within DURATION'",
        f"{path}:14:1: unknown section 'bogus'",
        f"{path}:6:53: receiver 'opz' is not defined — did you mean 'ops'?",
        f"{path}:10:14: receiver 'opps' is not defined — did you mean 'ops'?",
    ]
    for want in expected:
        assert any(line.startswith(want) for line in lines), f"missing: {want}\ngot:\n" + "\n".join(lines)
    assert len(lines) == len(expected) + 1  # and the 'where' condition of r1
    assert any("condition 'x >< 3'" in line for line in lines)


def test_merge_across_files_and_includes(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "main.yaml").write_text("include: [conf.d/*.yaml]\nreceivers: {ops: {type: log}}\n")
    (tmp_path / "conf.d" / "a.yaml").write_text("detectors: {ext: {type: external}}\n")
    (tmp_path / "conf.d" / "b.yaml").write_text("rules: {down: {match: {kind: x, source: ext}, notify: [ops]}}\n")
    cfg = load([tmp_path / "main.yaml"], load_plugins())
    assert set(cfg.detectors) == {"ext"} and set(cfg.rules) == {"down"}
    assert len(cfg.files) == 3


def test_a_name_defined_twice_names_both_places(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("receivers: {ops: {type: log}}\n")
    (tmp_path / "b.yaml").write_text("\nreceivers:\n  ops: {type: log}\n")
    with pytest.raises(ConfigError) as info:
        load([tmp_path], load_plugins())
    [line] = [str(i) for i in info.value.errors]
    assert line == f"{tmp_path / 'b.yaml'}:3:3: receivers entry 'ops' is already defined at {tmp_path / 'a.yaml'}:1:13"


def test_warnings_do_not_stop_loading(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text("rules: {quiet: {match: {kind: x, source: nosuch}}}\n")
    cfg = load([tmp_path / "w.yaml"], load_plugins())
    messages = [i.message for i in cfg.warnings]
    assert "rule 'quiet' pages nobody and runs no action" in messages
    assert any("no detector here" in m for m in messages)


def test_fallback_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").write_text(
        "receivers:\n  a: {type: log, fallback: b}\n  b: {type: log, fallback: a}\n")
    with pytest.raises(ConfigError) as info:
        load([tmp_path / "loop.yaml"], load_plugins())
    assert any("loops back" in str(i) for i in info.value.errors)


def test_anchors_in_x_sections_and_merge_keys_overridden_by_the_entry(tmp_path: Path) -> None:
    """`x-` top-level keys hold shared blocks; a key written after `<<:` wins over the merged one, and the
    same key written twice in one mapping is still an error."""
    path = tmp_path / "r.yaml"
    path.write_text("x-log: &log\n  type: log\n  group_wait: 10s\n"
                    "receivers:\n  a:\n    <<: *log\n    group_wait: 1s\n  b: *log\n")
    cfg = load([path], load_plugins())
    assert cfg.receivers["a"].settings.group_wait == 1.0 and cfg.receivers["b"].settings.group_wait == 10.0
    path.write_text(path.read_text() + "  c:\n    <<: *log\n    group_wait: 1s\n    group_wait: 2s\n")
    with pytest.raises(ConfigError) as info:
        load([path], load_plugins())
    assert [str(i) for i in info.value.errors] == [f"{path}:12:5: duplicate key 'group_wait' (first at line 11)"]
