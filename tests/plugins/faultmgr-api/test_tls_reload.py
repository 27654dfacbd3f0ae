"""A daemon serving HTTPS (certificate from a test CA), and what a reload does to the API: a new token in the
tokens file works after SIGHUP; a changed listen address moves the server; a removed section stops it."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import trustme
from daemon_lab import stop_process
from loopback import free_port

FAULTMGR = str(Path(sys.executable).with_name("faultmgr"))
TOKEN = "carol-admin-token-0123456789"
NEW = "dave-read-token-0123456789ab"




def write_config(path: Path, state: Path, api: str) -> None:
    path.write_text(f"daemon: {{state_dir: {state}}}\ndetectors: {{ext: {{type: external}}}}\n{api}")


def wait_for(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (requests.ConnectionError, ssl.SSLError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def tls_daemon(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path, str, Path]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    key_file.chmod(0o600)
    ca.cert_pem.write_to_path(str(ca_file))
    tokens = tmp_path / "tokens"
    tokens.write_text(f"carol admin {TOKEN}\n")
    tokens.chmod(0o600)
    port = free_port()
    config = tmp_path / "faultmgr.yaml"
    write_config(config, tmp_path / "state", f"api:\n  listen: 127.0.0.1:{port}\n  tokens_file: {tokens}\n"
                                             f"  tls_cert: {cert_file}\n  tls_key: {key_file}\n  metrics_auth: true\n")
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen([FAULTMGR, "run", "-c", str(config)], stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(url + "/api/v1/openapi.json", verify=str(ca_file), timeout=1).ok, "HTTPS")
        yield proc, config, tokens, url, ca_file
    finally:
        stop_process(proc, 20)


def test_https_and_reloads(tls_daemon: tuple[subprocess.Popen[bytes], Path, Path, str, Path]) -> None:
    proc, config, tokens, url, ca_file = tls_daemon
    whoami = requests.get(url + "/api/v1/whoami", headers={"Authorization": f"Bearer {TOKEN}"},
                          verify=str(ca_file), timeout=5)
    assert whoami.json()["name"] == "carol"
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url + "/api/v1/whoami", timeout=5)  # not trusted without the test CA
    assert requests.get(url + "/metrics", verify=str(ca_file), timeout=5).status_code == 401  # metrics_auth
    scraped = requests.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, verify=str(ca_file),
                           timeout=5)
    assert scraped.status_code == 200 and "faultmgr_events_total" in scraped.text
    with pytest.raises(requests.ConnectionError):
        requests.get(url.replace("https", "http") + "/api/v1/whoami", timeout=5)

    tokens.write_text(f"carol admin {TOKEN}\ndave read {NEW}\n")
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: requests.get(url + "/api/v1/whoami", headers={"Authorization": f"Bearer {NEW}"},
                                  verify=str(ca_file), timeout=1).status_code == 200, "the new token")

    port = free_port()
    write_config(config, config.parent / "state", f"api:\n  listen: 127.0.0.1:{port}\n  tokens_file: {tokens}\n")
    proc.send_signal(signal.SIGHUP)
    moved = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(moved + "/api/v1/whoami", headers={"Authorization": f"Bearer {NEW}"},
                                  timeout=1).status_code == 200, "the server on its new address")
    with pytest.raises((requests.ConnectionError, requests.exceptions.SSLError)):
        requests.get(url + "/api/v1/openapi.json", verify=str(ca_file), timeout=2)

    write_config(config, config.parent / "state", "")
    proc.send_signal(signal.SIGHUP)

    def gone() -> bool:
        try:
            requests.get(moved + "/api/v1/openapi.json", timeout=1)
        except requests.ConnectionError:
            return True
        return False
    wait_for(gone, "the API to stop when its section is removed")
    assert proc.poll() is None


def test_missing_tokens_file_keeps_the_api_off_and_says_why(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "faultmgr.yaml"
    write_config(config, tmp_path / "state", f"api:\n  listen: 127.0.0.1:{port}\n  tokens_file: {tmp_path / 'none'}\n")
    checked = subprocess.run([FAULTMGR, "check", str(config)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr  # left to start-up, as key files are
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen([FAULTMGR, "run", "-c", str(config)], stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        def reported() -> bool:
            history = subprocess.run([FAULTMGR, "history", "-c", str(config), "--kind", "faultmgr.component.failed",
                                      "--json"], capture_output=True, text=True, timeout=60)
            return history.returncode == 0 and "does not exist" in history.stdout and '"api"' in history.stdout
        wait_for(reported, "the failure event", timeout=30)
        assert proc.poll() is None
        assert "api: not started" in log.read_text()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
