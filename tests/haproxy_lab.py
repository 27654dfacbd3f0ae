"""A real HAProxy for tests: its config (one frontend, backend ``web``, an admin stats socket) and the process,
started in the foreground and stopped at the end. Used by the pools and the API suites."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from daemon_lab import stop_process


def haproxy_config(sock: Path, port: int, servers: dict[str, int | tuple[int, int]], mode: str = "http",
                   extra: str = "") -> str:
    """``servers``: name -> port (weight 10) or (port, weight)."""
    lines = [
        "global",
        f"  stats socket {sock} mode 600 level admin",
        "defaults",
        f"  mode {mode}",
        "  timeout connect 1s",
        "  timeout client 10s",
        "  timeout server 10s",
        "frontend fe",
        f"  bind 127.0.0.1:{port}",
        "  default_backend web",
        "backend web",
        "  balance roundrobin",
    ]
    for name, where in servers.items():
        server_port, weight = where if isinstance(where, tuple) else (where, 10)
        lines.append(f"  server {name} 127.0.0.1:{server_port} weight {weight}")
    return "\n".join([*lines, extra]) + "\n"


@dataclass
class HAProxy:
    """A real haproxy in the foreground with an admin stats socket."""

    socket: Path
    port: int
    config: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=lambda: Path("/dev/null"))

    @classmethod
    def write(cls, workdir: Path, port: int, servers: dict[str, int | tuple[int, int]], mode: str = "http",
              extra: str = "", name: str = "haproxy") -> HAProxy:
        """Its config written in ``workdir`` (``NAME.cfg``, socket ``NAME.sock``, log ``NAME.log``); not started."""
        sock, config = workdir / f"{name}.sock", workdir / f"{name}.cfg"
        config.write_text(haproxy_config(sock, port, servers, mode, extra))
        return cls(sock, port, config, log=workdir / f"{name}.log")

    def start(self) -> HAProxy:
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)], stdout=self.log.open("wb"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                if self.socket.exists():
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"haproxy did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 5)
