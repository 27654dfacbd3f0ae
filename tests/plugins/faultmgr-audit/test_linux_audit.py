"""linux-audit parser: grouping by serial, hex-encoded fields, user-space records, normalised fields."""

from __future__ import annotations

from faultmgr_audit.linux_audit import LinuxAuditParser, LinuxAuditSettings
from faultmgr_audit.record import Record

OPEN_SHADOW = [
    'type=SYSCALL msg=audit(1700000000.123:456): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c '
    'items=2 ppid=1 pid=42 auid=1000 uid=0 gid=0 euid=0 comm="cat" exe="/usr/bin/cat" key="etc-shadow"',
    'type=CWD msg=audit(1700000000.123:456): cwd="/root"',
    'type=PATH msg=audit(1700000000.123:456): item=0 name="/etc/" inode=2 nametype=PARENT',
    # "/etc/shadow old" has a space, so the kernel writes it in hex.
    "type=PATH msg=audit(1700000000.123:456): item=1 name=2F6574632F736861646F77206F6C64 inode=3 nametype=NORMAL",
    "type=PROCTITLE msg=audit(1700000000.123:456): proctitle=636174002F6574632F736861646F77",
    "type=EOE msg=audit(1700000000.123:456): ",
]


def parser(**options: object) -> LinuxAuditParser:
    return LinuxAuditParser("linux-audit", LinuxAuditSettings(**options))  # type: ignore[arg-type]


def feed_all(p: LinuxAuditParser, lines: list[str], now: float = 0.0) -> list[Record]:
    out: list[Record] = []
    for line in lines:
        out += p.feed(line, now)
    return out


def test_records_of_one_serial_merged_and_emitted_on_eoe() -> None:
    p = parser()
    assert feed_all(p, OPEN_SHADOW[:-1]) == []
    (record,) = p.feed(OPEN_SHADOW[-1], 0.0)
    assert record.type == "SYSCALL"
    assert record.time == 1700000000.123
    f = record.fields
    assert f["serial"] == "456" and f["types"] == "SYSCALL,CWD,PATH,PATH,PROCTITLE"
    assert f["key"] == "etc-shadow" and f["exe"] == "/usr/bin/cat" and f["cwd"] == "/root"
    assert f["name0"] == "/etc/" and f["name1"] == "/etc/shadow old"
    assert f["proctitle"] == "cat /etc/shadow"  # NUL-separated argv decoded with spaces
    assert f["action"] == "syscall" and f["outcome"] == "failure"


def test_new_serial_flushes_the_previous_event() -> None:
    p = parser()
    assert feed_all(p, OPEN_SHADOW[:2]) == []
    line = 'type=USER_AUTH msg=audit(1700000001.0:457): pid=1 uid=0 msg=\'acct="bob" res=failed\''
    (record,) = p.feed(line, 0.0)
    assert record.fields["serial"] == "456" and record.fields["types"] == "SYSCALL,CWD"
    (pending,) = p.flush(0.0, force=True)
    assert pending.type == "USER_AUTH"


def test_event_without_eoe_emitted_after_group_timeout() -> None:
    p = parser(group_timeout=2.0)
    p.feed('type=USER_LOGIN msg=audit(1700000001.0:9): pid=1 uid=0 msg=\'acct="root" res=success\'', 10.0)
    assert p.flush(11.0) == []
    (record,) = p.flush(12.5)
    assert record.type == "USER_LOGIN"


def test_user_space_record_inner_fields_and_normalisation() -> None:
    p = parser()
    line = ("type=USER_AUTH msg=audit(1700000001.000:457): pid=9 uid=0 auid=4294967295 ses=4294967295 "
            "msg='op=PAM:authentication grantors=? acct=\"root\" exe=\"/usr/sbin/sshd\" hostname=10.1.2.3 "
            "addr=10.1.2.3 terminal=ssh res=failed'")
    p.feed(line, 0.0)
    (record,) = p.flush(0.0, force=True)
    f = record.fields
    assert f["op"] == "PAM:authentication" and f["exe"] == "/usr/sbin/sshd"
    assert (f["action"], f["outcome"], f["user"], f["source_ip"]) == ("login", "failure", "root", "10.1.2.3")
    assert "msg" not in f


