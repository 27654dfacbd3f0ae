"""The ``api:`` section and the tokens file: parsing, private-file checks, ``faultmgr check`` messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from faultmgr_api.settings import ApiSection, split_listen
from faultmgr_api.tokens import TokenError, TokenTable, load_tokens, parse_tokens
from pydantic import ValidationError

FAULTMGR = str(Path(sys.executable).with_name("faultmgr"))
GOOD = "alice admin 0123456789abcdef0123\nbob read fedcba9876543210fedc  # comment\n\n"


def test_tokens_parse_and_scopes() -> None:
    tokens = parse_tokens(GOOD)
    assert [(t.name, t.scope) for t in tokens] == [("alice", "admin"), ("bob", "read")]
    table = TokenTable(tokens)
    found = table.find("fedcba9876543210fedc")
    assert found is not None and found.name == "bob"
    assert found.allows("read") and not found.allows("admin")
    assert table.find("0123456789abcdef0123") is not None and table.find("nope") is None


@pytest.mark.parametrize(("text", "says"), [
    ("alice admin", "expected `name scope token`"),
    ("alice root 0123456789abcdef0123", "scope 'root'"),
    ("alice admin short", "shorter than 16"),
    ("a read 0123456789abcdef0123\na admin 0123456789abcdef0124", "used twice"),
])
def test_bad_token_lines_name_the_line(text: str, says: str) -> None:
    with pytest.raises(TokenError, match="tokens:"):
        parse_tokens(text, "tokens")
    with pytest.raises(TokenError) as err:
        parse_tokens(text, "tokens")
    assert says in str(err.value)


def test_tokens_file_must_be_private(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(GOOD)
    path.chmod(0o644)
    with pytest.raises(TokenError, match="chmod 600"):
        load_tokens(path)
    path.chmod(0o600)
    assert len(load_tokens(path)) == 2


def test_section_defaults_to_loopback_and_checks_values(tmp_path: Path) -> None:
    section = ApiSection(tokens_file=tmp_path / "t")
    assert section.listen == "127.0.0.1:9467" and section.dashboard and section.max_body_bytes == 65536
    assert split_listen("[::1]:80") == ("::1", 80)
    for bad in ("localhost:80", "127.0.0.1", "1.2.3.4:99999"):
        with pytest.raises(ValidationError):
            ApiSection(tokens_file=tmp_path / "t", listen=bad)
    with pytest.raises(ValidationError, match="tls_cert and tls_key go together"):
        ApiSection(tokens_file=tmp_path / "t", tls_cert=tmp_path / "c")
    with pytest.raises(ValidationError, match="tokens_file"):
        ApiSection.model_validate({"listen": "127.0.0.1:1"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        ApiSection.model_validate({"tokens_file": "t", "port": 1})


def check(tmp_path: Path, api: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "faultmgr.yaml"
    config.write_text(f"daemon: {{state_dir: {tmp_path / 'state'}}}\napi:\n{api}")
    return subprocess.run([FAULTMGR, "check", str(config)], capture_output=True, text=True, timeout=60)


def test_faultmgr_check_knows_the_section_and_refuses_open_token_files(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(GOOD)
    tokens.chmod(0o600)
    ok = check(tmp_path, f"  tokens_file: {tokens}\n")
    assert ok.returncode == 0, ok.stderr
    tokens.chmod(0o604)
    refused = check(tmp_path, f"  tokens_file: {tokens}\n")
    assert refused.returncode == 2 and "api: api tokens file" in refused.stderr and "chmod 600" in refused.stderr
    tokens.chmod(0o600)
    tokens.write_text("alice admin short\n")
    malformed = check(tmp_path, f"  tokens_file: {tokens}\n")
    assert malformed.returncode == 2 and "shorter than 16" in malformed.stderr
    typo = check(tmp_path, f"  tokens_file: {tokens}\n  listn: 127.0.0.1:1\n")
    assert typo.returncode == 2 and "listn" in typo.stderr
