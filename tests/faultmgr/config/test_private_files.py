"""Secret files (heartbeat keys, SMTP passwords, API tokens): which modes the daemon accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultmgr.config.types import check_private_file


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640, 0o440])
def test_owner_only_or_group_read_is_accepted(tmp_path: Path, mode: int) -> None:
    secret = tmp_path / "key"
    secret.write_text("k")
    secret.chmod(mode)
    check_private_file(secret, "key file")


@pytest.mark.parametrize(("mode", "who"), [(0o604, "others"), (0o602, "others"), (0o644, "others"),
                                           (0o660, "its group"), (0o620, "its group")])
def test_others_reading_or_the_group_writing_is_refused(tmp_path: Path, mode: int, who: str) -> None:
    secret = tmp_path / "key"
    secret.write_text("k")
    secret.chmod(mode)
    with pytest.raises(ValueError) as refused:
        check_private_file(secret, "key file")
    assert str(refused.value) == (f"key file {secret} is readable or writable by {who} (mode {mode:04o}); "
                                  f"run: chmod 600 {secret}")


def test_a_directory_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a regular file"):
        check_private_file(tmp_path, "key file")
    with pytest.raises(ValueError, match="does not exist"):
        check_private_file(tmp_path / "nothing", "key file")