def test_hex_encoded_account_and_several_keys() -> None:
    p = parser()
    # acct "bad user" is hex; key holds two keys joined by \x01.
    out = p.feed("type=USER_AUTH msg=audit(1.0:1): pid=1 uid=0 msg='acct=6261642075736572 res=failed'", 0.0)
    out += p.feed('type=SYSCALL msg=audit(2.0:2): syscall=2 success=yes uid=0 key=6B6579310162', 0.0)
    first, second = out + p.flush(0.0, force=True)
    assert first.fields["user"] == "bad user"
    assert second.fields["key"] == "key1" and second.fields["keys"] == "key1,b"


def test_hex_decoding_cannot_forge_control_characters() -> None:
    p = parser()
    # name = "a\nb\x1b[31m" in hex: decoded, but the newline and escape become U+FFFD.
    p.feed("type=PATH msg=audit(1.0:1): item=0 name=610A621B5B33316D", 0.0)
    (record,) = p.flush(0.0, force=True)
    assert record.fields["name"] == "a\ufffdb\ufffd[31m"


def test_numeric_fields_are_not_hex_decoded() -> None:
    p = parser()
    p.feed("type=SYSCALL msg=audit(1.0:1): syscall=59 uid=10 exit=00 a0=4142", 0.0)
    (record,) = p.flush(0.0, force=True)
    assert record.fields["uid"] == "10" and record.fields["a0"] == "4142"


def test_node_prefix_and_unparsed_lines_counted() -> None:
    p = parser()
    p.feed('node=n1 type=SYSCALL msg=audit(1.0:7): syscall=2 uid=0 key="k"', 0.0)
    assert p.feed("garbage that is not audit", 0.0) == []
    assert p.feed("type=SYSCALL msg=audit(bad:serial): x=1", 0.0) == []
    (record,) = p.flush(0.0, force=True)
    assert record.fields["node"] == "n1" and p.unparsed == 2


def test_pending_events_and_records_are_bounded() -> None:
    p = parser(max_records=4)
    for i in range(100):
        p.feed(f'type=PATH msg=audit(1.0:5): item={i} name="/x{i}"', 0.0)
    (record,) = p.flush(0.0, force=True)
    assert record.fields["records_dropped"] == "96"
    # A flood of distinct serials never holds more than one open event (a new serial flushes the rest).
    out = []
    for serial in range(1000):
        out += p.feed(f"type=PATH msg=audit(1.0:{serial}): item=0 name=\"/x\"", 0.0)
    assert len(out) == 999 and len(p.flush(0.0, force=True)) == 1


def test_avc_denied() -> None:
    p = parser()
    p.feed('type=AVC msg=audit(1.0:3): avc:  denied  { read } for  pid=5 comm="httpd" name="shadow" '
           'scontext=system_u:system_r:httpd_t:s0 tclass=file permissive=0', 0.0)
    (record,) = p.flush(0.0, force=True)
    assert record.fields["outcome"] == "deny" and record.fields["comm"] == "httpd"


def test_enriched_format_names_the_user() -> None:
    """auditd's log_format=ENRICHED appends resolved names after a \\x1d separator."""
    p = parser()
    p.feed('type=SYSCALL msg=audit(1.0:1): syscall=2 success=yes auid=1000 uid=0 key="k"'
           '\x1dARCH=x86_64 SYSCALL=open AUID="alice" UID="root"', 0.0)
    (record,) = p.flush(0.0, force=True)
    assert record.fields["user"] == "alice" and record.fields["UID"] == "root"
