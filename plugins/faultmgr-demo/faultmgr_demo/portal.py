"""The dashboards of the demo's daemons, reachable from this host's browser.

Each daemon serves faultmgr's HTTP API and dashboard (plugin faultmgr-api, when installed) on its own node.
In the namespace lab that is another network stack, so a portal listens on this host's loopback and relays
each connection into the node: a thread enters the node's namespace (``setns`` applies to the calling thread
only) and opens the inner connections from there, while the listening socket stays in the host's namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import socket
import threading

CLONE_NEWNET = 0x40000000
#: Where each daemon's API listens inside its node (loopback of the node).
INNER_PORT = 9467


def api_available() -> bool:
    """Is the faultmgr-api plugin installed?"""
    return importlib.util.find_spec("faultmgr_api") is not None


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _relay(client: socket.socket, port: int) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:  # the node is powered off: the browser sees the connection close
        client.close()
        return
    upstream.settimeout(None)
    back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    back.start()
    _pipe(client, upstream)
    back.join()
    client.close()
    upstream.close()


class Portal:
    """``127.0.0.1:<port>`` on this host, relayed to ``127.0.0.1:<inner_port>`` inside namespace ``ns``."""

    def __init__(self, ns: str, inner_port: int = INNER_PORT) -> None:
        self.ns = ns
        self.inner_port = inner_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, name=f"portal-{ns}", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """What a browser on this host opens."""
        return f"http://127.0.0.1:{self.port}/"

    def _serve(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/run/netns/{self.ns}") as target:
            if libc.setns(target.fileno(), CLONE_NEWNET) != 0:
                return
        # From here on this thread, and the relay threads it starts, open sockets inside the node.
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=_relay, args=(client, self.inner_port), daemon=True).start()

    def close(self) -> None:
        """Stop accepting (relays in progress end with their connections)."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
