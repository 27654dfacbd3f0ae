"""dsi parser: the documented DSI_ACCESS line format."""

from __future__ import annotations

from faultmgr_audit.dsi import DsiParser, DsiSettings
from faultmgr_audit.record import Record


def parse(line: str, **options: object) -> Record | None:
    p = DsiParser("dsi", DsiSettings(**options))  # type: ignore[arg-type]
    records = p.feed(line, 0.0)
    return records[0] if records else None


def test_access_record() -> None:
    r = parse('type=DSI_ACCESS time=1700000000.25 node=n1 subject=httpd subject_uid=48 subject_sid=0x2a '
              'object="/etc/my \\"secret\\" file" permission=read verdict=deny reason="no rule"')
    assert r is not None and r.type == "DSI_ACCESS" and r.time == 1700000000.25
    f = r.fields
    assert f["object"] == '/etc/my "secret" file'
    assert (f["subject"], f["permission"], f["verdict"], f["outcome"]) == ("httpd", "read", "deny", "deny")
    assert f["privileged"] == "no" and f["uid"] == "48" and f["reason"] == "no rule"


def test_privileged_by_uid_or_name() -> None:
    r = parse("type=DSI_ACCESS subject=init subject_uid=0 object=/x permission=write verdict=allow")
    assert r is not None and r.fields["privileged"] == "yes"
    r = parse("type=DSI_ACCESS subject=named subject_uid=53 object=/x permission=write verdict=deny",
              privileged_subjects=["named"])
    assert r is not None and r.fields["privileged"] == "yes"


def test_incomplete_or_foreign_records_refused() -> None:
    assert parse("type=DSI_ACCESS subject=a object=/x verdict=deny") is None  # no permission
    assert parse("type=DSI_ACCESS subject=a object=/x permission=r verdict=maybe") is None
    assert parse("type=SYSCALL msg=audit(1.0:1): x=1") is None


def test_first_value_of_a_key_wins() -> None:
    """A later duplicate (say inside an injected object name) cannot override the verdict."""
    r = parse("type=DSI_ACCESS subject=a subject_uid=0 object=/x permission=r verdict=deny verdict=allow")
    assert r is not None and r.fields["verdict"] == "deny"


def test_other_dsi_types_pass_through() -> None:
    r = parse("type=DSI_AUTH node=n2 subject=sshd result=fail")
    assert r is not None and r.type == "DSI_AUTH" and r.fields["result"] == "fail"
