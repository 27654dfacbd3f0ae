"""Lines built to make the parsers' own regexes backtrack stay cheap (the parsers are linear-ish)."""

from __future__ import annotations

import time

import pytest
from faultmgr_audit.parser import build_registry

LIMIT = 65536  # the default max_line_bytes: no line a parser sees is longer
HEADER = "Nov 25 07:30:05 h sshd[1]: "
LINES = {
    "syslog-auth": [
        HEADER + "Failed password for " + "from 1 port 2 " * 5000,
        HEADER + "Failed password for invalid user " + " from " * 11000,
        HEADER + "Accepted x for " + " from a port 1" * 5000 + ": ",
        HEADER + "message repeated 5 times: [ " + "] " * 33000,
        HEADER + "Invalid user " + " from x port" * 5500,
        "Nov 25 07:30:05 h sudo: " + " a : 1 incorrect password attempts ; " * 1800,
    ],
    "linux-audit": [
        "type=SYSCALL msg=audit(1.0:1): " + 'a="\\' * 16000,
        "type=USER_AUTH msg=audit(1.0:1): msg='" + "a='b " * 13000,
        "type=PATH msg=audit(1.0:1): name=" + "4" * 65000,
        "type=AVC msg=audit(1.0:1): " + "x=" * 32000,
    ],
    "dsi": [
        "type=DSI_ACCESS " + 'k="\\"' * 13000,
        "type=DSI_ACCESS " + "subject=" * 8000,
        "type=DSI_ACCESS " + "a='" * 21000,
    ],
}


@pytest.mark.parametrize(("parser_name", "line"),
                         [(p, line) for p, lines in LINES.items() for line in lines])
def test_adversarial_line_is_parsed_quickly(parser_name: str, line: str) -> None:
    parser = build_registry(None).create(parser_name)
    started = time.process_time()
    for _ in range(10):
        parser.feed(line[:LIMIT], 0.0)
    parser.flush(0.0, force=True)
    # Ten 64 KiB lines: a linear parse takes milliseconds; a quadratic one would take minutes.
    assert time.process_time() - started < 2.0
