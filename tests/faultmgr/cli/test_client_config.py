"""Where the command line finds a daemon's API: ``--api`` over the environment over the client config file,
``local`` forcing the socket, tokens from the environment, a token file or the file, private files only."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultmgr.cli.client_config import ClientConfigError, api_target

ENV = ("FAULTMGR_API_URL", "FAULTMGR_API_TOKEN", "FAULTMGR_API_TOKEN_FILE", "FAULTMGR_CLIENT_CONFIG")


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A client config file in use, the environment otherwise clean; HOME moved so no real file is read."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "client.yaml"
    path.write_text("url: https://file:9467/\ntoken: file-token\ncafile: /etc/ca.pem\n")
    path.chmod(0o600)
    monkeypatch.setenv("FAULTMGR_CLIENT_CONFIG", str(path))
    return path


def test_precedence(client: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = api_target(None)
    assert target is not None and (target.url, target.token, str(target.cafile)) == \
        ("https://file:9467", "file-token", "/etc/ca.pem") and target.origin == str(client)
    monkeypatch.setenv("FAULTMGR_API_URL", "http://env:1")
    monkeypatch.setenv("FAULTMGR_API_TOKEN", "env-token")
    target = api_target(None)
    assert target is not None and (target.url, target.token, target.origin) == ("http://env:1", "env-token",
                                                                                "$FAULTMGR_API_URL")
    target = api_target("http://flag:2")
    assert target is not None and (target.url, target.origin) == ("http://flag:2", "--api")
    assert api_target("local") is None
    monkeypatch.setenv("FAULTMGR_API_URL", "local")
    assert api_target(None) is None


def test_no_address_means_the_socket(client: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAULTMGR_CLIENT_CONFIG")
    assert api_target(None) is None  # no file at ~/.config/faultmgr/client.yaml (HOME is empty)
    client.write_text("token: only-a-token\n")
    monkeypatch.setenv("FAULTMGR_CLIENT_CONFIG", str(client))
    assert api_target(None) is None


def test_token_files_must_be_private(client: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("from-a-file\n")
    token.chmod(0o600)
    monkeypatch.setenv("FAULTMGR_API_TOKEN_FILE", str(token))
    target = api_target(None)
    assert target is not None and target.token == "from-a-file"
    token.chmod(0o644)
    with pytest.raises(ClientConfigError, match="API token file"):
        api_target(None)
    monkeypatch.delenv("FAULTMGR_API_TOKEN_FILE")
    client.chmod(0o644)
    with pytest.raises(ClientConfigError, match="client config file"):
        api_target(None)


def test_unknown_keys_and_missing_files_are_named(client: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client.write_text("url: http://x\nurl_typo: 1\n")
    with pytest.raises(ClientConfigError, match=r"client.yaml: url_typo: unknown key"):
        api_target(None)
    monkeypatch.setenv("FAULTMGR_CLIENT_CONFIG", str(client) + ".missing")
    with pytest.raises(ClientConfigError, match="does not exist"):
        api_target(None)
