"""LineSplitter: bounded lines, NUL bytes, invalid UTF-8, half-written lines."""

from __future__ import annotations

import tracemalloc

from faultmgr_audit.lines import LineSplitter


def test_complete_lines_and_half_written_last_line() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntwo\nthr") == ["one", "two"]
    assert splitter.pending_bytes == 3
    assert splitter.consumed == 8
    assert splitter.feed(b"ee") == []
    assert splitter.feed(b"\nfour\n") == ["three", "four"]
    assert splitter.consumed == 19 and splitter.pending_bytes == 0


def test_line_split_across_many_chunks() -> None:
    splitter = LineSplitter()
    out: list[str] = []
    for byte in b"type=SYSCALL msg=audit(1.0:1): a=b\n":
        out += splitter.feed(bytes([byte]))
    assert out == ["type=SYSCALL msg=audit(1.0:1): a=b"]


def test_nul_bytes_removed() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"\0\0\0ab\0c\n\0\0\0\0\nd\n") == ["abc", "", "d"]


def test_invalid_utf8_replaced() -> None:
    splitter = LineSplitter()
    (line,) = splitter.feed(b"user=\xff\xfe\xc3 ok \xc3\xa9\n")
    assert line == "user=\ufffd\ufffd\ufffd ok \u00e9"


def test_invalid_utf8_at_line_ends_stays_in_its_line() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"x\na\xc3\nb\xe2\x82\n\0c\xff\n") == ["x", "a\ufffd", "b\ufffd", "c\ufffd"]


def test_long_line_cut_and_counted_in_one_chunk() -> None:
    splitter = LineSplitter(max_line_bytes=1000)
    lines = splitter.feed(b"a" * 5000 + b"\nshort\n")
    assert lines == ["a" * 1000 + " [...] " + "a" * 250, "short"]  # head, mark, tail (max/4)
    assert splitter.cut_lines == 1
    assert splitter.consumed == 5007


def test_several_megabyte_line_streamed_never_held() -> None:
    """A 16 MB line arriving in 64 KiB chunks: memory stays near max_line_bytes, the line is cut."""
    splitter = LineSplitter(max_line_bytes=65536)
    chunk = b"x" * 65536
    tracemalloc.start()
    try:
        for _ in range(256):
            assert splitter.feed(chunk) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak  # far below the 16 MB of the line
    assert splitter.pending_bytes == 256 * 65536
    (line,) = splitter.feed(b"tail\n")
    assert len(line) == 65536 + 7 + 1024 and line.endswith("x [...] " + "x" * 1020 + "tail")
    assert splitter.cut_lines == 1
    assert splitter.consumed == 256 * 65536 + 5


def test_cut_line_keeps_its_tail_so_padding_cannot_hide_the_source_address() -> None:
    """A user name padded to push sshd's "from ADDR port N" past the limit: the tail survives the cut."""
    from faultmgr_audit.syslog_auth import SyslogAuthParser, SyslogAuthSettings

    line = (b"Nov 25 07:30:05 web1 sshd[1]: Failed password for invalid user " + b"A" * (1 << 20)
            + b" from 203.0.113.9 port 4000 ssh2\n")
    splitter = LineSplitter(max_line_bytes=4096)
    lines: list[str] = []
    for start in range(0, len(line), 65536):
        lines += splitter.feed(line[start:start + 65536])
    (record,) = SyslogAuthParser("syslog-auth", SyslogAuthSettings()).feed(lines[0], 0.0)
    assert record.fields["source_ip"] == "203.0.113.9" and splitter.cut_lines == 1


def test_tail_can_be_turned_off() -> None:
    splitter = LineSplitter(max_line_bytes=10, tail_bytes=0)
    assert splitter.feed(b"0123456789abcdef\n") == ["0123456789"]


def test_flush_hands_out_unfinished_line_without_counting_a_newline() -> None:
    splitter = LineSplitter()
    splitter.feed(b"done\nhalf")
    assert splitter.flush() == "half"
    assert splitter.consumed == 9
    assert splitter.flush() is None


def test_reset_forgets_partial() -> None:
    splitter = LineSplitter()
    splitter.feed(b"partial")
    splitter.reset()
    assert splitter.feed(b"new\n") == ["new"]
