"""Hostile rule files: each gets one clear, positioned error; none hangs or crashes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from faultmgr.config.build import load
from faultmgr.config.errors import ConfigError
from faultmgr.plugin.manager import load_plugins


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load([path], load_plugins())
    return [str(i) for i in info.value.errors]


def test_fifty_megabyte_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as fh:
        line = b"# " + b"x" * 1022 + b"\n"
        for _ in range(50 * 1024):
            fh.write(line)
    [message] = problems(path)
    assert message.startswith(f"{path}:1:1: file is 50.0 MiB")


def test_billion_laughs(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("rules: {x: {match: {kind: '*'}, notify: *i}}")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    [message] = problems(path)
    assert "expands to more than" in message and "billion laughs" in message
    assert message.startswith(f"{path}:")


def test_python_object_tag(tmp_path: Path) -> None:
    path = tmp_path / "tag.yaml"
    path.write_text("rules:\n  x: !!python/object/apply:os.system ['touch /tmp/pwned']\n")
    [message] = problems(path)
    assert message.startswith(f"{path}:2:6:") and "python/object/apply:os.system" in message
    assert "not allowed" in message


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(bytes(range(256)) * 64)
    [message] = problems(path)
    assert message == f"{path}:1:1: binary data (NUL bytes), not a YAML rule file"


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"rules: {}\n# caf\xe9\n")
    [message] = problems(path)
    assert message.startswith(f"{path}:2:1: not valid UTF-8")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    [message] = problems(path)
    assert message.startswith(f"{path}:1:1: the file is empty")


def test_comments_only(tmp_path: Path) -> None:
    path = tmp_path / "comments.yaml"
    path.write_text("# nothing here\n")
    [message] = problems(path)
    assert "holds no data" in message


def test_syntax_error_has_position(tmp_path: Path) -> None:
    path = tmp_path / "syntax.yaml"
    path.write_text("rules:\n  x: [unclosed\n")
    [message] = problems(path)
    assert message.startswith(f"{path}:3:1: YAML syntax")


def test_recursive_alias_and_deep_nesting(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("rules: " + "[" * 5000 + "]" * 5000 + "\n")
    [message] = problems(deep)
    assert "nesting deeper than" in message


def test_duplicate_keys(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("receivers:\n  ops: {type: log}\n  ops: {type: log}\n")
    [message] = problems(path)
    assert message.startswith(f"{path}:3:3: duplicate key 'ops' (first at line 2)")


def test_check_command_never_prints_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "tag.yaml"
    path.write_text("a: !!python/name:os.system\n")
    result = subprocess.run([sys.executable, "-m", "faultmgr", "check", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}:1:4:" in result.stderr


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    """Reading a named pipe would block until someone writes to it: `check` (and a reload) would hang."""
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    [message] = problems(path)
    assert message == f"{path}:1:1: not a regular file — rule files are plain YAML files"
