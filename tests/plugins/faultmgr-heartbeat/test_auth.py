"""Key files: format, rotation order, and refusing files that others can read."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from faultmgr_heartbeat.auth import KeyFileError, load_key_file, parse_key_file


def test_format_comments_hex_and_base64(tmp_path: Path) -> None:
    secret = bytes(range(32))
    text = f"# rotation in progress\n\nnew {secret.hex()}\nold base64:{base64.b64encode(secret[::-1]).decode()}\n"
    ring = parse_key_file(text)
    assert ring.key_ids == ["new", "old"]
    assert ring.send_key.key_id == "new"  # the first line signs
    assert ring.get("old") is not None and ring.get("old").secret == secret[::-1]  # type: ignore[union-attr]
    assert ring.get("nope") is None


@pytest.mark.parametrize(("text", "message"), [
    ("", "no keys"),
    ("k1\n", "expected `key-id secret`"),
    ("k1 zz\n", "neither hex nor base64"),
    ("k1 0011\n", "too short"),
    ("bad/id " + "00" * 16 + "\n", "key id"),
    ("k1 " + "00" * 16 + "\nk1 " + "11" * 16 + "\n", "twice"),
])
def test_malformed_key_files_name_the_line(text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        parse_key_file(text, "keys")


def test_error_names_file_and_line() -> None:
    with pytest.raises(KeyFileError, match=r"^/etc/k:3: "):
        parse_key_file("# c\nk1 " + "00" * 16 + "\nk2 nothex\n", "/etc/k")


@pytest.mark.parametrize("mode", [0o644, 0o606, 0o602])
def test_key_file_readable_or_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keys"
    path.write_text("k1 " + "00" * 32 + "\n")
    path.chmod(mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key_file(path)
    path.chmod(0o600)
    assert load_key_file(path).key_ids == ["k1"]


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        load_key_file(tmp_path / "absent")
