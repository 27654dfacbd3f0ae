"""LogFollower on real files: growth, rotation by rename and copytruncate, restarts, symlinks, stalls."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from faultmgr_audit.follower import LogFollower

from faultmgr.store import KeyValueStore


def append(path: Path, text: str | bytes) -> None:
    with open(path, "ab") as out:
        out.write(text.encode() if isinstance(text, str) else text)


def follower(path: Path, store: KeyValueStore | None = None, **kw: object) -> LogFollower:
    kw.setdefault("start_at", "start")
    return LogFollower(path, store=store, store_key=("audit:test", str(path)), **kw)  # type: ignore[arg-type]


def whats(notices: list) -> list[str]:  # type: ignore[type-arg]
    return [n.what for n in notices]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "audit.log"
    path.write_text("")
    return path


def test_follows_growth_and_waits_for_newline(log: Path) -> None:
    f = follower(log)
    append(log, "a\nb\nhal")
    assert f.poll()[0] == ["a", "b"]
    assert f.poll()[0] == []
    append(log, "f\n")
    assert f.poll()[0] == ["half"]


def test_start_at_end_skips_history_and_a_partial_last_line(log: Path) -> None:
    append(log, "old1\nold2\nparti")
    f = follower(log, start_at="end")
    assert f.poll()[0] == []
    append(log, "al\nnew\n")
    # The partial line existed before we started: it is read from its own start, whole.
    assert f.poll()[0] == ["partial", "new"]


def test_rotation_by_rename_reads_old_file_to_its_end(log: Path) -> None:
    f = follower(log)
    append(log, "1\n2\n")
    assert f.poll()[0] == ["1", "2"]
    log.rename(log.with_name("audit.log.1"))
    append(log.with_name("audit.log.1"), "3\nlast-without-newline")  # the writer still had it open
    assert f.poll()[0] == ["3"]  # path missing: keep reading the old file
    append(log, "new1\n")
    lines, notices = f.poll()
    assert lines == ["last-without-newline", "new1"]
    assert whats(notices) == ["rotated"]
    append(log, "new2\n")
    assert f.poll()[0] == ["new2"]


def test_copytruncate_recovers_lines_from_the_copy_and_restarts_at_zero(log: Path) -> None:
    f = follower(log)
    append(log, "1\n2\n")
    assert f.poll()[0] == ["1", "2"]
    append(log, "3\n")  # written before the copy, not yet read
    shutil.copyfile(log, log.with_name("audit.log.1"))
    os.truncate(log, 0)
    append(log, "after\n")
    lines, notices = f.poll()
    assert lines == ["3", "after"]
    assert whats(notices) == ["truncated"]
    assert notices[0].payload["recovered_lines"] == 1


def test_copytruncate_then_regrowth_past_old_offset_is_still_seen(log: Path) -> None:
    f = follower(log)
    append(log, "first line of the old file\n")
    f.poll()
    os.truncate(log, 0)
    append(log, "another first line, longer than the old one\n")
    lines, notices = f.poll()
    assert whats(notices) == ["truncated"]
    assert lines == ["another first line, longer than the old one"]


def test_restart_neither_rereads_nor_misses(log: Path) -> None:
    store = KeyValueStore.memory()
    f = follower(log, store)
    append(log, "1\n2\npart")
    assert f.poll()[0] == ["1", "2"]
    f.close()
    append(log, "ial\n3\n")  # written while we were down
    again = follower(log, store, start_at="end")  # start_at is ignored when a position is saved
    assert again.poll()[0] == ["partial", "3"]
    again.close()
    third = follower(log, store)
    assert third.poll()[0] == []


def test_restart_after_rotation_while_down_finishes_the_old_file(log: Path) -> None:
    store = KeyValueStore.memory()
    f = follower(log, store)
    append(log, "1\n")
    assert f.poll()[0] == ["1"]
    f.close()
    append(log, "2\n")
    log.rename(log.with_name("audit.log.1"))
    append(log, "new\n")
    again = follower(log, store)
    lines, notices = again.poll()
    assert lines == ["2", "new"]
    assert "rotated" in whats(notices)


def test_restart_after_truncation_while_down_reads_from_zero(log: Path) -> None:
    store = KeyValueStore.memory()
    f = follower(log, store)
    append(log, "a long first line\nsecond\n")
    f.poll()
    f.close()
    os.truncate(log, 0)
    append(log, "x\n")
    lines, notices = follower(log, store).poll()
    assert lines == ["x"]
    assert whats(notices) == ["truncated"]


def test_file_replaced_by_symlink_is_not_followed(log: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("root:hash:1\n")
    f = follower(log)
    append(log, "1\n")
    assert f.poll()[0] == ["1"]
    log.rename(log.with_name("audit.log.1"))
    log.symlink_to(secret)
    lines, notices = f.poll()
    assert lines == [] and whats(notices) == ["symlink"]
    append(log.with_name("audit.log.1"), "2\n")
    lines, notices = f.poll()
    assert lines == ["2"] and notices == []  # reported once; the old file is still read
    # A fresh start on a symlinked path refuses to open it (O_NOFOLLOW).
    lines, notices = follower(log).poll()
    assert lines == [] and whats(notices) == ["symlink"]


def test_symlink_followed_when_allowed(log: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.log"
    real.write_text("a\n")
    link = tmp_path / "link.log"
    link.symlink_to(real)
    assert follower(link, follow_symlinks=True).poll()[0] == ["a"]


def test_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    lines, notices = follower(fifo).poll()
    assert lines == [] and whats(notices) == ["not_regular"]


def test_missing_file_reported_once_then_followed(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    f = follower(path)
    assert whats(f.poll()[1]) == ["missing"]
    assert f.poll()[1] == []
    path.write_text("hello\n")
    assert f.poll()[0] == ["hello"]


def test_stalled_and_resumed(log: Path) -> None:
    now = [0.0]
    f = follower(log, stall_after=10.0, clock=lambda: now[0])
    append(log, "1\n")
    f.poll()
    now[0] = 5.0
    assert f.poll()[1] == []
    now[0] = 11.0
    assert whats(f.poll()[1]) == ["stalled"]
    now[0] = 30.0
    assert f.poll()[1] == []  # reported once
    append(log, "2\n")
    lines, notices = f.poll()
    assert lines == ["2"] and whats(notices) == ["resumed"]


def test_several_megabyte_line_in_a_file_is_cut(log: Path) -> None:
    f = follower(log, max_line_bytes=4096)
    append(log, b"before\n" + b"A" * (8 << 20) + b"\nafter\n")
    lines: list[str] = []
    polls = 0
    while len(lines) < 3 and polls < 100:  # the read budget (256 KiB a poll) spreads it over many polls
        lines += f.poll()[0]
        polls += 1
    assert polls > 1 and not f.behind
    assert lines[0] == "before" and lines[1] == "A" * 4096 + " [...] " + "A" * 1024 and lines[2] == "after"
    assert f.status()["cut_lines"] == 1


def test_read_budget_spreads_a_backlog_over_polls(log: Path) -> None:
    f = follower(log, read_budget=4096)
    append(log, "".join(f"line {i:05d}\n" for i in range(2000)))  # 22 kB
    seen: list[str] = []
    seen += f.poll()[0]
    assert f.behind and len(seen) < 2000
    for _ in range(10):
        seen += f.poll()[0]
    assert len(seen) == 2000 and seen[-1] == "line 01999" and not f.behind


def test_position_not_saved_until_asked(log: Path) -> None:
    """The detector saves after processing: a crash in between re-reads the batch instead of losing it."""
    store = KeyValueStore.memory()
    f = follower(log, store)
    append(log, "1\n")
    assert f.poll(save=False)[0] == ["1"]
    assert follower(log, store).poll()[0] == ["1"]  # "crashed": the line comes again
    f.save()
    assert follower(log, store).poll()[0] == []
