"""Small programs the demo runs on its nodes: ``python -m faultmgr_demo.programs COMMAND ARGS``.

- ``http NAME HOST PORT``: a real server; answers ``GET`` with its name.
- ``poll URL INTERVAL_MS TIMEOUT_MS OUT``: the client; one line per request in OUT: ``start_time ok who``.
- ``smtp HOST PORT OUT``: the pager gateway (aiosmtpd); one JSON line per mail received.
- ``traps HOST PORT OUT``: the management station; one JSON line per SNMP notification received.
- ``stamp OUT``: reads snmptrapd's output (``-F 'TRAP %b\\t%v\\n'``) on standard input and writes the same JSON
  lines as ``traps``: the management station when net-snmp's snmptrapd is installed.
- ``forge NODE COUNT HOST:PORT...``: heartbeats claiming to be NODE, signed with a key nobody has.
- ``vipproxy PORT HOLDER_FILE PORTS_JSON``: the loopback stand-in of the VIP: forwards each connection to
  the service of the head named in HOLDER_FILE.

Each prints ``ready`` once it serves, and writes its files line by line (the demo reads them while it runs).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def _append(path: str, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


def http(name: str, host: str, port: int) -> None:
    """Answer every GET with ``name``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            body = name.encode() + b"\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
            """Quiet: the client counts requests."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


def ask(host: str, port: int, path: str, timeout: float) -> str | None:
    """One HTTP/1.0 GET: the answering server's name, or ``None`` on any failure (refused, timeout, 5xx)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or head[9:12] != b"200":
        return None
    return body.decode("utf-8", "replace").strip() or "?"


def poll(url: str, interval_ms: float, timeout_ms: float, out: str) -> None:
    """Ask ``url`` every ``interval_ms``; one line per answer."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    print("ready", flush=True)
    with open(out, "a", encoding="utf-8", buffering=1) as log:
        while True:
            started, wall = time.monotonic(), time.time()
            who = ask(host, port, parts.path or "/", timeout_ms / 1000)
            log.write(f"{wall:.4f} {1 if who else 0} {who or '-'}\n")
            pause = interval_ms / 1000 - (time.monotonic() - started)
            if pause > 0:
                time.sleep(pause)


def smtp(host: str, port: int, out: str) -> None:
    """An SMTP server that accepts every mail and records who it is for and its subject."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's
            headers = BytesHeaderParser().parsebytes(envelope.original_content or b"")
            _append(out, {"time": time.time(), "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                          "subject": " ".join(str(headers.get("Subject", "")).split())})
            return "250 OK"

    controller = Controller(Handler(), hostname=host, port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def describe_trap(data: bytes) -> dict[str, Any]:
    """The version, community and varbinds of an SNMP notification (best effort: the raw size otherwise)."""
    try:
        from pyasn1.codec.ber import decoder
        from pysnmp.proto import api

        version = int(api.decodeMessageVersion(data))
        module = api.PROTOCOL_MODULES[version]
        message, _ = decoder.decode(data, asn1Spec=module.Message())
        pdu = module.apiMessage.get_pdu(message)
        varbinds = {str(oid): value.prettyPrint() for oid, value in module.apiPDU.get_varbinds(pdu)}
        return {"version": {0: "v1", 1: "v2c"}.get(version, str(version)),
                "community": module.apiMessage.get_community(message).prettyPrint(),
                "trap_oid": varbinds.get("1.3.6.1.6.3.1.1.4.1.0", ""), "varbinds": varbinds}
    except Exception as exc:  # a station logs what it cannot parse rather than dying on it
        return {"bytes": len(data), "undecoded": f"{type(exc).__name__}: {exc}"}


def traps(host: str, port: int, out: str) -> None:
    """Receive SNMP notifications (v2c traps) on UDP and record each."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    print("ready", flush=True)
    while True:
        data, peer = sock.recvfrom(65535)
        _append(out, {"time": time.time(), "from": peer[0], **describe_trap(data)})


def parse_snmptrapd(line: str) -> dict[str, Any] | None:
    """One line of snmptrapd (``TRAP <transport>\\t<oid> = TYPE: value\\t...``, numeric OIDs) as a record."""
    if not line.startswith("TRAP "):
        return None
    transport, *varbinds = line[5:].rstrip("\n").split("\t")
    values: dict[str, str] = {}
    for varbind in varbinds:
        oid, _, typed = varbind.partition(" = ")
        value = typed.partition(": ")[2] if ": " in typed else typed
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1]
        values[oid.lstrip(".")] = value.lstrip(".")
    sender = transport.partition("[")[2].partition("]")[0] or transport
    return {"version": "v2c", "receiver": "snmptrapd", "trap_oid": values.get("1.3.6.1.6.3.1.1.4.1.0", ""),
            "varbinds": values, "from": sender}


def stamp(out: str) -> None:
    """Turn snmptrapd's lines into JSON records with the time each arrived."""
    for line in sys.stdin:
        if line.startswith("NET-SNMP version"):  # snmptrapd prints it once it listens
            print("ready", flush=True)
        record = parse_snmptrapd(line)
        if record is not None:
            _append(out, {"time": time.time(), **record})


def forge(node: str, count: int, targets: list[str]) -> None:
    """Send ``count`` heartbeats as ``node`` signed with a random key (the receivers must drop them all)."""
    from faultmgr_heartbeat.auth import Key
    from faultmgr_heartbeat.protocol import Packet, encode

    key = Key("1", os.urandom(32))
    addresses = []
    for target in targets:
        host, _, port = target.rpartition(":")
        addresses.append((host, int(port)))
    generation = time.time_ns()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in range(1, count + 1):
            packet = encode(Packet(node=node, generation=generation, seq=seq, sent=time.time()), key)
            for address in addresses:
                sock.sendto(packet, address)
            time.sleep(0.02)
    print(f"sent {count} forged heartbeats as {node} to {', '.join(targets)}", flush=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _vipproxy(port: int, holder_file: Path, ports: dict[str, int]) -> None:
    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            holder = holder_file.read_text().strip()
        except OSError:
            holder = ""
        if holder not in ports:  # nobody holds the VIP: like an address nobody answers for
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", ports[holder])
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(forward, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    """Dispatch ``argv`` (without the program name)."""
    command, args = argv[0], argv[1:]
    if command == "http":
        http(args[0], args[1], int(args[2]))
    elif command == "poll":
        poll(args[0], float(args[1]), float(args[2]), args[3])
    elif command == "smtp":
        smtp(args[0], int(args[1]), args[2])
    elif command == "traps":
        traps(args[0], int(args[1]), args[2])
    elif command == "stamp":
        stamp(args[0])
    elif command == "forge":
        forge(args[0], int(args[1]), args[2:])
    elif command == "vipproxy":
        asyncio.run(_vipproxy(int(args[0]), Path(args[1]), json.loads(args[2])))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
