"""net-snmp's snmptrapd, started by the test in the foreground on a loopback port, with FAULTMGR-MIB loaded."""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultmgr_snmp import mib_dir
from prereq import need, need_program


def standard_mib_dir() -> str:
    """Text of SNMPv2-SMI, -TC, -CONF, SNMP-FRAMEWORK-MIB: Debian's net-snmp leaves them out (non-free), but
    erlang-snmp ships them (Debian main)."""
    found = sorted(glob.glob("/usr/lib/erlang/lib/snmp-*/mibs/SNMPv2-SMI.mib"))
    need(bool(found), "needs the standard SNMPv2 MIB modules (Debian package erlang-snmp)")
    return str(Path(found[-1]).parent)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Trapd:
    """A running snmptrapd: its port and what it logged."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, needle: str, timeout: float = 5.0) -> str:
        """Wait until ``needle`` is in the log; return the log (fails the test after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if needle in text:
                return text
            time.sleep(0.05)
        raise AssertionError(f"snmptrapd did not log {needle!r}; log:\n{self.text()}")


@pytest.fixture
def unused_udp_port() -> int:
    """A loopback UDP port nothing listens on."""
    return free_udp_port()


@pytest.fixture
def standard_mibs() -> str:
    """The folder with the standard SNMPv2 modules' text."""
    return standard_mib_dir()


@pytest.fixture
def mib_dirs(standard_mibs: str) -> str:
    """The -M argument: the standard modules and FAULTMGR-MIB."""
    return f"{standard_mibs}:{mib_dir()}"


@pytest.fixture
def snmptrapd(tmp_path: Path, mib_dirs: str) -> Iterator[Any]:
    """Factory: ``snmptrapd(conf_lines)`` starts snmptrapd with that configuration; stopped at teardown."""
    program = need_program("snmptrapd")
    started: list[subprocess.Popen[bytes]] = []

    def start(conf_lines: list[str]) -> Trapd:
        folder = tmp_path / f"trapd{len(started)}"
        folder.mkdir()
        conf = folder / "snmptrapd.conf"
        conf.write_text("\n".join(conf_lines) + "\n")
        log = folder / "trapd.log"
        port = free_udp_port()
        # Keep net-snmp's persistent state (engine boots, users) in the test's folder, not /var/lib/snmp.
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(folder), "SNMPCONFPATH": str(folder)}
        process = subprocess.Popen(
            [program, "-f", "-C", "-c", str(conf), "-Lf", str(log), "-M", mib_dirs, "-m", "SNMPv2-MIB:FAULTMGR-MIB",
             f"udp:127.0.0.1:{port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        started.append(process)
        trapd = Trapd(process, port, log)
        trapd.wait_for("NET-SNMP version")
        return trapd

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
